"""Design time: sample size, power and minimum detectable effect for two proportions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.experiments.stats.estimates import mixing_parameter
from apps.experiments.stats.inputs import StatsInputError, as_count, as_open_unit, as_real
from apps.experiments.stats.special import normal_cdf, normal_quantile

# --- power and sample size -------------------------------------------------------------------


def _two_proportion_sds(
    baseline_rate: float, treatment_rate: float, treatment_share: float
) -> tuple[float, float]:
    """Per-unit standard deviations of the difference under the null (pooled) and alternative."""
    control_share = 1.0 - treatment_share
    pooled = treatment_share * treatment_rate + control_share * baseline_rate
    null = math.sqrt(pooled * (1 - pooled) * (1 / treatment_share + 1 / control_share))
    alternative = math.sqrt(
        treatment_rate * (1 - treatment_rate) / treatment_share
        + baseline_rate * (1 - baseline_rate) / control_share
    )
    return null, alternative


@dataclass(frozen=True)
class SampleSizePlan:
    baseline_rate: float
    treatment_rate: float
    absolute_effect: float
    alpha: float
    power: float
    treatment_share: float
    exact_total: float
    total: int
    treatment: int
    control: int
    sequential_exact_total: float
    sequential_total: int
    sequential_treatment: int
    sequential_control: int


def _treatment_rate(baseline: float, effect: float, relative: bool) -> float:
    rate = baseline * (1.0 + effect) if relative else baseline + effect
    if effect == 0 or not 0.0 < rate < 1.0:
        raise StatsInputError(
            f"the minimum detectable effect must be non-zero and keep the treatment rate in "
            f"(0, 1); it gives {rate}"
        )
    return rate


def sample_size_two_proportions(
    *,
    baseline_rate: float,
    minimum_detectable_effect: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> SampleSizePlan:
    """Units needed for a two-sided pooled z-test to detect the effect with the given power.

    n_total = ((z_{1-alpha/2} sd_null + z_power sd_alt) / effect)^2 with per-unit sds that
    include the allocation; the far tail is ignored (as statsmodels' ..._onetail does). The
    sequential size replaces z_{1-alpha/2} sd_null by the sequence's multiplier times sd_alt:
    pass it to `analyze` as planned_exposures. With several treatments, pass alpha / their
    number (the analysis splits alpha the same way).
    """
    baseline = as_open_unit(baseline_rate, "baseline_rate")
    alpha = as_open_unit(alpha, "alpha")
    power = as_open_unit(power, "power")
    share = as_open_unit(treatment_share, "treatment_share")
    if power <= alpha / 2:
        raise StatsInputError(f"power ({power}) must exceed alpha / 2 ({alpha / 2})")
    treatment = _treatment_rate(baseline, as_real(minimum_detectable_effect, "effect"), relative)
    effect = treatment - baseline
    sd_null, sd_alt = _two_proportion_sds(baseline, treatment, share)
    z_power = normal_quantile(power)
    exact = ((normal_quantile(1 - alpha / 2) * sd_null + z_power * sd_alt) / effect) ** 2
    sequential = ((sequence_multiplier(alpha=alpha) + z_power) * sd_alt / effect) ** 2
    return SampleSizePlan(
        baseline,
        treatment,
        effect,
        alpha,
        power,
        share,
        exact,
        *_arms(exact, share),
        sequential,
        *_arms(sequential, share),
    )


def _arms(exact_total: float, share: float) -> tuple[int, int, int]:
    total = math.ceil(exact_total - 1e-9)
    treatment = math.ceil(total * share - 1e-9)
    control = math.ceil(total * (1 - share) - 1e-9)
    return treatment + control, treatment, control


def sequence_multiplier(*, alpha: float) -> float:
    """Half-width of the confidence sequence in standard errors when t reaches the plan.

    About 3.04 at alpha 0.05 (the fixed-horizon interval's is 1.96). The sequential plan asks
    for the size at which the sequence, read once at the end, has the requested power: a
    conservative size, since every earlier look is an extra chance to stop.
    """
    mixing = mixing_parameter(alpha=alpha)
    return math.sqrt((1.0 + 1.0 / mixing) * math.log((1.0 + mixing) / alpha**2))


def power_two_proportions(
    *,
    baseline_rate: float,
    treatment_rate: float,
    treatment_exposures: int,
    control_exposures: int,
    alpha: float = 0.05,
) -> float:
    """Power of the two-sided pooled z-test (both tails counted)."""
    baseline = as_open_unit(baseline_rate, "baseline_rate")
    treatment = as_open_unit(treatment_rate, "treatment_rate")
    alpha = as_open_unit(alpha, "alpha")
    n_t = as_count(treatment_exposures, "treatment_exposures")
    n_c = as_count(control_exposures, "control_exposures")
    if n_t == 0 or n_c == 0:
        raise StatsInputError("both arms need at least one exposure")
    total = n_t + n_c
    sd_null, sd_alt = _two_proportion_sds(baseline, treatment, n_t / total)
    critical = normal_quantile(1 - alpha / 2) * sd_null / sd_alt
    shift = (treatment - baseline) * math.sqrt(total) / sd_alt
    return normal_cdf(shift - critical) + normal_cdf(-shift - critical)


def minimum_detectable_effect(
    *,
    baseline_rate: float,
    total_exposures: int,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> float:
    """The smallest absolute increase the plan detects with the given power (bisection)."""
    baseline = as_open_unit(baseline_rate, "baseline_rate")
    total = as_count(total_exposures, "total_exposures")
    if total < 2:
        raise StatsInputError("total_exposures must be at least 2")
    low, high = 0.0, 1.0 - baseline
    for _ in range(200):
        middle = (low + high) / 2
        if middle <= 0 or middle >= 1.0 - baseline:
            break
        needed = sample_size_two_proportions(
            baseline_rate=baseline,
            minimum_detectable_effect=middle,
            alpha=alpha,
            power=power,
            treatment_share=treatment_share,
        ).exact_total
        low, high = (middle, high) if needed > total else (low, middle)
        if high - low < 1e-12:
            break
    return high
