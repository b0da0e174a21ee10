"""apps.experiments.stats against SciPy and statsmodels on fixed data.

Tolerances (relative unless said): closed forms 1e-10 (they are the same formula, so only
rounding differs); the incomplete gamma (chi-square survival) 1e-10; Student's t tail 1e-8
(Welch degrees of freedom up to 1e7, where lgamma's cancellation costs digits) and its
quantile 1e-9; past 1e7 degrees of freedom, where t is taken as the normal, 1e-4 and 1e-6;
the confidence sequence's closed form against numerical integration of the
mixture 1e-7 (quad's own accuracy). SciPy and statsmodels are dev-only: never imported by apps/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special
from scipy import stats as scipy_stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from apps.experiments import stats

EXACT = 1e-10

# (conversions, exposures) for treatment then control: ordinary, small, skewed, a zero, a tie
PROPORTION_CASES = [
    (312, 5000, 270, 5000),
    (30, 1000, 20, 1000),
    (7, 40, 3, 38),
    (1210, 20_000, 2950, 50_000),
    (0, 800, 5, 790),
    (44, 900, 44, 900),
]


@pytest.mark.parametrize("a", [0.5, 1.0, 1.5, 2.0, 4.5, 10.0, 50.0, 500.0, 5000.0])
@pytest.mark.parametrize("x", [1e-6, 0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 600.0, 6000.0])
def test_regularized_gamma_q_equals_scipy(a: float, x: float) -> None:
    reference = special.gammaincc(a, x)
    assert stats.regularized_gamma_q(a, x) == pytest.approx(reference, rel=EXACT, abs=1e-300)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 30, 100])
def test_chi_square_survival_equals_scipy(df: int) -> None:
    for statistic in [0.0, 0.001, 0.5, 1.0, 3.84, 10.83, 16.27, 40.0, 150.0, 700.0]:
        reference = scipy_stats.chi2.sf(statistic, df)
        assert stats.chi_square_sf(statistic, df) == pytest.approx(reference, rel=EXACT)


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ({"a": 5000, "b": 5400}, {"a": 0.5, "b": 0.5}),
        ({"a": 5000, "b": 5050}, {"a": 0.5, "b": 0.5}),
        ({"a": 1900, "b": 8100}, {"a": 0.2, "b": 0.8}),
        ({"a": 310, "b": 330, "c": 420}, {"a": 0.3, "b": 0.3, "c": 0.4}),
        ({"a": 0, "b": 120}, {"a": 0.5, "b": 0.5}),
    ],
)
def test_sample_ratio_check_equals_scipy_chisquare(
    observed: dict[str, int], weights: dict[str, float]
) -> None:
    names = list(observed)
    total = sum(observed.values())
    reference = scipy_stats.chisquare(
        [observed[n] for n in names], [total * weights[n] for n in names]
    )
    result = stats.sample_ratio_check(observed, weights)
    assert result.chi_square == pytest.approx(reference.statistic, rel=EXACT)
    assert result.p_value == pytest.approx(reference.pvalue, rel=EXACT, abs=1e-300)
    assert result.degrees_of_freedom == len(names) - 1


@pytest.mark.parametrize("df", [1, 2, 3.5, 10, 29.7, 100, 1e3, 1e5, 1e7])
def test_student_t_tail_and_quantile_equal_scipy(df: float) -> None:
    for t in [0.0, 0.01, 0.5, 1.0, 1.96, 3.0, 6.0, 20.0]:
        reference = 2 * scipy_stats.t.sf(t, df)
        assert stats.student_t_two_sided_p(t, df) == pytest.approx(reference, rel=1e-8)
    for probability in [0.9, 0.975, 0.995, 0.9995, 0.025, 1e-6]:
        reference = scipy_stats.t.ppf(probability, df)
        assert stats.student_t_quantile(probability, df) == pytest.approx(reference, rel=1e-9)


def test_student_t_past_ten_million_degrees_of_freedom_is_the_normal() -> None:
    for t in [1.96, 6.0]:
        reference = 2 * scipy_stats.t.sf(t, 1e7 + 1)
        assert stats.student_t_two_sided_p(t, 1e7 + 1) == pytest.approx(reference, rel=1e-4)
    reference = scipy_stats.t.ppf(0.975, 1e7 + 1)
    assert stats.student_t_quantile(0.975, 1e7 + 1) == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize(("conversions", "exposures"), [(0, 50), (3, 40), (270, 5000), (40, 40)])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_wilson_interval_equals_statsmodels(conversions: int, exposures: int, alpha: float) -> None:
    low, high = sm_proportion.proportion_confint(conversions, exposures, alpha, method="wilson")
    interval = stats.wilson_interval(stats.Proportion(exposures, conversions), alpha=alpha)
    assert interval.low == pytest.approx(low, rel=EXACT, abs=1e-15)
    assert interval.high == pytest.approx(high, rel=EXACT, abs=1e-15)


@pytest.mark.parametrize(("c_t", "n_t", "c_c", "n_c"), PROPORTION_CASES)
def test_fixed_horizon_proportions_equal_statsmodels(
    c_t: int, n_t: int, c_c: int, n_c: int
) -> None:
    result = stats.fixed_horizon_proportions(stats.Proportion(n_t, c_t), stats.Proportion(n_c, c_c))
    low, high = sm_proportion.confint_proportions_2indep(
        c_t, n_t, c_c, n_c, method="wald", compare="diff", alpha=0.05
    )
    _, p_value = sm_proportion.proportions_ztest([c_t, c_c], [n_t, n_c])
    assert result.difference == pytest.approx(c_t / n_t - c_c / n_c, rel=EXACT)
    assert result.interval.low == pytest.approx(low, rel=EXACT)
    assert result.interval.high == pytest.approx(high, rel=EXACT)
    assert result.p_value == pytest.approx(p_value, rel=EXACT)


@pytest.mark.parametrize(("c_t", "n_t", "c_c", "n_c"), [c for c in PROPORTION_CASES if c[0]])
def test_relative_lift_is_statsmodels_log_ratio_delta_method(
    c_t: int, n_t: int, c_c: int, n_c: int
) -> None:
    low, high = sm_proportion.confint_proportions_2indep(
        c_t, n_t, c_c, n_c, method="log", compare="ratio", alpha=0.05
    )
    lift = stats.relative_lift(stats.Proportion(n_t, c_t), stats.Proportion(n_c, c_c))
    assert lift.estimate == pytest.approx((c_t / n_t) / (c_c / n_c) - 1, rel=EXACT)
    assert lift.interval is not None
    assert lift.interval.low == pytest.approx(low - 1, rel=EXACT)
    assert lift.interval.high == pytest.approx(high - 1, rel=EXACT)


def test_relative_lift_has_no_interval_at_a_zero_and_no_value_without_control_conversions() -> None:
    at_zero = stats.relative_lift(stats.Proportion(800, 0), stats.Proportion(790, 5))
    assert at_zero.estimate == -1.0
    assert at_zero.interval is None
    no_control = stats.relative_lift(stats.Proportion(800, 5), stats.Proportion(790, 0))
    assert no_control == stats.RelativeLift(None, None)


def _mean_samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 3.0, size=40 + seed), rng.gamma(1.5, 4.5, size=25 + 3 * seed)


def _as_mean(sample: np.ndarray) -> stats.Mean:
    return stats.Mean(len(sample), float(sample.mean()), float(sample.var(ddof=1)))


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_welch_equals_scipy_and_statsmodels(seed: int) -> None:
    treatment, control = _mean_samples(seed)
    result = stats.fixed_horizon_means(_as_mean(treatment), _as_mean(control), alpha=0.05)
    scipy_result = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    interval = scipy_result.confidence_interval(0.95)
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(
        alpha=0.05, usevar="unequal"
    )
    assert result.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)
    assert result.degrees_of_freedom == pytest.approx(scipy_result.df, rel=EXACT)
    assert result.interval.low == pytest.approx(interval.low, rel=1e-9)
    assert result.interval.high == pytest.approx(interval.high, rel=1e-9)
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 3])
def test_mean_interval_and_mean_relative_lift_match_references(seed: int) -> None:
    treatment, control = _mean_samples(seed)
    low, high = DescrStatsW(treatment).tconfint_mean(alpha=0.05)
    interval = stats.mean_interval(_as_mean(treatment))
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-9)
    # the same delta method on log(ratio), written out with NumPy
    se = math.sqrt(
        treatment.var(ddof=1) / len(treatment) / treatment.mean() ** 2
        + control.var(ddof=1) / len(control) / control.mean() ** 2
    )
    log_ratio = math.log(treatment.mean() / control.mean())
    lift = stats.relative_lift(_as_mean(treatment), _as_mean(control))
    assert lift.interval is not None
    z = scipy_stats.norm.ppf(0.975)
    assert lift.interval.low == pytest.approx(math.exp(log_ratio - z * se) - 1, rel=EXACT)
    assert lift.interval.high == pytest.approx(math.exp(log_ratio + z * se) - 1, rel=EXACT)


def _mixture_likelihood_ratio(estimate: float, variance: float, mixing_variance: float) -> float:
    """Lambda = integral of N(estimate; theta, V) / N(estimate; 0, V) dN(theta; 0, tau^2)."""

    def integrand(theta: float) -> float:
        log_ratio = (estimate * theta - theta * theta / 2) / variance
        return math.exp(log_ratio) * scipy_stats.norm.pdf(theta, scale=math.sqrt(mixing_variance))

    tau = math.sqrt(mixing_variance)
    value, _ = integrate.quad(integrand, -12 * tau, 12 * tau, epsabs=0, epsrel=1e-12, limit=400)
    return value


@pytest.mark.parametrize(("sample_size", "planned"), [(500, 20_000), (20_000, 20_000), (9e4, 2e4)])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_confidence_sequence_is_the_normal_mixture_msprt(
    sample_size: float, planned: float, alpha: float
) -> None:
    # given the closed form's boundary and mSPRT p-value
    se = 0.004
    sequence = stats.confidence_sequence(
        estimate=0.0,
        standard_error=se,
        sample_size=int(sample_size),
        planned_sample_size=int(planned),
        alpha=alpha,
    )
    boundary = sequence.interval.high
    mixing_variance = se**2 * sample_size * stats.mixing_parameter(alpha=alpha) / planned
    # then the mixture likelihood ratio integrated numerically is 1 / alpha on the boundary
    assert _mixture_likelihood_ratio(boundary, se**2, mixing_variance) == pytest.approx(
        1 / alpha, rel=1e-7
    )
    # and the p-value anywhere is 1 / Lambda
    estimate = 0.7 * boundary
    inside = stats.confidence_sequence(
        estimate=estimate,
        standard_error=se,
        sample_size=int(sample_size),
        planned_sample_size=int(planned),
        alpha=alpha,
    )
    reference = 1 / _mixture_likelihood_ratio(estimate, se**2, mixing_variance)
    assert inside.p_value == pytest.approx(min(1.0, reference), rel=1e-7)
    assert inside.p_value > alpha


@pytest.mark.parametrize("alpha", [0.1, 0.05, 0.01, 0.001])
def test_mixing_parameter_makes_the_sequence_nearly_tightest_at_the_planned_size(
    alpha: float,
) -> None:
    # width at t = t* as a function of r = rho^2 t*; the closed form approximates its minimiser
    def width(r: float) -> float:
        return math.sqrt((1 + 1 / r) * math.log((1 + r) / alpha**2))

    best = optimize.minimize_scalar(width, bounds=(0.01, 1000), method="bounded")
    chosen = width(stats.mixing_parameter(alpha=alpha))
    assert chosen == pytest.approx(stats.sequence_multiplier(alpha=alpha), rel=EXACT)
    assert chosen <= best.fun * 1.001


@pytest.mark.parametrize(
    ("baseline", "effect", "share", "alpha", "power"),
    [
        (0.10, 0.02, 0.5, 0.05, 0.8),
        (0.10, 0.02, 0.3, 0.05, 0.8),
        (0.03, 0.005, 0.5, 0.01, 0.9),
        (0.40, -0.05, 0.5, 0.05, 0.8),
    ],
)
def test_sample_size_equals_statsmodels(
    baseline: float, effect: float, share: float, alpha: float, power: float
) -> None:
    plan = stats.sample_size_two_proportions(
        baseline_rate=baseline,
        minimum_detectable_effect=effect,
        alpha=alpha,
        power=power,
        treatment_share=share,
    )
    treatment_n = sm_proportion.samplesize_proportions_2indep_onetail(
        effect, baseline, power, ratio=(1 - share) / share, alpha=alpha
    )
    assert plan.exact_total == pytest.approx(treatment_n / share, rel=EXACT)
    assert plan.treatment >= treatment_n
    assert plan.control >= treatment_n * (1 - share) / share
    assert plan.sequential_total > plan.total


def test_relative_effect_is_read_against_the_baseline() -> None:
    relative = stats.sample_size_two_proportions(
        baseline_rate=0.10, minimum_detectable_effect=0.2, relative=True
    )
    absolute = stats.sample_size_two_proportions(baseline_rate=0.10, minimum_detectable_effect=0.02)
    assert relative.total == absolute.total == 7682


@pytest.mark.parametrize(("n_t", "n_c"), [(3000, 7000), (3841, 3841), (200, 150)])
def test_power_equals_statsmodels(n_t: int, n_c: int) -> None:
    reference = sm_proportion.power_proportions_2indep(
        0.02, 0.10, n_t, ratio=n_c / n_t, alpha=0.05
    ).power
    power = stats.power_two_proportions(
        baseline_rate=0.10, treatment_rate=0.12, treatment_exposures=n_t, control_exposures=n_c
    )
    assert power == pytest.approx(reference, rel=EXACT)


def test_minimum_detectable_effect_inverts_the_statsmodels_sample_size() -> None:
    effect = stats.minimum_detectable_effect(
        baseline_rate=0.05, total_exposures=20_000, treatment_share=0.4
    )
    treatment_n = sm_proportion.samplesize_proportions_2indep_onetail(
        effect, 0.05, 0.8, ratio=0.6 / 0.4, alpha=0.05
    )
    assert treatment_n / 0.4 == pytest.approx(20_000, rel=1e-6)
