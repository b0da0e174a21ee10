"""Context applies the unit's variant: a treatment's memory set (approved and proposed
members) is served to its units and withheld from the control's, through the real ranking on
the real database; the assembly log and the response name the experiment and variant; without
a unit nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.experiments import services
from apps.experiments.models import Exposure
from apps.memories.models import ContextAssembly, Status, Tier
from tests.conftest import SYSTEM
from tests.experiments.applying_world import (
    CONTEXT,
    SET_TAG,
    TASK,
    agent_client,
    memory,
    memory_experiment,
    memory_world,
    unit_in,
)
from tests.workspaces.factories import AgentFactory


@pytest.fixture
def world(cast: Any) -> dict[str, Any]:
    made: dict[str, Any] = dict(memory_world(cast))
    made["experiment"] = memory_experiment(cast.workspace)
    return made


def read(cast: Any, **body: Any) -> Any:
    response = agent_client(cast.agent_secret).post(
        CONTEXT, {"task": TASK, "k": 10, **body}, format="json"
    )
    assert response.status_code == 200, response.content[:500]
    return response.json()


def served(body: dict[str, Any]) -> set[int]:
    return {entry["id"] for entry in body["items"]}


def test_the_treatment_gets_its_set_even_proposed_and_the_control_does_not(cast, world):
    treated = unit_in(world["experiment"], "short")
    control = unit_in(world["experiment"], "control")
    plain, approved, proposed = (world[name].pk for name in ("plain", "approved", "proposed"))

    as_treated = read(cast, unit_id=treated)
    as_control = read(cast, unit_id=control)
    without = read(cast)

    assert {plain, approved, proposed} <= served(as_treated)
    assert plain in served(as_control)
    assert not {approved, proposed} & served(as_control)  # withheld, approved or not
    assert served(without) >= {plain, approved} and proposed not in served(without)
    assert as_treated["experiments"] == [{"key": "short-intro", "variant": "short"}]
    assert as_control["experiments"] == [{"key": "short-intro", "variant": "control"}]
    assert without["experiments"] == []


@pytest.mark.parametrize("strategy", ["exact", "hnsw-iterative"])
def test_both_ranking_strategies_include_and_withhold(cast, world, settings, strategy):
    # a cap of 1 eligible row sends this small workspace through the HNSW path
    settings.MEMORY_EXACT_SCAN_MAX_ROWS = 1 if strategy == "hnsw-iterative" else 10_000
    treated = unit_in(world["experiment"], "short")
    control = unit_in(world["experiment"], "control")

    with CaptureQueriesContext(connection) as ran:
        as_treated = read(cast, unit_id=treated)
        as_control = read(cast, unit_id=control)

    # the HNSW scan ran with the sets' clauses (a tiny table may then be re-ranked exactly)
    scanned = any("by_index AS MATERIALIZED" in q["sql"] for q in ran.captured_queries)
    assert scanned == (strategy == "hnsw-iterative")
    assert sum("inc AS MATERIALIZED" in q["sql"] for q in ran.captured_queries) >= 1
    assert {world["approved"].pk, world["proposed"].pk} <= served(as_treated)
    assert not {world["approved"].pk, world["proposed"].pk} & served(as_control)
    assert world["plain"].pk in served(as_control)


def test_ranking_is_unchanged_for_what_both_would_see(cast, world):
    control = unit_in(world["experiment"], "control")

    as_control = read(cast, unit_id=control)
    without = read(cast)

    kept = [entry for entry in without["items"] if entry["id"] in served(as_control)]
    assert [e["id"] for e in as_control["items"]] == [e["id"] for e in kept]
    assert [e["score"] for e in as_control["items"]] == [e["score"] for e in kept]


def test_the_assembly_log_names_the_experiment_and_variant(cast, world):
    treated = unit_in(world["experiment"], "short")

    body = read(cast, unit_id=treated)
    plain = read(cast)

    logged = ContextAssembly.objects.get(pk=body["assembly_id"])
    assert logged.filters["experiments"] == [{"key": "short-intro", "variant": "short"}]
    assert "experiments" not in ContextAssembly.objects.get(pk=plain["assembly_id"]).filters
    assert set(logged.items.values_list("item_id", flat=True)) == served(body)


def test_explicit_ids_are_a_set_too_and_rejected_members_are_never_served(cast):
    chosen = memory(cast, "Pricing follow-up for fintech: mention the annual plan")
    rejected = memory(
        cast, "Pricing follow-up e-mail for a fintech prospect", status=Status.REJECTED
    )
    experiment = memory_experiment(
        cast.workspace,
        "chosen-ids",
        variants=[
            {"key": "control", "is_control": True, "weight": 1},
            {"key": "ids", "weight": 1, "memory_ids": [chosen.pk, rejected.pk]},
        ],
    )

    treated = read(cast, unit_id=unit_in(experiment, "ids"))
    control = read(cast, unit_id=unit_in(experiment, "control"))

    assert chosen.pk in served(treated) and rejected.pk not in served(treated)
    assert chosen.pk not in served(control)


def test_a_set_never_serves_another_agents_personal_memories(cast, world):
    other = AgentFactory(workspace=cast.workspace, name="Other bot", slug="other-bot")
    theirs = memory(
        cast,
        "Pricing e-mail for fintech prospects: short follow-up",
        tags=[SET_TAG],
        tier=Tier.PERSONAL,
        agent=other,
    )

    body = read(cast, unit_id=unit_in(world["experiment"], "short"))

    assert theirs.pk not in served(body)
    assert world["approved"].pk in served(body)


def test_the_same_unit_gets_the_same_variant_in_context_and_assign_and_one_exposure(cast, world):
    experiment = world["experiment"]
    units = [f"lead-{n}@example.test" for n in range(12)]

    from_context = {unit: read(cast, unit_id=unit)["experiments"][0]["variant"] for unit in units}
    again = {unit: read(cast, unit_id=unit)["experiments"][0]["variant"] for unit in units}
    from_assign = {
        unit: services.experiment_assign(actor=cast.agent, experiment=experiment, unit_id=unit)
        for unit in units
    }

    assert from_context == again == {unit: a.variant for unit, a in from_assign.items()}
    assert not any(a.new_exposure for a in from_assign.values())  # context exposed them
    assert Exposure.objects.filter(experiment=experiment).count() == len(units)
    assert set(from_context.values()) == {"control", "short"}


def test_experiments_that_dont_run_apply_nothing(cast, world):
    treated = unit_in(world["experiment"], "short")
    services.experiment_stop(actor=SYSTEM, experiment=world["experiment"], reason="enough")
    draft = memory_experiment(cast.workspace, "draft-set", start=False)

    body = read(cast, unit_id=treated)

    assert body["experiments"] == []
    assert world["proposed"].pk not in served(body)
    assert world["approved"].pk in served(body)  # the default: approved, not withheld
    assert not Exposure.objects.filter(experiment=draft).exists()


def test_another_workspaces_experiment_never_applies(cast, world):
    theirs = memory_experiment(cast.other_workspace, "globex-set")
    unit = unit_in(theirs, "short")

    body = agent_client(cast.other_agent_secret).post(
        CONTEXT, {"task": TASK, "unit_id": unit}, format="json"
    )
    ours = read(cast, unit_id=unit)

    assert body.status_code == 200
    assert body.json()["experiments"] == [{"key": "globex-set", "variant": "short"}]
    assert [e["key"] for e in ours["experiments"]] == ["short-intro"]
    assert not served(body.json()) & {world[name].pk for name in ("plain", "approved")}
    assert Exposure.objects.filter(experiment=theirs).count() == 1
    assert Exposure.objects.filter(experiment=world["experiment"]).count() == 1


def test_an_ineligible_agent_or_channel_gets_nothing_applied(cast, world):
    by_channel = memory_experiment(
        cast.workspace, "email-only", eligibility={"channels": ["email"]}
    )
    by_team = memory_experiment(
        cast.workspace, "marketing-only", eligibility={"teams": [cast.marketing.pk]}
    )
    unit = unit_in(by_channel, "short")

    on_sms = read(cast, unit_id=unit, channel="sms")
    on_email = read(cast, unit_id=unit, channel="email")

    keys = {e["key"] for e in on_sms["experiments"]}
    assert "email-only" not in keys and "marketing-only" not in keys
    assert {"key": "email-only", "variant": "short"} in on_email["experiments"]
    assert not Exposure.objects.filter(experiment=by_team).exists()


def test_a_capped_experiment_applies_nothing_to_new_units(cast, world):
    capped = memory_experiment(cast.workspace, "capped", exposure_cap=1)
    world["experiment"].status = "stopped"  # only the capped one in play
    world["experiment"].save(update_fields=["status"])
    first = unit_in(capped, "short")
    late = unit_in(capped, "short", start=int(first.split("-")[1].split("@")[0]) + 1)

    first_body = read(cast, unit_id=first)
    late_body = read(cast, unit_id=late)
    first_again = read(cast, unit_id=first)

    assert first_body["experiments"] == [{"key": "capped", "variant": "short"}]
    assert late_body["experiments"] == []
    assert world["proposed"].pk not in served(late_body)
    assert first_again["experiments"] == first_body["experiments"]  # exposed units keep it
    assert Exposure.objects.filter(experiment=capped).count() == 1


def test_without_a_unit_context_adds_no_query(cast, world, django_assert_num_queries):
    client = agent_client(cast.agent_secret)
    client.post(CONTEXT, {"task": TASK}, format="json")  # warm the process's caches
    with CaptureQueriesContext(connection) as baseline:
        client.post(CONTEXT, {"task": TASK}, format="json")
    world["experiment"].status = "stopped"
    world["experiment"].save(update_fields=["status"])

    with django_assert_num_queries(len(baseline.captured_queries)):
        client.post(CONTEXT, {"task": TASK}, format="json")
    assert not any("experiments_" in q["sql"] for q in baseline.captured_queries)


def test_a_unit_adds_a_constant_number_of_queries(cast, world, django_assert_num_queries):
    client = agent_client(cast.agent_secret)
    client.post(CONTEXT, {"task": TASK}, format="json")
    with CaptureQueriesContext(connection) as baseline:
        client.post(CONTEXT, {"task": TASK}, format="json")
    base = len(baseline.captured_queries)
    unit = unit_in(world["experiment"], "short")

    # a new unit: the lookup, and the assignment (savepoint, the exposure, the counter, release)
    with django_assert_num_queries(base + 5):
        client.post(CONTEXT, {"task": TASK, "unit_id": unit}, format="json")
    # the same unit again: no new exposure, no counter
    with django_assert_num_queries(base + 4):
        client.post(CONTEXT, {"task": TASK, "unit_id": unit}, format="json")
    # a unit in no running experiment's set: the lookup only
    world["experiment"].status = "stopped"
    world["experiment"].save(update_fields=["status"])
    with django_assert_num_queries(base + 1):
        client.post(CONTEXT, {"task": TASK, "unit_id": unit}, format="json")
