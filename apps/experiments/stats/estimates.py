"""Per-variant estimates, treatment-against-control comparisons, the sequence, the SRM check."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from apps.experiments.stats.inputs import (
    StatsInputError,
    as_count,
    as_open_unit,
    as_real,
    check_weights,
)
from apps.experiments.stats.special import (
    chi_square_sf,
    normal_quantile,
    normal_two_sided_p,
    student_t_quantile,
    student_t_two_sided_p,
)

SRM_ALPHA = 0.001


# --- per-variant observations ----------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """Conversions out of exposures (units exposed), for one variant."""

    exposures: int
    conversions: int

    def __post_init__(self) -> None:
        exposures = as_count(self.exposures, "exposures")
        conversions = as_count(self.conversions, "conversions")
        if exposures == 0:
            raise StatsInputError("exposures must be at least 1: no rate without exposures")
        if conversions > exposures:
            raise StatsInputError(
                f"conversions ({conversions}) cannot exceed exposures ({exposures})"
            )
        object.__setattr__(self, "exposures", exposures)
        object.__setattr__(self, "conversions", conversions)

    @property
    def size(self) -> int:
        return self.exposures

    @property
    def estimate(self) -> float:
        return self.conversions / self.exposures

    @property
    def variance_of_estimate(self) -> float:
        rate = self.estimate
        return rate * (1.0 - rate) / self.exposures


@dataclass(frozen=True)
class Mean:
    """A per-unit mean: count, mean and sample variance (n - 1; PostgreSQL's var_samp)."""

    count: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        count = as_count(self.count, "count")
        if count < 2:
            raise StatsInputError(f"a mean metric needs at least 2 units per variant, got {count}")
        variance = as_real(self.variance, "variance")
        if variance < 0:
            raise StatsInputError(f"variance must not be negative, got {variance}")
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "mean", as_real(self.mean, "mean"))
        object.__setattr__(self, "variance", variance)

    @property
    def size(self) -> int:
        return self.count

    @property
    def estimate(self) -> float:
        return self.mean

    @property
    def variance_of_estimate(self) -> float:
        return self.variance / self.count


Observation = Proportion | Mean


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def above(self, value: float) -> bool:
        return self.low > value

    def below(self, value: float) -> bool:
        return self.high < value


def wilson_interval(observed: Proportion, *, alpha: float = 0.05) -> Interval:
    """Wilson score interval for one rate (good at small counts and rates near 0 or 1)."""
    alpha = as_open_unit(alpha, "alpha")
    z = normal_quantile(1.0 - alpha / 2.0)
    n, rate = observed.exposures, observed.estimate
    shrink = 1.0 + z * z / n
    centre = (rate + z * z / (2.0 * n)) / shrink
    half = z / shrink * math.sqrt(rate * (1.0 - rate) / n + z * z / (4.0 * n * n))
    return Interval(centre - half, centre + half)


def mean_interval(observed: Mean, *, alpha: float = 0.05) -> Interval:
    alpha = as_open_unit(alpha, "alpha")
    half = student_t_quantile(1.0 - alpha / 2.0, observed.count - 1) * math.sqrt(
        observed.variance_of_estimate
    )
    return Interval(observed.mean - half, observed.mean + half)


def variant_interval(observed: Observation, *, alpha: float = 0.05) -> Interval:
    if isinstance(observed, Proportion):
        return wilson_interval(observed, alpha=alpha)
    return mean_interval(observed, alpha=alpha)


# --- two-variant comparisons -----------------------------------------------------------------


@dataclass(frozen=True)
class FixedHorizon:
    """The classic test, valid when looked at once, at the planned sample size."""

    difference: float
    standard_error: float
    interval: Interval
    p_value: float
    degrees_of_freedom: float | None


def _degenerate_p(difference: float) -> float:
    return 1.0 if difference == 0 else 0.0


def fixed_horizon_proportions(
    treatment: Proportion, control: Proportion, *, alpha: float = 0.05
) -> FixedHorizon:
    """Wald interval (unpooled) for the difference; pooled two-proportion z-test for p."""
    alpha = as_open_unit(alpha, "alpha")
    difference = treatment.estimate - control.estimate
    se = math.sqrt(treatment.variance_of_estimate + control.variance_of_estimate)
    half = normal_quantile(1.0 - alpha / 2.0) * se
    pooled = (treatment.conversions + control.conversions) / (
        treatment.exposures + control.exposures
    )
    se_null = math.sqrt(
        pooled * (1.0 - pooled) * (1.0 / treatment.exposures + 1.0 / control.exposures)
    )
    p_value = normal_two_sided_p(difference / se_null) if se_null > 0 else _degenerate_p(difference)
    return FixedHorizon(
        difference, se, Interval(difference - half, difference + half), p_value, None
    )


def welch_degrees_of_freedom(treatment: Mean, control: Mean) -> float:
    vt, vc = treatment.variance_of_estimate, control.variance_of_estimate
    if vt + vc == 0:
        return float(treatment.count + control.count - 2)
    return (vt + vc) ** 2 / (vt**2 / (treatment.count - 1) + vc**2 / (control.count - 1))


def fixed_horizon_means(treatment: Mean, control: Mean, *, alpha: float = 0.05) -> FixedHorizon:
    """Welch's t: unequal variances, Welch-Satterthwaite degrees of freedom."""
    alpha = as_open_unit(alpha, "alpha")
    difference = treatment.mean - control.mean
    se = math.sqrt(treatment.variance_of_estimate + control.variance_of_estimate)
    df = welch_degrees_of_freedom(treatment, control)
    half = student_t_quantile(1.0 - alpha / 2.0, df) * se
    p_value = student_t_two_sided_p(difference / se, df) if se > 0 else _degenerate_p(difference)
    return FixedHorizon(difference, se, Interval(difference - half, difference + half), p_value, df)


def fixed_horizon(
    treatment: Observation, control: Observation, *, alpha: float = 0.05
) -> FixedHorizon:
    if isinstance(treatment, Proportion) and isinstance(control, Proportion):
        return fixed_horizon_proportions(treatment, control, alpha=alpha)
    if isinstance(treatment, Mean) and isinstance(control, Mean):
        return fixed_horizon_means(treatment, control, alpha=alpha)
    raise StatsInputError("treatment and control must be the same kind of metric")


@dataclass(frozen=True)
class RelativeLift:
    """(treatment / control) - 1 with a delta-method interval on log(treatment / control)."""

    estimate: float | None
    interval: Interval | None


def relative_lift(
    treatment: Observation, control: Observation, *, alpha: float = 0.05
) -> RelativeLift:
    """Undefined (None) when the control estimate is not positive; no interval at a zero."""
    alpha = as_open_unit(alpha, "alpha")
    if control.estimate <= 0:
        return RelativeLift(None, None)
    estimate = treatment.estimate / control.estimate - 1.0
    if treatment.estimate <= 0:
        return RelativeLift(estimate, None)
    log_ratio = math.log(treatment.estimate / control.estimate)
    se = math.sqrt(
        treatment.variance_of_estimate / treatment.estimate**2
        + control.variance_of_estimate / control.estimate**2
    )
    half = normal_quantile(1.0 - alpha / 2.0) * se
    return RelativeLift(
        estimate, Interval(math.exp(log_ratio - half) - 1.0, math.exp(log_ratio + half) - 1.0)
    )


def mixing_parameter(*, alpha: float) -> float:
    """rho^2 * t* of the normal mixture: -2 log(alpha) + log(1 - 2 log(alpha)).

    With rho^2 = this / t*, the confidence sequence is (nearly) tightest when t reaches the
    planned sample size t* (Howard et al. 2021; Waudby-Smith et al. 2024): tuned at design
    time from the plan, never from the data, so that looking does not move it.
    """
    log_term = -2.0 * math.log(alpha)
    return log_term + math.log1p(log_term)


@dataclass(frozen=True)
class Sequential:
    """An always-valid confidence sequence and its mSPRT p-value for one look."""

    interval: Interval
    p_value: float
    sample_size: int
    planned_sample_size: int


def confidence_sequence(
    *,
    estimate: float,
    standard_error: float,
    sample_size: int,
    planned_sample_size: int,
    alpha: float = 0.05,
) -> Sequential:
    """Normal-mixture boundary: P(the effect is ever outside the sequence) <= alpha (asymptotic).

    With r = t * rho^2 (t units so far), the half-width is
    se * sqrt((1 + 1/r) * log((1 + r) / alpha^2)); the p-value is the mSPRT's 1 / Lambda with
    Lambda = (1 + r)^(-1/2) * exp(z^2 r / (2 (1 + r))): p <= alpha exactly when 0 is outside.
    """
    alpha = as_open_unit(alpha, "alpha")
    sample_size = as_count(sample_size, "sample_size")
    planned = as_count(planned_sample_size, "planned_sample_size")
    if sample_size == 0 or planned == 0:
        raise StatsInputError("sample_size and planned_sample_size must be at least 1")
    r = sample_size * mixing_parameter(alpha=alpha) / planned
    half = standard_error * math.sqrt((1.0 + 1.0 / r) * math.log((1.0 + r) / alpha**2))
    if standard_error > 0:
        z = estimate / standard_error
        log_p = 0.5 * math.log1p(r) - z * z * r / (2.0 * (1.0 + r))
        p_value = math.exp(min(0.0, log_p))
    else:
        p_value = _degenerate_p(estimate)
    return Sequential(Interval(estimate - half, estimate + half), p_value, sample_size, planned)


# --- sample ratio mismatch -------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRatioCheck:
    observed: dict[str, int]
    expected: dict[str, float]
    chi_square: float
    degrees_of_freedom: int
    p_value: float
    threshold: float

    @property
    def failed(self) -> bool:
        return self.p_value < self.threshold


def sample_ratio_check(
    observed: Mapping[str, int], weights: Mapping[str, float], *, threshold: float = SRM_ALPHA
) -> SampleRatioCheck:
    """Pearson's chi-square of exposures against the configured weights; fails below threshold.

    A variant with no exposures at all is allowed here (it is the loudest mismatch there is).
    """
    checked_weights = check_weights(weights)
    threshold = as_open_unit(threshold, "threshold")
    if set(observed) != set(checked_weights):
        raise StatsInputError(
            f"exposures name {sorted(observed)} but weights name {sorted(checked_weights)}"
        )
    counts = {name: as_count(value, f"exposures of {name!r}") for name, value in observed.items()}
    total = sum(counts.values())
    if total == 0:
        raise StatsInputError("no exposures yet: the sample ratio cannot be checked")
    expected = {name: total * weight for name, weight in checked_weights.items()}
    chi_square = math.fsum((counts[n] - expected[n]) ** 2 / expected[n] for n in counts)
    df = len(counts) - 1
    return SampleRatioCheck(
        counts, expected, chi_square, df, chi_square_sf(chi_square, df), threshold
    )
