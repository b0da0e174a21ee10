"""The analysis on real exposures and outcomes: the stored numbers equal SciPy/statsmodels
computed independently from the same units; the windows, the workspace and the maturity
rules; SRM and guardrail blocking; who may take a look."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats import proportion as sm_proportion

from apps.audit.models import AuditEvent
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden
from apps.experiments import analysis
from apps.experiments.models import ExperimentAnalysis, Exposure
from apps.signals.models import Outcome
from tests.conftest import SYSTEM
from tests.experiments.conftest import make

pytestmark = pytest.mark.django_db
EXACT = 1e-9
_keys = itertools.count()


def expose(experiment: Any, variant_key: str, count: int, *, days_ago: float) -> list[str]:
    """`count` units of `variant_key`, exposed `days_ago` days before now."""
    variant = experiment.variants.get(key=variant_key)
    at = clock.now() - timedelta(days=days_ago)
    hashes = [f"{variant_key}-{next(_keys):08d}" for _ in range(count)]
    Exposure.objects.bulk_create(
        Exposure(
            workspace_id=experiment.workspace_id,
            experiment=experiment,
            variant=variant,
            unit_hash=unit,
            created_at=at,
        )
        for unit in hashes
    )
    return hashes


def happen(
    workspace: Any,
    unit: str,
    kind: str,
    *,
    after_exposure: timedelta,
    experiment: Any,
    amount: str | None = None,
    custom_kind: str = "",
) -> Outcome:
    exposed = Exposure.objects.get(experiment=experiment, unit_hash=unit).created_at
    return Outcome.objects.create(
        workspace=workspace,
        kind=kind,
        custom_kind=custom_kind,
        experiment_unit_hash=unit,
        occurred_at=exposed + after_exposure,
        amount=Decimal(amount) if amount is not None else None,
        idempotency_key=f"k{next(_keys)}",
    )


DAY = timedelta(days=1)


def look(experiment: Any) -> ExperimentAnalysis:
    return analysis.experiment_analyze(actor=SYSTEM, experiment=experiment, trigger="on_demand")


def test_conversion_and_rate_equal_reference_computations(cast: Any) -> None:
    # given 300 + 300 matured units, 15 and 33 converting, unsubscribes 0/1/2 per unit
    experiment = make(cast.workspace, "numbers", start=True)
    control = expose(experiment, "control", 300, days_ago=30)
    short = expose(experiment, "short", 300, days_ago=30)
    for unit in control[:15] + short[:33]:
        happen(
            cast.workspace, unit, "meeting_booked", after_exposure=2 * DAY, experiment=experiment
        )
    happen(
        cast.workspace, short[0], "meeting_booked", after_exposure=3 * DAY, experiment=experiment
    )
    unsubscribes = {"control": [0] * 300, "short": [0] * 300}
    for name, units, hits in (("control", control, 9), ("short", short, 14)):
        for index, unit in enumerate(units[-hits:]):
            repeats = 2 if index % 3 == 0 else 1
            for _ in range(repeats):
                happen(
                    cast.workspace, unit, "unsubscribe", after_exposure=DAY, experiment=experiment
                )
            unsubscribes[name][300 - hits + index] = repeats

    # when
    stored = look(experiment)

    # then: the primary metric equals statsmodels on the same counts
    result = stored.result
    assert stored.exposures == 600
    comparison = result["comparisons"][0]
    _z, p = sm_proportion.proportions_ztest([33, 15], [300, 300])
    assert comparison["fixed"]["p_value"] == pytest.approx(p, rel=EXACT)
    low, high = sm_proportion.confint_proportions_2indep(33, 300, 15, 300, method="wald")
    assert comparison["fixed"]["interval"]["low"] == pytest.approx(low, rel=EXACT)
    assert comparison["fixed"]["interval"]["high"] == pytest.approx(high, rel=EXACT)
    wilson = sm_proportion.proportion_confint(33, 300, method="wilson")
    summary = result["variants"]["primary"]["short"]
    assert summary["estimate"] == pytest.approx(33 / 300, rel=EXACT)
    assert (summary["interval"]["low"], summary["interval"]["high"]) == pytest.approx(wilson)
    # and the guardrail rate is Welch's t on the per-unit counts (SciPy)
    check = result["guardrails"][0]["comparison"]
    t = scipy_stats.ttest_ind(unsubscribes["short"], unsubscribes["control"], equal_var=False)
    assert check["fixed"]["p_value"] == pytest.approx(t.pvalue, rel=1e-8)
    assert check["fixed"]["difference"] == pytest.approx(
        np.mean(unsubscribes["short"]) - np.mean(unsubscribes["control"]), rel=EXACT
    )
    assert result["inputs"]["metrics"][0]["by_variant"]["short"]["converted_units"] == 33
    assert stored.srm_passed is True


def test_window_bounds_are_inclusive_and_outside_outcomes_do_not_count(cast: Any) -> None:
    experiment = make(cast.workspace, "windows", start=True)
    control = expose(experiment, "control", 4, days_ago=40)
    short = expose(experiment, "short", 4, days_ago=40)
    booked = "meeting_booked"
    happen(cast.workspace, short[0], booked, after_exposure=timedelta(0), experiment=experiment)
    happen(cast.workspace, short[1], booked, after_exposure=14 * DAY, experiment=experiment)
    late = 14 * DAY + timedelta(seconds=1)
    happen(cast.workspace, short[2], booked, after_exposure=late, experiment=experiment)
    early = -timedelta(seconds=1)
    happen(cast.workspace, short[3], booked, after_exposure=early, experiment=experiment)
    happen(cast.workspace, control[0], "reply", after_exposure=DAY, experiment=experiment)
    happen(cast.other_workspace, control[1], booked, after_exposure=DAY, experiment=experiment)

    result = look(experiment).result

    by_variant = result["inputs"]["metrics"][0]["by_variant"]
    assert by_variant["short"]["converted_units"] == 2
    assert by_variant["control"]["converted_units"] == 0


def test_units_whose_window_is_open_count_so_far_but_not_in_the_comparison(cast: Any) -> None:
    experiment = make(cast.workspace, "maturing", start=True)
    old = expose(experiment, "control", 3, days_ago=20) + expose(
        experiment, "short", 3, days_ago=20
    )
    young = expose(experiment, "short", 2, days_ago=3)
    happen(cast.workspace, young[0], "meeting_booked", after_exposure=DAY, experiment=experiment)
    happen(cast.workspace, old[4], "meeting_booked", after_exposure=DAY, experiment=experiment)

    stored = look(experiment)

    row = stored.result["inputs"]["metrics"][0]["by_variant"]["short"]
    assert (row["matured_units"], row["converted_units"]) == (3, 1)
    assert (row["units_so_far"], row["converted_units_so_far"]) == (5, 2)
    assert stored.result["variants"]["primary"]["short"]["size"] == 3
    assert stored.exposures == 8


def test_no_matured_unit_yet_gives_an_inconclusive_look_that_says_why(cast: Any) -> None:
    experiment = make(cast.workspace, "young", start=True)
    expose(experiment, "control", 50, days_ago=1)
    expose(experiment, "short", 50, days_ago=1)

    stored = look(experiment)

    assert stored.outcome == "inconclusive"
    assert "still open" in stored.result["decision"]["reasons"][0]
    assert stored.result["sample_ratio"]["failed"] is False


def test_a_skewed_split_blocks_on_sample_ratio_mismatch(cast: Any) -> None:
    experiment = make(cast.workspace, "skewed", start=True)
    control = expose(experiment, "control", 600, days_ago=30)
    short = expose(experiment, "short", 450, days_ago=30)
    for unit in control[:20] + short[:80]:
        happen(cast.workspace, unit, "meeting_booked", after_exposure=DAY, experiment=experiment)

    stored = look(experiment)

    chi2 = scipy_stats.chisquare([600, 450], [525, 525])
    assert stored.result["sample_ratio"]["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    assert (stored.outcome, stored.srm_passed, stored.winner_key) == ("blocked_srm", False, "")


def test_a_harmed_guardrail_blocks_the_win(cast: Any) -> None:
    experiment = make(cast.workspace, "harm", start=True)
    control = expose(experiment, "control", 500, days_ago=30)
    short = expose(experiment, "short", 500, days_ago=30)
    for unit in control[:10] + short[:150]:
        happen(cast.workspace, unit, "meeting_booked", after_exposure=DAY, experiment=experiment)
    for unit in control[-5:] + short[-120:]:
        happen(cast.workspace, unit, "unsubscribe", after_exposure=DAY, experiment=experiment)

    stored = look(experiment)

    assert stored.outcome == "blocked_guardrail"
    assert (stored.guardrails_passed, stored.winner_key) == (False, "short")
    assert stored.result["guardrails"][0]["harmed"] is True


def test_a_clear_winner_with_guardrails_in_tolerance_wins(cast: Any) -> None:
    guardrail = {"kind": "rate", "event": "unsubscribe", "window_days": 14, "tolerance": 0.5}
    experiment = make(cast.workspace, "wins", start=True, guardrail_metrics=[guardrail])
    control = expose(experiment, "control", 500, days_ago=30)
    short = expose(experiment, "short", 500, days_ago=30)
    for unit in control[:10] + short[:150]:
        happen(cast.workspace, unit, "meeting_booked", after_exposure=DAY, experiment=experiment)
    for unit in control[-5:] + short[-120:]:
        happen(cast.workspace, unit, "unsubscribe", after_exposure=DAY, experiment=experiment)

    stored = look(experiment)

    assert (stored.outcome, stored.winner_key, stored.guardrails_passed) == (
        "winner",
        "short",
        True,
    )
    assert analysis.latest_analysis(experiment) == stored


def test_cost_per_outcome_is_spend_per_exposed_unit(cast: Any) -> None:
    cost = {"kind": "cost_per_outcome", "event": "spend", "window_days": 7}
    experiment = make(cast.workspace, "spend", start=True, guardrail_metrics=[cost])
    control = expose(experiment, "control", 3, days_ago=30)
    short = expose(experiment, "short", 3, days_ago=30)
    spent = {"control": [1.5, 0.0, 2.0], "short": [4.0, 0.25, 0.0]}
    for units, name in ((control, "control"), (short, "short")):
        for unit, amount in zip(units, spent[name], strict=True):
            if amount:
                happen(
                    cast.workspace,
                    unit,
                    "spend",
                    after_exposure=DAY,
                    experiment=experiment,
                    amount=str(amount),
                )

    result = look(experiment).result

    means = result["variants"][result["guardrails"][0]["metric"]]
    assert means["short"]["estimate"] == pytest.approx(np.mean(spent["short"]), rel=EXACT)
    welch = scipy_stats.ttest_ind(spent["short"], spent["control"], equal_var=False)
    assert result["guardrails"][0]["comparison"]["fixed"]["p_value"] == pytest.approx(
        welch.pvalue, rel=1e-8
    )


def test_custom_events_count_only_their_custom_kind(cast: Any) -> None:
    primary = {
        "kind": "conversion",
        "event": "custom",
        "custom_kind": "demo_done",
        "window_days": 7,
    }
    experiment = make(cast.workspace, "custom", start=True, primary_metric=primary)
    control = expose(experiment, "control", 2, days_ago=30)
    short = expose(experiment, "short", 2, days_ago=30)
    happen(
        cast.workspace,
        short[0],
        "custom",
        after_exposure=DAY,
        experiment=experiment,
        custom_kind="demo_done",
    )
    happen(
        cast.workspace,
        control[0],
        "custom",
        after_exposure=DAY,
        experiment=experiment,
        custom_kind="other",
    )

    by_variant = look(experiment).result["inputs"]["metrics"][0]["by_variant"]

    assert (by_variant["short"]["converted_units"], by_variant["control"]["converted_units"]) == (
        1,
        0,
    )


def test_a_draft_is_refused_and_nothing_is_stored(cast: Any) -> None:
    experiment = make(cast.workspace, "draft-x")
    with pytest.raises(Conflict):
        look(experiment)
    assert not ExperimentAnalysis.objects.exists()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("owner", True),
        ("admin", True),
        ("editor", True),
        ("reviewer", False),
        ("auditor", False),
        ("viewer", False),
        ("outsider", False),
        ("agent", False),
        ("other_agent", False),
    ],
)
def test_who_may_take_a_look(cast: Any, role: str, allowed: bool) -> None:
    experiment = make(cast.workspace, "who", start=True)
    actor = getattr(cast, role) if role.endswith("agent") else cast.user(role)
    if allowed:
        stored = analysis.experiment_analyze(
            actor=actor, experiment=experiment, trigger="on_demand"
        )
        event = AuditEvent.objects.get(action="experiment.analyze")
        assert event.after["analysis"] == stored.pk
    else:
        with pytest.raises(Forbidden):
            analysis.experiment_analyze(actor=actor, experiment=experiment, trigger="on_demand")
        assert not ExperimentAnalysis.objects.exists()
        assert not AuditEvent.objects.filter(action="experiment.analyze").exists()


def test_history_is_oldest_first_and_limited(cast: Any) -> None:
    experiment = make(cast.workspace, "history", start=True)
    expose(experiment, "control", 2, days_ago=1)
    expose(experiment, "short", 2, days_ago=1)
    looks = [look(experiment) for _ in range(3)]

    assert analysis.analysis_history(experiment, limit=2) == looks[1:]
    assert analysis.latest_analysis(experiment) == looks[-1]


def test_three_variants_split_alpha_and_use_the_designs_sequential_plan(cast: Any) -> None:
    from apps.experiments.power import experiment_plan

    variants = [
        {"key": "control", "is_control": True, "weight": 2},
        {"key": "a", "weight": 1},
        {"key": "b", "weight": 1},
    ]
    experiment = make(cast.workspace, "three", start=True, variants=variants)
    units = {
        name: expose(experiment, name, size, days_ago=30)
        for name, size in (("control", 400), ("a", 200), ("b", 200))
    }
    for name, hits in (("control", 20), ("a", 10), ("b", 40)):
        for unit in units[name][:hits]:
            happen(
                cast.workspace, unit, "meeting_booked", after_exposure=DAY, experiment=experiment
            )

    stored = look(experiment)

    plan = experiment_plan(experiment)
    comparisons = {c["variant"]: c for c in stored.result["comparisons"]}
    assert set(comparisons) == {"a", "b"}
    assert all(c["alpha"] == pytest.approx(0.025) for c in comparisons.values())
    planned = round(plan.planned_exposures * 0.75)
    assert comparisons["b"]["sequential"]["planned_sample_size"] == planned
    assert stored.result["inputs"]["plan"] == plan.as_dict()
    _z, p = sm_proportion.proportions_ztest([40, 20], [200, 400])
    assert comparisons["b"]["fixed"]["p_value"] == pytest.approx(p, rel=EXACT)
