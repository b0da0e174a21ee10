"""Monte-Carlo checks of the decision rule, through `analyze` itself (seeded, ~10 s single core).

A/A: no true difference, 20 looks per experiment; the sequential rule must declare a winner or
a loser in at most alpha of the experiments (within 3 Monte-Carlo standard errors), while the
fixed-horizon test read at every look is shown to inflate. A/B: the true effect is the planned
minimum detectable effect; the fixed-horizon test at the planned size has the planned power
(which checks the sample-size formula), and the sequential rule's power is measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.experiments.stats import (
    Metric,
    Outcome,
    Proportion,
    analyze,
    sample_size_two_proportions,
)

ALPHA = 0.05
PEEKS = 20


@dataclass(frozen=True)
class Rates:
    experiments: int
    sequential_decided: float  # winner or loser at any look
    sequential_winner: float
    fixed_any_look: float  # p < alpha at any look (peeking the fixed test)
    fixed_last_look_winner: float  # p < alpha and treatment ahead, at the last look only
    srm_blocked_looks: float


def simulate(
    *,
    seed: int,
    experiments: int,
    baseline: float,
    treatment: float,
    planned_total: int,
    looks_until: int,
    treatment_share: float = 0.5,
    peeks: int = PEEKS,
) -> Rates:
    rng = np.random.default_rng(seed)
    step = looks_until // peeks
    treated = rng.binomial(step, treatment_share, size=(experiments, peeks))
    controls = step - treated
    conv_t = rng.binomial(treated, treatment).cumsum(axis=1)
    conv_c = rng.binomial(controls, baseline).cumsum(axis=1)
    n_t, n_c = treated.cumsum(axis=1), controls.cumsum(axis=1)
    weights = {"control": 1 - treatment_share, "treatment": treatment_share}
    decided = won = fixed_any = fixed_last = srm_looks = 0
    for e in range(experiments):
        first_decision: Outcome | None = None
        peeked_significant = False
        for k in range(peeks):
            nt, nc = int(n_t[e, k]), int(n_c[e, k])
            result = analyze(
                weights=weights,
                control="control",
                exposures={"control": nc, "treatment": nt},
                primary=Metric(
                    "conversion",
                    {
                        "control": Proportion(nc, int(conv_c[e, k])),
                        "treatment": Proportion(nt, int(conv_t[e, k])),
                    },
                ),
                planned_exposures=planned_total,
                alpha=ALPHA,
            )
            outcome = result.decision.outcome
            srm_looks += outcome is Outcome.BLOCKED_SRM
            if first_decision is None and outcome in (Outcome.WINNER, Outcome.LOSER):
                first_decision = outcome  # the experiment stops at its first decision
            fixed = result.comparisons[0].fixed
            peeked_significant |= fixed.p_value < ALPHA
            if k == peeks - 1:
                fixed_last += fixed.p_value < ALPHA and fixed.difference > 0
        decided += first_decision is not None
        won += first_decision is Outcome.WINNER
        fixed_any += peeked_significant
    n = experiments
    return Rates(n, decided / n, won / n, fixed_any / n, fixed_last / n, srm_looks / (n * peeks))


def monte_carlo_bound(rate: float, experiments: int) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / experiments)


def test_a_a_sequential_rule_keeps_false_positives_at_alpha_while_peeking_fixed_inflates() -> None:
    # given no true difference, 2,000 experiments looked at 20 times up to the planned size
    rates = simulate(
        seed=19,
        experiments=2000,
        baseline=0.05,
        treatment=0.05,
        planned_total=20_000,
        looks_until=20_000,
    )
    # then the sequential rule stays within alpha (+ 3 Monte-Carlo standard errors)
    assert rates.sequential_decided <= monte_carlo_bound(ALPHA, rates.experiments)
    # and reading the fixed-horizon p-value at every look does not: that is why the rule exists
    assert rates.fixed_any_look > 2 * ALPHA
    print(rates)


def test_a_a_with_unequal_allocation_and_a_low_rate() -> None:
    rates = simulate(
        seed=20,
        experiments=1000,
        baseline=0.02,
        treatment=0.02,
        planned_total=40_000,
        looks_until=40_000,
        treatment_share=0.2,
    )
    assert rates.sequential_decided <= monte_carlo_bound(ALPHA, rates.experiments)
    print(rates)


def test_a_b_fixed_horizon_has_the_planned_power_at_the_planned_size() -> None:
    # given a true effect equal to the planned minimum detectable effect (10% -> 12%)
    plan = sample_size_two_proportions(baseline_rate=0.10, minimum_detectable_effect=0.02)
    rates = simulate(
        seed=21,
        experiments=1000,
        baseline=0.10,
        treatment=0.12,
        planned_total=plan.sequential_total,
        looks_until=plan.total,
    )
    # then the fixed-horizon test read once at plan.total wins 80% of the time, as planned
    se = math.sqrt(0.8 * 0.2 / rates.experiments)
    assert abs(rates.fixed_last_look_winner - 0.8) <= 3 * se
    # and the sequential rule, stopped at the same size, has less power (its price)
    assert 0.2 < rates.sequential_winner < rates.fixed_last_look_winner
    print(plan.total, rates)


def test_a_b_sequential_rule_has_at_least_the_planned_power_at_its_own_plan() -> None:
    plan = sample_size_two_proportions(baseline_rate=0.10, minimum_detectable_effect=0.02)
    rates = simulate(
        seed=22,
        experiments=1000,
        baseline=0.10,
        treatment=0.12,
        planned_total=plan.sequential_total,
        looks_until=plan.sequential_total,
    )
    se = math.sqrt(0.8 * 0.2 / rates.experiments)
    assert rates.sequential_winner >= 0.8 - 3 * se
    assert rates.sequential_decided == rates.sequential_winner  # never the wrong way round
    print(plan.sequential_total, rates)
