"""The design-time sample size: how many units each variant needs before the primary metric
can show the minimum detectable effect — twice, because the experiment is read twice.

- **Fixed horizon** (`sample_size_per_variant`, stored on the experiment): the classical size of
  a two-sided pooled two-proportion z-test read once at the end (statsmodels'
  `samplesize_proportions_2indep_onetail`), with p1 the baseline rate and p2 = p1 + MDE (an
  absolute effect: 0.05 -> 0.06 is an MDE of 0.01).
- **Sequential** (`sequential_per_variant`): the size at which the always-valid confidence
  sequence the decision rule uses (apps.experiments.stats) has the same power; larger (about
  1.9 times at alpha 0.05, power 0.8), the price of being allowed to look every day.

One implementation: both come from apps.experiments.stats.design.sample_size_two_proportions.
With several treatments alpha is split over them (Bonferroni, as the analysis does) and each
comparison is sized for its share of the control-plus-treatment pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from apps.core.exceptions import ValidationFailed
from apps.experiments.stats import StatsInputError, sample_size_two_proportions


@dataclass(frozen=True)
class PowerPlan:
    """Units per variant (the largest pair's) for the fixed-horizon test and the sequential
    rule, and the planned exposures in total the analysis sizes its confidence sequence for."""

    fixed_horizon_per_variant: int
    sequential_per_variant: int
    planned_exposures: int
    comparison_alpha: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_size_per_variant(
    *, baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Units per variant for a two-sided fixed-horizon test of `baseline` against
    `baseline + mde` with equal allocation (the stored `sample_size_per_variant`)."""
    return plan(baseline=baseline, mde=mde, alpha=alpha, power=power).fixed_horizon_per_variant


def plan(
    *,
    baseline: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    weights: Mapping[str, float] | None = None,
    control: str | None = None,
) -> PowerPlan:
    """Both sizes for a design; `weights` (by variant, any positive numbers) and `control`
    default to a control and one treatment of equal weight."""
    _check(baseline=baseline, mde=mde, alpha=alpha, power=power)
    if not weights or control is None:
        weights, control = {"control": 1.0, "treatment": 1.0}, "control"
    total_weight = math.fsum(weights.values())
    treatments = [name for name in weights if name != control]
    comparison_alpha = alpha / len(treatments)
    fixed = sequential = planned = 0
    for name in treatments:
        pair = (weights[name] + weights[control]) / total_weight
        sized = sample_size_two_proportions(
            baseline_rate=baseline,
            minimum_detectable_effect=mde,
            alpha=comparison_alpha,
            power=power,
            treatment_share=weights[name] / (weights[name] + weights[control]),
        )
        fixed = max(fixed, sized.treatment, sized.control)
        sequential = max(sequential, sized.sequential_treatment, sized.sequential_control)
        planned = max(planned, math.ceil(sized.sequential_exact_total / pair - 1e-9))
    return PowerPlan(fixed, sequential, planned, comparison_alpha)


def experiment_plan(experiment: Any) -> PowerPlan:
    """The plan of a stored experiment (its variants' weights, its control)."""
    variants = list(experiment.variants.all())
    weights = {v.key: float(v.weight) for v in variants}
    control = next((v.key for v in variants if v.is_control), None)
    try:
        return plan(
            baseline=experiment.baseline_rate,
            mde=experiment.minimum_detectable_effect,
            alpha=experiment.alpha,
            power=experiment.power,
            weights=weights if len(weights) >= 2 else None,
            control=control,
        )
    except StatsInputError as exc:  # stored designs were checked; kept for old rows
        raise ValidationFailed(str(exc)) from None


def _check(*, baseline: float, mde: float, alpha: float, power: float) -> None:
    problems: dict[str, list[str]] = {}
    if not 0 < baseline < 1:
        problems["baseline_rate"] = ["Between 0 and 1 (exclusive)."]
    elif mde == 0 or not 0 < baseline + mde < 1:
        problems["minimum_detectable_effect"] = [
            "Not zero, and baseline + effect stays between 0 and 1."
        ]
    if not 0 < alpha < 0.5:
        problems["alpha"] = ["Between 0 and 0.5."]
    if not 0.5 <= power < 1:
        problems["power"] = ["At least 0.5 and below 1."]
    if problems:
        raise ValidationFailed(
            "The power calculation's inputs are out of range: " + ", ".join(problems),
            fields=problems,
        )
