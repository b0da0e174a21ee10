"""The `shared_rows` marker (tests/conftest.py): the module's cast is built once, and each test
gets its own copy, so what one test changes (rows or objects) never reaches the next."""

from __future__ import annotations

import pytest

from apps.workspaces.models import Agent, Workspace

# Both tests on one worker, in this order: the second checks what the first did is gone.
pytestmark = [pytest.mark.shared_rows(), pytest.mark.xdist_group("shared-rows-check")]
SEEN: dict[str, int] = {}


def test_a_test_changes_the_shared_rows_and_its_objects(cast):
    # Given the module's cast / When a test renames the agent and adds a workspace
    SEEN["cast"] = id(cast)
    SEEN["agent"] = cast.agent.pk
    cast.agent.name = "Renamed"
    cast.agent.save(update_fields=["name"])
    Workspace.objects.create(name="Made here", slug="made-here")

    # Then it sees its own changes
    assert Agent.objects.get(pk=cast.agent.pk).name == "Renamed"


def test_the_next_test_gets_the_rows_as_built_and_a_fresh_copy(cast):
    # Given the same module's cast, after the test above
    assert SEEN, "runs after the test above (same module, same worker)"

    # Then the rows are the shared ones, unchanged, and the objects are a new copy
    assert cast.agent.pk == SEEN["agent"]
    assert id(cast) != SEEN["cast"]
    assert cast.agent.name == "SDR Bot"
    assert Agent.objects.get(pk=cast.agent.pk).name == "SDR Bot"
    assert not Workspace.objects.filter(slug="made-here").exists()
