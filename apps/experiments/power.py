"""The design-time sample size: how many units each variant needs before the primary metric
can show the minimum detectable effect.

The two-proportion normal approximation on the arcsine scale (Cohen's h), the formula
statsmodels' NormalIndPower solves with proportion_effectsize:

    h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))
    n per variant = 2 ((z(1 - alpha/2) + z(power)) / h)^2

(2 asin(sqrt(rate)) has variance 1/n, a difference of two 2/n), with p1 the baseline rate,
p2 = p1 + MDE (the effect is absolute: 0.05 -> 0.06 is an MDE of 0.01), a two-sided test at
`alpha` and equal allocation. The result is rounded up.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from apps.core.exceptions import ValidationFailed


def sample_size_per_variant(
    *, baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Units per variant for a two-sided test of `baseline` against `baseline + mde`."""
    _check(baseline=baseline, mde=mde, alpha=alpha, power=power)
    treated = baseline + mde
    h = 2 * math.asin(math.sqrt(treated)) - 2 * math.asin(math.sqrt(baseline))
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return math.ceil(2 * (z / h) ** 2)


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
