"""The design-time sample size agrees with statsmodels (NormalIndPower solved on Cohen's h from
proportion_effectsize) and refuses inputs outside the formula's domain."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from apps.core.exceptions import ValidationFailed
from apps.experiments.power import sample_size_per_variant

CASES = [
    (0.05, 0.01, 0.05, 0.8),
    (0.05, -0.01, 0.05, 0.8),
    (0.10, 0.02, 0.05, 0.9),
    (0.20, 0.05, 0.01, 0.8),
    (0.50, 0.10, 0.10, 0.8),
    (0.02, 0.005, 0.05, 0.95),
    (0.90, 0.05, 0.05, 0.8),
]


@pytest.mark.parametrize(("baseline", "mde", "alpha", "power"), CASES)
def test_sample_size_matches_statsmodels(baseline, mde, alpha, power):
    effect = proportion_effectsize(baseline + mde, baseline)
    reference = NormalIndPower().solve_power(
        effect_size=abs(effect), alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )

    ours = sample_size_per_variant(baseline=baseline, mde=mde, alpha=alpha, power=power)

    # statsmodels also counts the far tail's (negligible) power, so it may need a hair fewer
    assert math.ceil(reference) <= ours <= math.ceil(reference) + 1


def test_a_smaller_effect_needs_more_units():
    assert sample_size_per_variant(baseline=0.05, mde=0.005) > sample_size_per_variant(
        baseline=0.05, mde=0.01
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"baseline": 0, "mde": 0.01}, "baseline_rate"),
        ({"baseline": 1, "mde": -0.01}, "baseline_rate"),
        ({"baseline": 0.05, "mde": 0}, "minimum_detectable_effect"),
        ({"baseline": 0.95, "mde": 0.1}, "minimum_detectable_effect"),
        ({"baseline": 0.05, "mde": 0.01, "alpha": 0}, "alpha"),
        ({"baseline": 0.05, "mde": 0.01, "power": 1}, "power"),
        ({"baseline": 0.05, "mde": 0.01, "power": 0.2}, "power"),
    ],
)
def test_inputs_outside_the_formula_are_refused(kwargs, field):
    with pytest.raises(ValidationFailed) as caught:
        sample_size_per_variant(**kwargs)

    assert field in caught.value.fields
