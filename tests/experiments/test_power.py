"""The design-time sample sizes: the fixed-horizon size agrees with statsmodels (the pooled
two-proportion z-test, samplesize_proportions_2indep_onetail); the sequential size is where the
analysis' own confidence sequence, read at the plan, has the requested power (checked with
SciPy's normal); inputs outside the formula's domain are refused."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from apps.core.exceptions import ValidationFailed
from apps.experiments import stats
from apps.experiments.power import plan, sample_size_per_variant

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
def test_fixed_horizon_size_matches_statsmodels(baseline, mde, alpha, power):
    reference = samplesize_proportions_2indep_onetail(
        diff=mde, prop2=baseline, power=power, ratio=1, alpha=alpha, alternative="two-sided"
    )

    ours = sample_size_per_variant(baseline=baseline, mde=mde, alpha=alpha, power=power)

    assert ours == math.ceil(reference - 1e-9)


@pytest.mark.parametrize(("baseline", "mde", "alpha", "power"), CASES)
def test_the_sequential_size_gives_the_sequence_its_power_at_the_plan(baseline, mde, alpha, power):
    sized = plan(baseline=baseline, mde=mde, alpha=alpha, power=power)
    treatment = baseline + mde
    sd = math.sqrt(baseline * (1 - baseline) + treatment * (1 - treatment))
    n = sized.sequential_per_variant
    se = sd / math.sqrt(n)

    sequence = stats.confidence_sequence(
        estimate=abs(mde),
        standard_error=se,
        sample_size=2 * n,
        planned_sample_size=sized.planned_exposures,
        alpha=alpha,
    )
    half = (sequence.interval.high - sequence.interval.low) / 2
    reached = scipy_stats.norm.cdf(abs(mde) / se - half / se)

    assert power <= reached <= power + 0.01
    assert sized.sequential_per_variant > sized.fixed_horizon_per_variant
    assert sized.planned_exposures in (2 * n - 1, 2 * n)


def test_several_treatments_split_alpha_and_size_each_pair():
    sized = plan(baseline=0.05, mde=0.01, weights={"control": 1, "a": 1, "b": 1}, control="control")
    reference = samplesize_proportions_2indep_onetail(
        diff=0.01, prop2=0.05, power=0.8, ratio=1, alpha=0.025, alternative="two-sided"
    )

    assert sized.comparison_alpha == 0.025
    assert sized.fixed_horizon_per_variant == math.ceil(reference)
    assert sized.planned_exposures == pytest.approx(1.5 * 2 * sized.sequential_per_variant, abs=3)


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
