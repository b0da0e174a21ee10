"""The cast a module shares (tests/conftest.py): built once, and each test gets its own copy,
so what one test changes (rows or objects) never reaches the next."""

from __future__ import annotations

from typing import Any

import pytest

from apps.workspaces.models import Agent, Workspace

# Both runs on one worker (`--dist loadscope`): whichever comes second would see what the first
# changed.
pytestmark = pytest.mark.shared_rows()
SEEN: dict[str, list[Any]] = {"casts": [], "agents": []}  # kept alive: ids never reused


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_from_the_rows_as_built_and_a_copy_of_its_own(cast, run):
    # Given the module's cast, whatever ran before in this module
    assert cast.agent.name == "SDR Bot"
    assert Agent.objects.get(pk=cast.agent.pk).name == "SDR Bot"
    assert not Workspace.objects.filter(slug="made-here").exists()
    assert all(cast is not earlier for earlier in SEEN["casts"])  # a copy of its own
    assert all(pk == cast.agent.pk for pk in SEEN["agents"])  # the same rows, not new ones
    SEEN["casts"].append(cast)
    SEEN["agents"].append(cast.agent.pk)

    # When the test renames the agent and adds a workspace
    cast.agent.name = "Renamed"
    cast.agent.save(update_fields=["name"])
    Workspace.objects.create(name="Made here", slug="made-here")

    # Then it sees its own changes (the next run must not)
    assert Agent.objects.get(pk=cast.agent.pk).name == "Renamed"
