"""The memory console in a real browser: an admin opens an agent's brain, expires an item,
reads why another was used, and resets the agent's personal memories via the confirmation
page; the database agrees with what the pages said."""

from __future__ import annotations

from typing import Any

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem, Status
from tests.memories.console_world import build_console_world


def test_an_admin_works_through_an_agents_brain(admin_login: Any, cast: Any) -> None:
    # given
    world = build_console_world(cast)
    coaching, used = world.items["own_coaching"], world.items["workspace"]
    page = admin_login("admin")

    # when: the agent's brain, from the sidebar's Brains page
    page.get_by_role("link", name="Brains").first.click()
    page.get_by_role("link", name="SDR Bot").click()

    # then: its memories by tier and type
    summary = page.get_by_test_id("brain-summary")
    assert summary.get_by_role("link", name="Coaching").is_visible()
    assert page.get_by_test_id(f"brain-item-{coaching.pk}").is_visible()

    # when: one item is expired, with a reason
    page.get_by_test_id(f"brain-item-{coaching.pk}").get_by_role("link", name="Expire").click()
    page.get_by_label("Reason").fill("superseded by the new playbook")
    page.get_by_role("button", name="Expire it").click()

    # then: back on the brain, without it
    page.get_by_text(f"Memory #{coaching.pk} expired").wait_for()
    assert page.get_by_test_id(f"brain-item-{coaching.pk}").count() == 0
    assert MemoryItem.objects.get(pk=coaching.pk).status == Status.EXPIRED

    # when: why was the workspace item used
    page.get_by_test_id(f"brain-item-{used.pk}").get_by_role("link", name="1 time").click()

    # then: the assembly, its task and its score breakdown
    uses = page.get_by_test_id("uses-page")
    assert uses.get_by_text("trace-console-1").is_visible()
    assert uses.get_by_text("Answer the pricing objection for Initech").is_visible()
    page.go_back()

    # when: the agent's personal memories are reset through the confirmation page
    page.get_by_test_id("reset-link").click()
    assert page.get_by_test_id("reset-count").inner_text() == "2"
    page.get_by_role("button", name="Reset the personal memories").click()
    page.get_by_text("This field is required").wait_for()  # no reason, nothing done
    page.get_by_label("Reason").fill("agent retrained")
    page.get_by_role("button", name="Reset the personal memories").click()

    # then
    page.get_by_text("2 personal memory(ies) expired").wait_for()
    assert {i.status for i in world.personal() if i.pk != world.items["own_rejected"].pk} == {
        Status.EXPIRED
    }
    assert AuditEvent.objects.filter(action="memory.agent_reset", reason="agent retrained").exists()
