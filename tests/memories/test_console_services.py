"""memory_agent_reset: who may reset an agent's personal brain, what it expires (approved and
proposed personal items only), keyset batches with one audit event each, and refusals that
change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Forbidden, ValidationFailed
from apps.memories.console_selectors import brain_items, brain_scope_for
from apps.memories.models import ConflictStatus, MemoryConflict, Status
from apps.memories.services.console import may_reset_agent, memory_agent_reset
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.memories.console_world import ConsoleWorld, build_console_world
from tests.memories.factories import MemoryItemFactory
from tests.memories.helpers import assert_refused, recorded

MAY_RESET = {"owner", "admin", "team_admin", "operator"}


@pytest.fixture
def world(cast: Any) -> ConsoleWorld:
    return build_console_world(cast)


def statuses(world: ConsoleWorld) -> dict[str, str]:
    return {name: type(item).objects.get(pk=item.pk).status for name, item in world.items.items()}


def test_reset_expires_the_agents_approved_and_proposed_personal_memories_only(world):
    # given
    before = statuses(world)

    # when
    with recorded() as events:
        result = memory_agent_reset(
            actor=world.cast.user("admin"), agent=world.cast.agent, reason="retrained playbook"
        )

    # then
    after = statuses(world)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"own", "own_coaching", "own_proposed"}
    assert {after[name] for name in changed} == {Status.EXPIRED}
    assert result.expired == 3
    assert [e.action for e in events] == ["memory.agent_reset"]
    event = events[0]
    assert event.reason == "retrained playbook"
    assert event.workspace_id == world.cast.workspace.pk
    assert event.object_id == str(world.cast.agent.pk)
    assert sorted(event.after["ids"]) == sorted(
        world.items[n].pk for n in ("own", "own_coaching", "own_proposed")
    )


def test_reset_walks_keyset_batches_with_one_audit_event_each(world):
    # given: 3 resettable items, batches of 2
    # when
    with recorded() as events:
        result = memory_agent_reset(
            actor=SYSTEM, agent=world.cast.agent, reason="clean slate", batch_size=2
        )

    # then
    assert (result.expired, result.batches) == (3, 2)
    assert [len(e.after["ids"]) for e in events] == [2, 1]
    assert events[0].after["ids"][-1] < events[1].after["ids"][0]


def test_a_reset_that_finds_nothing_is_still_on_record(world):
    memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason="first")

    with recorded() as events:
        result = memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason="again")

    assert result.expired == 0
    assert [(e.action, e.after["ids"]) for e in events] == [("memory.agent_reset", [])]


def test_reset_closes_open_conflicts_of_the_expired_items(world):
    # given: an open conflict between the agent's approved and proposed items
    conflict = MemoryConflict.objects.create(
        workspace=world.cast.workspace,
        existing=world.items["own"],
        proposed=world.items["own_proposed"],
        reason="numbers differ",
        similarity=0.95,
    )

    memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason="clean slate")

    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED
    assert conflict.resolved_at is not None


def test_reset_takes_the_items_out_of_the_agents_brain(world):
    user = world.cast.user("owner")
    scope = brain_scope_for(user, "agent", world.cast.agent.pk)
    assert world.items["own"] in brain_items(user, scope)

    memory_agent_reset(actor=user, agent=world.cast.agent, reason="clean slate")

    remaining = set(brain_items(user, scope))
    assert remaining == {world.items["workspace"], world.items["sales"]}


@pytest.mark.parametrize("who", ROLES_AND_OTHERS)
def test_reset_permission_matrix(world, who):
    actor = world.cast.user(who)
    assert may_reset_agent(actor, world.cast.agent) is (who in MAY_RESET)
    if who in MAY_RESET:
        memory_agent_reset(actor=actor, agent=world.cast.agent, reason="ok")
        assert world.personal()[0].status == Status.EXPIRED
    else:
        assert_refused(
            lambda: memory_agent_reset(actor=actor, agent=world.cast.agent, reason="no"),
            Forbidden,
        )


def test_a_team_admin_may_not_reset_an_agent_of_another_team(world):
    assert_refused(
        lambda: memory_agent_reset(
            actor=world.cast.user("team_admin"), agent=world.mkt_agent, reason="no"
        ),
        Forbidden,
    )


def test_an_agent_may_not_reset_a_brain_not_even_its_own(world):
    assert_refused(
        lambda: memory_agent_reset(actor=world.cast.agent, agent=world.cast.agent, reason="x"),
        Forbidden,
    )


@pytest.mark.parametrize("reason", ["", "   ", None, 42, "x" * 501])
def test_reset_needs_a_reason_of_at_most_500_characters(world, reason):
    error = assert_refused(
        lambda: memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason=reason),
        ValidationFailed,
    )
    assert "reason" in error.fields


def test_the_reset_reason_is_masked_in_the_audit_trail(world):
    memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason="asked by jane.doe@example.com")

    event = AuditEvent.objects.filter(action="memory.agent_reset").get()
    assert "jane.doe@example.com" not in event.reason


def test_another_agents_memories_and_other_workspaces_are_untouched(world):
    other = MemoryItemFactory(
        workspace=world.cast.other_workspace, tier="personal", agent=world.cast.other_agent
    )

    memory_agent_reset(actor=SYSTEM, agent=world.cast.agent, reason="clean slate")

    other.refresh_from_db()
    assert other.status == Status.APPROVED
    assert type(other).objects.get(pk=world.items["mkt_own"].pk).status == Status.APPROVED
