"""Assignment: deterministic and sticky, in the allocation's proportions (chi-square over
100,000 units), within the eligibility and the exposure cap; an exposure is logged once per
unit, a batch's in one INSERT, under the unit's keyed hash (the one outcomes carry)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy.stats import chisquare

from apps.experiments import services
from apps.experiments.models import Experiment, Exposure
from apps.signals.services import subject_hash
from tests.conftest import SYSTEM
from tests.experiments.conftest import make

UNITS = [f"lead-{i}@example.test" for i in range(200)]


def assign(experiment: Experiment, unit: str, **context) -> services.Assignment:
    return services.experiment_assign(
        actor=SYSTEM,
        experiment=experiment,
        unit_id=unit,
        context=services.AssignContext(**context),
    )


def test_the_same_unit_gets_the_same_variant_every_time(running):
    first = [assign(running, unit).variant for unit in UNITS]

    again = [assign(running, unit).variant for unit in UNITS]
    bulk = services.experiment_assign_bulk(actor=SYSTEM, experiment=running, unit_ids=UNITS)

    assert first == again == [answer.variant for answer in bulk]
    assert set(first) == {"control", "short"}


def test_the_split_is_a_function_of_salt_and_unit_only(cast):
    # Given the same design in two workspaces (different salts) and a second copy of one
    ours = make(cast.workspace, "split", start=True)
    theirs = make(cast.other_workspace, "split", start=True)
    other_key = make(cast.workspace, "split-two", start=True)

    mine = [services.Allocation(ours.salt, list(ours.variants.all())) for _ in range(2)]
    hashes = [subject_hash("unit", unit) for unit in UNITS]

    # Then the same salt always splits alike; another salt splits differently
    assert [mine[0].variant_for(h).key for h in hashes] == [
        mine[1].variant_for(h).key for h in hashes
    ]
    assert ours.salt != theirs.salt != other_key.salt
    split = [assign(ours, unit).variant for unit in UNITS]
    assert split != [assign(theirs, unit).variant for unit in UNITS]
    assert split != [assign(other_key, unit).variant for unit in UNITS]


def test_unit_ids_are_compared_trimmed_and_case_blind(running):
    first = assign(running, "Lead@Example.test ")

    second = assign(running, "lead@example.test")

    assert second.variant == first.variant
    assert (first.new_exposure, second.new_exposure) == (True, False)


@pytest.mark.parametrize("weights", [(1, 1), (1, 3), (2, 1, 1), (50, 30, 20)])
def test_allocation_follows_the_weights_over_100k_units(cast, weights):
    variants = [
        {"key": f"v{i}", "is_control": i == 0, "weight": weight} for i, weight in enumerate(weights)
    ]
    experiment = make(cast.workspace, "weights", variants=variants)
    allocation = services.Allocation(experiment.salt, list(experiment.variants.all()))
    total = 100_000

    counts = Counter(
        allocation.variant_for(services.unit_hash(f"unit-{i}")).key for i in range(total)
    )

    observed = [counts[f"v{i}"] for i in range(len(weights))]
    expected = [total * weight / sum(weights) for weight in weights]
    assert sum(observed) == total
    assert chisquare(observed, expected).pvalue > 0.001


def test_an_exposure_is_logged_once_per_unit_under_the_outcomes_hash(running):
    assign(running, "lead@example.test")
    assign(running, "lead@example.test")
    twice = services.experiment_assign_bulk(
        actor=SYSTEM, experiment=running, unit_ids=["new@example.test", "NEW@example.test"]
    )

    assert [answer.new_exposure for answer in twice] == [True, False]
    assert twice[0].variant == twice[1].variant

    exposures = list(Exposure.objects.filter(experiment=running).order_by("id"))
    assert [e.unit_hash for e in exposures] == [
        subject_hash("unit", "lead@example.test"),
        subject_hash("unit", "new@example.test"),
    ]
    assert {e.workspace_id for e in exposures} == {running.workspace_id}
    running.refresh_from_db()
    assert running.exposure_count == 2


def test_a_batch_inserts_its_exposures_in_one_statement(running):
    with CaptureQueriesContext(connection) as queries:
        answers = services.experiment_assign_bulk(
            actor=SYSTEM, experiment=running, unit_ids=[f"u{i}" for i in range(2000)]
        )

    inserts = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(inserts) == 1
    assert sum(answer.new_exposure for answer in answers) == 2000
    assert Exposure.objects.filter(experiment=running).count() == 2000
    statements = [q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 3  # the variants, the insert, the counter


def test_the_cap_admits_new_units_until_it_is_full_and_keeps_the_exposed(cast):
    experiment = make(cast.workspace, "capped", start=True, exposure_cap=3)
    first = services.experiment_assign_bulk(
        actor=SYSTEM, experiment=experiment, unit_ids=["a", "b", "c", "d"]
    )

    again = services.experiment_assign_bulk(
        actor=SYSTEM, experiment=experiment, unit_ids=["d", "a", "e"]
    )

    assert [x.result for x in first] == ["assigned"] * 3 + ["exposure_cap"]
    assert first[3].variant is None
    assert [x.result for x in again] == ["exposure_cap", "assigned", "exposure_cap"]
    assert again[1].variant == first[0].variant and not again[1].new_exposure
    assert Exposure.objects.filter(experiment=experiment).count() == 3
    experiment.refresh_from_db()
    assert experiment.exposure_count == 3


@pytest.mark.parametrize(
    ("eligibility", "context", "eligible"),
    [
        ({}, {}, True),
        ({"channels": ["email"]}, {"channel": "email"}, True),
        ({"channels": ["email"]}, {"channel": "sms"}, False),
        ({"channels": ["email"]}, {}, False),
        ({"segments": ["smb", "mid"]}, {"segment": "mid"}, True),
        ({"segments": ["smb"]}, {"segment": "ent"}, False),
        ({"channels": ["email"], "segments": ["smb"]}, {"channel": "email"}, False),
    ],
)
def test_eligibility_by_channel_and_segment(cast, eligibility, context, eligible):
    experiment = make(cast.workspace, "eligible", start=True, eligibility=eligibility)

    answer = assign(experiment, "lead@example.test", **context)

    assert answer.result == ("assigned" if eligible else "ineligible")
    assert Exposure.objects.filter(experiment=experiment).count() == int(eligible)


def test_eligibility_by_team_and_agent_uses_the_calling_agent(cast):
    # Given experiments for the Sales team, for Marketing, and for one agent
    sales = make(cast.workspace, "sales", start=True, eligibility={"teams": [cast.sales.pk]})
    marketing = make(cast.workspace, "mkt", start=True, eligibility={"teams": [cast.marketing.pk]})
    agent_only = make(cast.workspace, "bot", start=True, eligibility={"agents": [cast.agent.pk]})

    def by_agent(experiment, **context):
        return services.experiment_assign(
            actor=cast.agent,
            experiment=experiment,
            unit_id="x",
            context=services.AssignContext(**context),
        ).result

    # Then the Sales agent is in its team's and its own, not Marketing's (whatever it claims)
    assert by_agent(sales) == "assigned"
    assert by_agent(agent_only) == "assigned"
    assert by_agent(marketing, team=cast.marketing.pk) == "ineligible"
    # and a person names the team or agent the batch is for
    assert assign(marketing, "y", team=cast.marketing.pk).result == "assigned"
    assert assign(agent_only, "y", agent=cast.other_agent.pk).result == "ineligible"


@pytest.mark.parametrize("step", ["draft", "stopped", "decided"])
def test_only_a_running_experiment_assigns(cast, step):
    experiment = make(cast.workspace, "life", start=step != "draft")
    if step in ("stopped", "decided"):
        experiment = services.experiment_stop(actor=SYSTEM, experiment=experiment, reason="done")
    if step == "decided":
        experiment = services.experiment_decide(
            actor=SYSTEM, experiment=experiment, reason="won", winner="short"
        )

    answer = assign(experiment, "lead@example.test")

    assert (answer.variant, answer.result) == (None, "not_running")
    assert not Exposure.objects.filter(experiment=experiment).exists()


def test_stickiness_survives_a_stop_in_the_stored_exposure(running):
    chosen = assign(running, "lead@example.test").variant

    services.experiment_stop(actor=SYSTEM, experiment=running, reason="done")

    exposure = Exposure.objects.select_related("variant").get(experiment=running)
    assert exposure.variant.key == chosen


def test_outcomes_join_exposures_on_the_unit_hash(cast, running):
    from apps.signals.models import Outcome
    from apps.signals.services import outcomes_ingest
    from tests.signals.conftest import outcome_item

    result = outcomes_ingest(
        actor=cast.agent,
        items=[
            outcome_item("k1", kind="meeting_booked", account="acct-42", experiment_unit="Lead-42 ")
        ],
    )
    assert result.count("created") == 1
    services.experiment_assign(actor=cast.agent, experiment=running, unit_id="lead-42")

    joined = Exposure.objects.filter(
        experiment=running,
        unit_hash__in=Outcome.objects.filter(kind="meeting_booked").values("experiment_unit_hash"),
    )
    assert joined.count() == 1
