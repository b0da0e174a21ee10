"""Special functions without SciPy: normal tails, incomplete gamma and beta, Student's t."""

from __future__ import annotations

import math
from statistics import NormalDist

from apps.experiments.stats.inputs import StatsInputError

_NORMAL = NormalDist()
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 10_000
# Past ten million degrees of freedom Student's t is taken as the normal (relative error of the
# two-sided p 6e-7 at |t| = 1.96, 3.4e-5 at |t| = 6), where the incomplete beta starts to lose
# digits; Welch's degrees of freedom are below the number of units, so this is rarely reached.
T_AS_NORMAL_ABOVE = 1e7


class SpecialFunctionError(ArithmeticError):
    """A series or continued fraction did not converge (never seen on valid input)."""


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|), through erfc so that tiny p-values keep their precision."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


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
