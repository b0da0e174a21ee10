"""The write policy in a real browser: an owner edits the rules, sees the preview of what the
change would have done to last week's writes, and saves it as a new version; a reviewer sees
the policy and its history but no edit or restore button."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.memories import services
from apps.memories.models import Tier, WritePolicyVersion
from tests.memories.api_world import make_item


def test_an_owner_previews_and_saves_a_reviewer_only_reads(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    # given: the default rules, and a sure personal note of yesterday (approved at once now)
    policy = services.write_policy_for(cast.workspace)
    make_item(
        cast.workspace,
        tier=Tier.PERSONAL,
        agent=cast.agent,
        created_by_agent=cast.agent,
        confidence=0.9,
        created_at=timezone.now() - datetime.timedelta(days=1),
    )
    page = admin_login("owner")

    # when: the owner opens the policy from the sidebar and edits the personal rule
    page.get_by_role("link", name="Write policy").first.click()
    page.get_by_role("link", name=str(cast.workspace)).first.click()
    page.get_by_test_id("write-policy-rules").wait_for()
    assert (
        page.get_by_test_id("write-policy-rules")
        .get_by_text("personal tier, confidence >= 0.8")
        .is_visible()
    )
    page.get_by_test_id("write-policy-edit").click()
    page.get_by_test_id("write-policy-edit-page").wait_for()
    page.locator("input[name=rule-0-min_confidence]").fill("0.95")
    page.get_by_label("Reason").fill("Only very sure personal notes skip review")
    page.get_by_role("button", name="Preview the change").click()
    page.get_by_test_id("write-policy-confirm").wait_for()

    # then: the confirm page says what changes and what it would have done; nothing saved yet
    diff = page.get_by_test_id("policy-diff")
    assert diff.get_by_text("- approve at once: personal tier, confidence >= 0.8").is_visible()
    assert diff.get_by_text("+ approve at once: personal tier, confidence >= 0.95").is_visible()
    assert page.get_by_test_id("to-review").inner_text() == "1"
    assert page.get_by_test_id("approved-before").inner_text() == "1"
    assert page.get_by_test_id("approved-after").inner_text() == "0"
    assert page.get_by_test_id("preview-sample").is_visible()
    assert not WritePolicyVersion.objects.exists()

    # when: saved
    page.get_by_role("button", name="Save this policy").click()

    # then: version 1, in the history with its reason, audited
    page.get_by_text("Saved: the write policy is now version 1").wait_for()
    history = page.get_by_test_id("write-policy-history")
    assert history.get_by_text("Only very sure personal notes skip review").is_visible()
    policy.refresh_from_db()
    assert {"tier": "personal", "min_confidence": 0.95} in policy.rules["auto_approve"]
    version = WritePolicyVersion.objects.get()
    assert (version.number, version.actor_label) == (1, cast.user("owner").username)
    assert AuditEvent.objects.filter(
        action="memory.write_policy_update", reason="Only very sure personal notes skip review"
    ).exists()

    # when: a reviewer looks at the same page
    page.context.clear_cookies()
    page = admin_login("reviewer")
    page.goto(f"{live_server.url}/admin/memories/writepolicy/{policy.pk}/change/")
    page.get_by_test_id("write-policy-history").wait_for()

    # then: the rules and the history, no button to change them
    assert (
        page.get_by_test_id("write-policy-rules")
        .get_by_text("personal tier, confidence >= 0.95")
        .is_visible()
    )
    assert page.get_by_test_id("version-1").is_visible()
    assert page.get_by_test_id("write-policy-edit").count() == 0
    assert page.get_by_test_id("restore-1").count() == 0
    response = page.goto(f"{live_server.url}/admin/memories/writepolicy/{policy.pk}/rules/")
    assert response is not None and response.status == 403
