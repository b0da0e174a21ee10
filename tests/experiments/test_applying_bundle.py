"""The bundle applies the unit's variant: its prompt version replaces the production one for
units in the treatment, other artifacts unchanged; the ETag is the variant's own (never one
unit's cached body for another variant's); without a unit nothing changes, not even a query."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.experiments import services
from apps.experiments.models import Exposure
from apps.policies import services as services_of_policies
from tests.conftest import SYSTEM
from tests.experiments.applying_world import (
    BUNDLE,
    CONTEXT,
    TASK,
    agent_client,
    memory_experiment,
    memory_world,
    prompt_experiment,
    prompt_world,
    unit_in,
)
from tests.policies.conftest import artifact, version


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def world(cast: Any) -> dict[str, Any]:
    made = prompt_world(cast)
    made["experiment"] = prompt_experiment(cast.workspace, made["v2"])
    return made


def bundle(cast: Any, **params: Any) -> Any:
    headers = {}
    if "etag" in params:
        headers["HTTP_IF_NONE_MATCH"] = params.pop("etag")
    return agent_client(cast.agent_secret).get(BUNDLE, params, **headers)


def by_name(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content[:500]
    return {entry["name"]: entry for entry in response.json()["artifacts"]}


def test_the_treatment_gets_the_variants_version_and_the_control_production(cast, world):
    treated = unit_in(world["experiment"], "five-words")
    control = unit_in(world["experiment"], "control")

    as_treated = bundle(cast, unit_id=treated)
    as_control = bundle(cast, unit_id=control)
    without = bundle(cast)

    opener = by_name(as_treated)["opener"]
    assert (opener["version_id"], opener["version"]) == (world["v2"].pk, 2)
    assert opener["content"]["template"] == "Say hello in five words."
    assert (opener["experiment"], opener["variant"]) == ("opener-test", "five-words")
    assert by_name(as_treated)["tone"] == by_name(without)["tone"]  # other artifacts unchanged
    assert by_name(as_control)["opener"]["version_id"] == world["v1"].pk
    assert "experiment" not in by_name(as_control)["opener"]
    assert as_treated.json()["experiments"] == [{"key": "opener-test", "variant": "five-words"}]
    assert as_control.json()["experiments"] == [{"key": "opener-test", "variant": "control"}]
    assert "experiments" not in without.json()
    assert by_name(without)["opener"]["version_id"] == world["v1"].pk


def test_a_variant_can_add_a_prompt_that_has_no_production_version(cast, world):
    fresh = artifact(cast, "closing", kind="prompt")
    draft = version(fresh, "Sign off warmly.")
    experiment = prompt_experiment(
        cast.workspace,
        draft,
        "closing-test",
        variants=[
            {"key": "control", "is_control": True, "weight": 1},
            {"key": "warm", "weight": 1, "policy_versions": [draft.pk]},
        ],
    )

    treated = by_name(bundle(cast, unit_id=unit_in(experiment, "warm")))
    control = by_name(bundle(cast, unit_id=unit_in(experiment, "control")))

    assert treated["closing"]["version_id"] == draft.pk
    assert "closing" not in control


def test_the_etag_differs_per_variant_and_is_shared_within_one(cast, world):
    experiment = world["experiment"]
    treated = [unit_in(experiment, "five-words", start=n) for n in (0, 100)]
    control = unit_in(experiment, "control")

    first, second = (bundle(cast, unit_id=unit) for unit in treated)
    other = bundle(cast, unit_id=control)
    without = bundle(cast)

    assert first["ETag"] == second["ETag"]
    assert len({first["ETag"], other["ETag"], without["ETag"]}) == 3
    # a control unit presenting the treatment's ETag gets the control's body, not a 304
    cross = bundle(cast, unit_id=control, etag=first["ETag"])
    assert cross.status_code == 200
    assert by_name(cross)["opener"]["version_id"] == world["v1"].pk
    assert bundle(cast, unit_id=treated[0], etag=first["ETag"]).status_code == 304
    assert bundle(cast, etag=first["ETag"]).status_code == 200


def test_the_same_unit_gets_the_same_variant_in_bundle_context_and_assign(cast, world):
    memory_world(cast)
    both = memory_experiment(
        cast.workspace,
        "both",
        variants=[
            {"key": "control", "is_control": True, "weight": 1},
            {
                "key": "treated",
                "weight": 1,
                "memory_tag": "short-intro",
                "policy_versions": [world["v2"].pk],
            },
        ],
    )
    client = agent_client(cast.agent_secret)
    units = [f"lead-{n}@example.test" for n in range(10)]

    def variant_in(experiments: list[dict[str, str]]) -> str:
        return next(e["variant"] for e in experiments if e["key"] == "both")

    from_bundle = {u: variant_in(bundle(cast, unit_id=u).json()["experiments"]) for u in units}
    from_context = {
        u: variant_in(
            client.post(CONTEXT, {"task": TASK, "unit_id": u}, format="json").json()["experiments"]
        )
        for u in units
    }
    from_assign = {
        u: services.experiment_assign(actor=cast.agent, experiment=both, unit_id=u).variant
        for u in units
    }

    assert from_bundle == from_context == from_assign
    assert set(from_bundle.values()) == {"control", "treated"}
    assert Exposure.objects.filter(experiment=both).count() == len(units)


def test_stopped_and_other_workspaces_experiments_apply_nothing(cast, world):
    treated = unit_in(world["experiment"], "five-words")
    services.experiment_stop(actor=SYSTEM, experiment=world["experiment"], reason="enough")
    globex = services_of_policies.policy_artifact_create(
        actor=SYSTEM, workspace=cast.other_workspace, kind="prompt", name="opener"
    )
    their_version = version(globex, "Globex hello.")
    theirs = prompt_experiment(cast.other_workspace, their_version, "globex-test")

    stopped = bundle(cast, unit_id=treated)
    foreign = bundle(cast, unit_id=unit_in(theirs, "five-words"))

    assert stopped.json()["experiments"] == []
    assert by_name(stopped)["opener"]["version_id"] == world["v1"].pk
    assert foreign.json()["experiments"] == []
    assert stopped["ETag"] != bundle(cast)["ETag"]  # its body lists `experiments: []`
    assert by_name(foreign)["opener"]["version_id"] == world["v1"].pk
    assert not Exposure.objects.filter(experiment=theirs).exists()


def test_without_a_unit_the_bundle_reads_no_experiment(cast, world, django_assert_num_queries):
    bundle(cast)
    with CaptureQueriesContext(connection) as cold:
        cache.clear()
        bundle(cast)
    with django_assert_num_queries(1):  # the token (with the label revision), as before
        bundle(cast)
    assert not any("experiments_" in q["sql"] for q in cold.captured_queries)


def test_a_unit_adds_a_constant_number_of_queries(cast, world, django_assert_num_queries):
    unit = unit_in(world["experiment"], "five-words")
    bundle(cast)  # the token's first use stamps it (once a while): not counted below

    # token, lookup, savepoint, exposure, counter, release; then the versions and the label
    with django_assert_num_queries(8):
        first = bundle(cast, unit_id=unit)
    # cached body: token, lookup, savepoint, no new exposure, release
    with django_assert_num_queries(5):
        bundle(cast, unit_id=unit)
    with django_assert_num_queries(5):
        assert bundle(cast, unit_id=unit, etag=first["ETag"]).status_code == 304
