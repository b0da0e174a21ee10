"""The statistics of an experiment, as pure functions (no database, no SciPy at run time).

Why pure: the numbers must equal reference computations (SciPy/statsmodels in the tests), the
A/A and A/B simulations call these very functions thousands of times, and the promotion gate
reads one `Decision` without knowing how it was reached. docs/experiments.md ("The statistics")
explains every choice; the short version:

- a conversion metric per variant: rate with a Wilson interval; a mean metric: Welch;
- treatment minus control with a fixed-horizon interval and test (Wald interval, pooled z-test
  for proportions; Welch t for means), relative lift by the delta method on the log of the ratio;
- the sequential rule: an always-valid confidence sequence from Robbins' normal mixture (the
  mSPRT of Johari et al.), used with the estimated standard error as the asymptotic confidence
  sequence of Waudby-Smith et al.; its mixing parameter is tuned to be tightest at the planned
  sample size;
- a sample-ratio-mismatch chi-square against the configured weights (p < 0.001 blocks);
- guardrails that block a win when their fixed-horizon interval shows harm beyond a tolerance;
- the power calculation for a two-proportion test (pooled variance under the null).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Any

_NORMAL = NormalDist()
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 10_000
SRM_ALPHA = 0.001
WEIGHT_SUM_TOLERANCE = 1e-6
# Past ten million degrees of freedom Student's t is taken as the normal (relative error of the
# two-sided p 6e-7 at |t| = 1.96, 3.4e-5 at |t| = 6), where the incomplete beta starts to lose
# digits; Welch's degrees of freedom are below the number of units, so this is rarely reached.
T_AS_NORMAL_ABOVE = 1e7


class StatsInputError(ValueError):
    """Input the statistics cannot be computed from; the message says which value and why."""


class SpecialFunctionError(ArithmeticError):
    """A series or continued fraction did not converge (never seen on valid input)."""


# --- special functions -----------------------------------------------------------------------


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|), through erfc so that tiny p-values keep their precision."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def normal_quantile(probability: float) -> float:
    return _NORMAL.inv_cdf(probability)


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    raise SpecialFunctionError("incomplete gamma series did not converge")


def _gamma_q_continued_fraction(a: float, x: float) -> float:
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h
    raise SpecialFunctionError("incomplete gamma continued fraction did not converge")


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a): series below a + 1, Lentz's continued fraction above."""
    if a <= 0 or x < 0:
        raise StatsInputError(f"regularized_gamma_q needs a > 0 and x >= 0, got {a}, {x}")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _gamma_p_series(a, x)
    return _gamma_q_continued_fraction(a, x)


def chi_square_sf(statistic: float, degrees_of_freedom: int) -> float:
    return regularized_gamma_q(degrees_of_freedom / 2.0, statistic / 2.0)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (_TINY if abs(d) < _TINY else d)
    h = d
    for m in range(1, _MAX_ITERATIONS):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (_TINY if abs(d) < _TINY else d)
            c = 1.0 + aa / c
            c = _TINY if abs(c) < _TINY else c
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise SpecialFunctionError("incomplete beta continued fraction did not converge")


def _log_gamma_difference(large: float, small: float) -> float:
    """lgamma(large + small) - lgamma(large) without cancellation when large is big (Stirling)."""
    if large < 100.0:
        return math.lgamma(large + small) - math.lgamma(large)

    def correction(x: float) -> float:
        inverse_square = 1.0 / (x * x)
        return (1.0 / 12.0 - inverse_square * (1.0 / 360.0 - inverse_square / 1260.0)) / x

    return (
        (large - 0.5) * math.log1p(small / large)
        + small * math.log(large + small)
        - small
        + correction(large + small)
        - correction(large)
    )


def _log_beta_function(a: float, b: float) -> float:
    large, small = max(a, b), min(a, b)
    return math.lgamma(small) - _log_gamma_difference(large, small)


def regularized_beta(a: float, b: float, x: float, complement: float | None = None) -> float:
    """I_x(a, b), by the continued fraction on whichever side converges fast.

    `complement` is 1 - x when the caller knows it more precisely than 1 - x rounds to.
    """
    y = 1.0 - x if complement is None else complement
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    log_front = a * log_x + b * log_y - _log_beta_function(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def student_t_two_sided_p(t: float, degrees_of_freedom: float) -> float:
    """P(|T| >= |t|) for Student's t with real degrees of freedom (Welch's are not integers)."""
    if degrees_of_freedom > T_AS_NORMAL_ABOVE:
        return normal_two_sided_p(t)
    denominator = degrees_of_freedom + t * t
    return regularized_beta(
        degrees_of_freedom / 2.0, 0.5, degrees_of_freedom / denominator, t * t / denominator
    )


def student_t_quantile(probability: float, degrees_of_freedom: float) -> float:
    """The t with P(T <= t) = probability, by bisection on the two-sided tail (to ~1e-13)."""
    if not 0.0 < probability < 1.0:
        raise StatsInputError(f"probability must be in (0, 1), got {probability}")
    if probability == 0.5:
        return 0.0
    if degrees_of_freedom > T_AS_NORMAL_ABOVE:
        return normal_quantile(probability)
    tail = 2.0 * min(probability, 1.0 - probability)
    low, high = 0.0, max(1.0, abs(normal_quantile(probability)))
    while student_t_two_sided_p(high, degrees_of_freedom) > tail:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if student_t_two_sided_p(middle, degrees_of_freedom) > tail:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * high:
            break
    return math.copysign((low + high) / 2.0, probability - 0.5)


# --- input checks ----------------------------------------------------------------------------


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise StatsInputError(f"{what} must be an integer count, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise StatsInputError(f"{what} must be an integer count, got {value!r}") from None
    if number < 0:
        raise StatsInputError(f"{what} must not be negative, got {number}")
    return number


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool | str | bytes):
        raise StatsInputError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StatsInputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise StatsInputError(f"{what} must be finite, got {number}")
    return number


def _open_unit(value: Any, what: str) -> float:
    number = _real(value, what)
    if not 0.0 < number < 1.0:
        raise StatsInputError(f"{what} must be strictly between 0 and 1, got {number}")
    return number


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Allocation weights: at least two variants, each > 0, summing to 1 (within 1e-6)."""
    if len(weights) < 2:
        raise StatsInputError(f"an experiment needs at least two variants, got {len(weights)}")
    checked = {name: _real(weight, f"weight of {name!r}") for name, weight in weights.items()}
    for name, weight in checked.items():
        if weight <= 0:
            raise StatsInputError(f"weight of {name!r} must be positive, got {weight}")
    total = math.fsum(checked.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise StatsInputError(f"weights must sum to 1, they sum to {total}")
    return checked


# --- per-variant observations ----------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """Conversions out of exposures (units exposed), for one variant."""

    exposures: int
    conversions: int

    def __post_init__(self) -> None:
        exposures = _count(self.exposures, "exposures")
        conversions = _count(self.conversions, "conversions")
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
        count = _count(self.count, "count")
        if count < 2:
            raise StatsInputError(f"a mean metric needs at least 2 units per variant, got {count}")
        variance = _real(self.variance, "variance")
        if variance < 0:
            raise StatsInputError(f"variance must not be negative, got {variance}")
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "mean", _real(self.mean, "mean"))
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
    alpha = _open_unit(alpha, "alpha")
    z = normal_quantile(1.0 - alpha / 2.0)
    n, rate = observed.exposures, observed.estimate
    shrink = 1.0 + z * z / n
    centre = (rate + z * z / (2.0 * n)) / shrink
    half = z / shrink * math.sqrt(rate * (1.0 - rate) / n + z * z / (4.0 * n * n))
    return Interval(centre - half, centre + half)


def mean_interval(observed: Mean, *, alpha: float = 0.05) -> Interval:
    alpha = _open_unit(alpha, "alpha")
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
    alpha = _open_unit(alpha, "alpha")
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
    alpha = _open_unit(alpha, "alpha")
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
    alpha = _open_unit(alpha, "alpha")
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
    alpha = _open_unit(alpha, "alpha")
    sample_size = _count(sample_size, "sample_size")
    planned = _count(planned_sample_size, "planned_sample_size")
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
    threshold = _open_unit(threshold, "threshold")
    if set(observed) != set(checked_weights):
        raise StatsInputError(
            f"exposures name {sorted(observed)} but weights name {sorted(checked_weights)}"
        )
    counts = {name: _count(value, f"exposures of {name!r}") for name, value in observed.items()}
    total = sum(counts.values())
    if total == 0:
        raise StatsInputError("no exposures yet: the sample ratio cannot be checked")
    expected = {name: total * weight for name, weight in checked_weights.items()}
    chi_square = math.fsum((counts[n] - expected[n]) ** 2 / expected[n] for n in counts)
    df = len(counts) - 1
    return SampleRatioCheck(
        counts, expected, chi_square, df, chi_square_sf(chi_square, df), threshold
    )


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
    baseline = _open_unit(baseline_rate, "baseline_rate")
    alpha = _open_unit(alpha, "alpha")
    power = _open_unit(power, "power")
    share = _open_unit(treatment_share, "treatment_share")
    if power <= alpha / 2:
        raise StatsInputError(f"power ({power}) must exceed alpha / 2 ({alpha / 2})")
    treatment = _treatment_rate(baseline, _real(minimum_detectable_effect, "effect"), relative)
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
    baseline = _open_unit(baseline_rate, "baseline_rate")
    treatment = _open_unit(treatment_rate, "treatment_rate")
    alpha = _open_unit(alpha, "alpha")
    n_t = _count(treatment_exposures, "treatment_exposures")
    n_c = _count(control_exposures, "control_exposures")
    if n_t == 0 or n_c == 0:
        raise StatsInputError("both arms need at least one exposure")
    total = n_t + n_c
    sd_null, sd_alt = _two_proportion_sds(baseline, treatment, n_t / total)
    critical = normal_quantile(1 - alpha / 2) * sd_null / sd_alt
    shift = (treatment - baseline) * math.sqrt(total) / sd_alt
    return _NORMAL.cdf(shift - critical) + _NORMAL.cdf(-shift - critical)


def minimum_detectable_effect(
    *,
    baseline_rate: float,
    total_exposures: int,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
) -> float:
    """The smallest absolute increase the plan detects with the given power (bisection)."""
    baseline = _open_unit(baseline_rate, "baseline_rate")
    total = _count(total_exposures, "total_exposures")
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


# --- the analysis and its decision -----------------------------------------------------------


class Outcome(StrEnum):
    WINNER = "winner"
    LOSER = "loser"
    INCONCLUSIVE = "inconclusive"
    BLOCKED_SRM = "blocked_srm"
    BLOCKED_GUARDRAIL = "blocked_guardrail"


@dataclass(frozen=True)
class Metric:
    """One metric's data by variant; tolerance (>= 0, metric units) only matters for guardrails."""

    name: str
    data: Mapping[str, Observation]
    higher_is_better: bool = True
    tolerance: float = 0.0


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    size: int
    estimate: float
    interval: Interval


@dataclass(frozen=True)
class Comparison:
    metric: str
    variant: str
    control: str
    alpha: float
    fixed: FixedHorizon
    relative: RelativeLift
    sequential: Sequential
    degenerate: bool


@dataclass(frozen=True)
class GuardrailCheck:
    metric: str
    variant: str
    comparison: Comparison
    tolerance: float
    harmed: bool


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    variant: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    control: str
    alpha: float
    sample_ratio: SampleRatioCheck
    variants: dict[str, dict[str, VariantSummary]]
    comparisons: tuple[Comparison, ...]
    guardrails: tuple[GuardrailCheck, ...]
    decision: Decision

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (enums are strings) for storage and the API."""
        return asdict(self)


def compare(
    metric: str,
    treatment_name: str,
    control_name: str,
    data: Mapping[str, Observation],
    *,
    alpha: float,
    planned_sample_size: int,
) -> Comparison:
    treatment, control = data[treatment_name], data[control_name]
    fixed = fixed_horizon(treatment, control, alpha=alpha)
    sequential = confidence_sequence(
        estimate=fixed.difference,
        standard_error=fixed.standard_error,
        sample_size=treatment.size + control.size,
        planned_sample_size=planned_sample_size,
        alpha=alpha,
    )
    return Comparison(
        metric,
        treatment_name,
        control_name,
        alpha,
        fixed,
        relative_lift(treatment, control, alpha=alpha),
        sequential,
        degenerate=fixed.standard_error == 0,
    )


def _check_metric(metric: Metric, variants: set[str]) -> None:
    if set(metric.data) != variants:
        raise StatsInputError(
            f"metric {metric.name!r} has data for {sorted(metric.data)}, "
            f"the experiment has {sorted(variants)}"
        )
    kinds = {type(observation) for observation in metric.data.values()}
    if len(kinds) != 1 or not kinds <= {Proportion, Mean}:
        raise StatsInputError(f"metric {metric.name!r} must be all Proportion or all Mean")
    if _real(metric.tolerance, "tolerance") < 0:
        raise StatsInputError(f"tolerance of {metric.name!r} must not be negative")


def _guardrail_harmed(comparison: Comparison, metric: Metric) -> bool:
    interval = comparison.fixed.interval
    if metric.higher_is_better:
        return interval.below(-metric.tolerance)
    return interval.above(metric.tolerance)


def _guardrail_check(
    metric: Metric, treatment: str, control: str, *, alpha: float, planned: int
) -> GuardrailCheck:
    comparison = compare(
        metric.name, treatment, control, metric.data, alpha=alpha, planned_sample_size=planned
    )
    harmed = _guardrail_harmed(comparison, metric)
    return GuardrailCheck(metric.name, treatment, comparison, float(metric.tolerance), harmed)


def _verdict(comparison: Comparison, higher_is_better: bool) -> int:
    """+1 better than control, -1 worse, 0 undecided, by the confidence sequence."""
    if comparison.degenerate:
        return 0
    sign = 1 if higher_is_better else -1
    if comparison.sequential.interval.above(0.0):
        return sign
    if comparison.sequential.interval.below(0.0):
        return -sign
    return 0


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _decide(
    comparisons: Sequence[Comparison],
    guardrails: Sequence[GuardrailCheck],
    higher_is_better: bool,
) -> Decision:
    verdicts = {c.variant: _verdict(c, higher_is_better) for c in comparisons}
    reasons: list[str] = []
    winners = sorted(
        (c for c in comparisons if verdicts[c.variant] > 0),
        key=lambda c: c.fixed.difference,
        reverse=higher_is_better,
    )
    for winner in winners:
        harmed = [g for g in guardrails if g.variant == winner.variant and g.harmed]
        if not harmed:
            interval = winner.sequential.interval
            reasons.append(
                f"{winner.variant} beats {winner.control} on {winner.metric}: always-valid "
                f"interval [{_fmt(interval.low)}, {_fmt(interval.high)}] excludes 0"
            )
            return Decision(Outcome.WINNER, winner.variant, tuple(reasons))
        for check in harmed:
            interval = check.comparison.fixed.interval
            reasons.append(
                f"{winner.variant} would win but harms guardrail {check.metric}: difference "
                f"interval [{_fmt(interval.low)}, {_fmt(interval.high)}] is beyond the "
                f"tolerance {_fmt(check.tolerance)}"
            )
    if winners:
        return Decision(Outcome.BLOCKED_GUARDRAIL, winners[0].variant, tuple(reasons))
    degenerate = [c.variant for c in comparisons if c.degenerate]
    if degenerate:
        reasons.append(f"no variation yet in {', '.join(degenerate)} and control")
    if comparisons and all(verdict < 0 for verdict in verdicts.values()):
        worst = comparisons[0].variant if len(comparisons) == 1 else None
        reasons.append("every treatment is worse than control (always-valid interval)")
        return Decision(Outcome.LOSER, worst, tuple(reasons))
    reasons.append("no always-valid interval excludes 0 in favour of a treatment yet")
    return Decision(Outcome.INCONCLUSIVE, None, tuple(reasons))


def analyze(
    *,
    weights: Mapping[str, float],
    control: str,
    exposures: Mapping[str, int],
    primary: Metric,
    planned_exposures: int,
    guardrails: Sequence[Metric] = (),
    alpha: float = 0.05,
    guardrail_alpha: float | None = None,
    srm_threshold: float = SRM_ALPHA,
    min_exposures_per_variant: int = 0,
) -> Analysis:
    """Everything the results page and the promotion gate need, from counts and aggregates.

    Order of the rules: a failing sample-ratio check blocks; below the minimum sample nothing
    is decided; a treatment whose always-valid interval (alpha split over the treatments,
    Bonferroni) lies on the good side wins unless a guardrail is harmed for it.
    """
    checked = check_weights(weights)
    if control not in checked:
        raise StatsInputError(f"control {control!r} is not one of the variants {sorted(checked)}")
    alpha = _open_unit(alpha, "alpha")
    guard_alpha = alpha if guardrail_alpha is None else _open_unit(guardrail_alpha, "alpha")
    planned = _count(planned_exposures, "planned_exposures")
    minimum = _count(min_exposures_per_variant, "min_exposures_per_variant")
    if planned == 0:
        raise StatsInputError("planned_exposures must be at least 1")
    srm = sample_ratio_check(exposures, checked, threshold=srm_threshold)
    names = set(checked)
    for metric in (primary, *guardrails):
        _check_metric(metric, names)
    treatments = [name for name in checked if name != control]
    per_comparison_alpha = alpha / len(treatments)

    def planned_for(name: str) -> int:
        return max(1, round(planned * (checked[name] + checked[control])))

    comparisons = tuple(
        compare(
            primary.name,
            name,
            control,
            primary.data,
            alpha=per_comparison_alpha,
            planned_sample_size=planned_for(name),
        )
        for name in treatments
    )
    guardrail_checks = tuple(
        _guardrail_check(metric, name, control, alpha=guard_alpha, planned=planned_for(name))
        for metric in guardrails
        for name in treatments
    )
    summaries = {
        metric.name: {
            name: VariantSummary(
                name,
                observation.size,
                observation.estimate,
                variant_interval(observation, alpha=alpha),
            )
            for name, observation in metric.data.items()
        }
        for metric in (primary, *guardrails)
    }
    if srm.failed:
        decision = Decision(
            Outcome.BLOCKED_SRM,
            None,
            (
                f"sample ratio mismatch: chi-square {_fmt(srm.chi_square)}, "
                f"p = {srm.p_value:.3g} < {srm.threshold}; observed {srm.observed}, "
                f"expected { ({k: round(v, 1) for k, v in srm.expected.items()}) }",
            ),
        )
    elif min(srm.observed.values()) < minimum:
        decision = Decision(
            Outcome.INCONCLUSIVE,
            None,
            (f"minimum sample not reached: {minimum} exposures per variant required",),
        )
    else:
        decision = _decide(comparisons, guardrail_checks, primary.higher_is_better)
    return Analysis(control, alpha, srm, summaries, comparisons, guardrail_checks, decision)
