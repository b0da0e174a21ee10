"""The auditor reads memories, privacy pages and compliance records in the admin and changes
nothing: no write controls, no bulk actions, POSTs refused. Writers keep their rights."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.memories import services as memories
from apps.memories.models import MemoryItem
from apps.privacy.models import PrivacyPolicy
from apps.privacy.services import policy_for_workspace


@pytest.fixture
def item(cast):
    return memories.memory_write(
        actor=cast.user("owner"),
        workspace=cast.workspace,
        content="Prefers mornings",
        type="preference",
        tier="workspace",
    ).item


@pytest.mark.parametrize(
    ("who", "may_change"),
    [("auditor", False), ("viewer", False), ("editor", True), ("admin", True), ("owner", True)],
)
def test_memory_page_is_read_only_for_auditors(client, cast, item, who, may_change):
    client.force_login(cast.user(who))
    url = reverse("admin:memories_memoryitem_change", args=[item.pk])

    page = client.get(url)
    posted = client.post(
        url,
        {
            "content": "Changed",
            "type": item.type_id,
            "importance": 0.5,
            "confidence": 0.5,
            "tags": "",
            "entities": "{}",
        },
    )

    assert page.status_code == 200
    assert (b'name="_save"' in page.content) is may_change
    item.refresh_from_db()
    if not may_change:
        assert posted.status_code == 403
        assert item.content == "Prefers mornings"


@pytest.mark.parametrize(
    ("who", "actions"), [("auditor", False), ("reviewer", True), ("editor", True)]
)
def test_auditors_get_no_bulk_actions_and_their_action_posts_are_refused(
    client, cast, item, who, actions
):
    client.force_login(cast.user(who))
    url = reverse("admin:memories_memoryitem_changelist")

    page = client.get(url)
    posted = client.post(url, {"action": "forget_selected", "_selected_action": [item.pk]})

    assert page.status_code == 200
    assert (b'name="action"' in page.content) is actions
    if not actions:
        assert posted.status_code == 403
        assert MemoryItem.objects.filter(pk=item.pk, deleted_at__isnull=True).exists()


@pytest.mark.parametrize(("who", "may_change"), [("auditor", False), ("admin", True)])
def test_privacy_policy_is_read_only_for_auditors(client, cast, who, may_change):
    policy = policy_for_workspace(cast.workspace)
    client.force_login(cast.user(who))
    url = reverse("admin:privacy_privacypolicy_change", args=[policy.pk])

    page = client.get(url)
    client.post(url, {"entities": ["EMAIL"], "default_operator": "redact", "phone_regions": "US"})

    assert page.status_code == 200
    assert (b'name="_save"' in page.content) is may_change
    if not may_change:
        assert PrivacyPolicy.objects.get(pk=policy.pk).default_operator == "placeholder"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("auditor", 200),
        ("admin", 200),
        ("owner", 200),
        ("operator", 200),
        ("reviewer", 403),
        ("editor", 403),
        ("viewer", 403),
        ("team_admin", 403),
        ("outsider", 200),
        ("nobody", 403),
    ],
)
def test_compliance_pages_are_for_those_who_may_audit(client, cast, who, status):
    client.force_login(cast.user(who))

    for name in ("erasurerequest", "retentionrule", "exportjob"):
        response = client.get(reverse(f"admin:compliance_{name}_changelist"))
        assert response.status_code == status, name


def test_outsiders_see_none_of_acmes_compliance_records(client, cast):
    from apps.compliance import erasure

    erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=["a.b@example.com"]
    )
    client.force_login(cast.user("outsider"))

    page = client.get(reverse("admin:compliance_erasurerequest_changelist"))

    assert b"a***@example.com" not in page.content


@pytest.mark.parametrize("name", ["erasurerequest", "retentionrule", "exportjob"])
def test_changelist_queries_do_not_grow_with_rows(client, cast, name):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.compliance import erasure, exports

    def add_rows() -> None:
        erasure.erasure_request_create(
            actor=cast.user("owner"), workspace=cast.workspace, emails=["a.b@example.com"]
        )
        exports.export_job_start(actor=cast.user("auditor"), workspace=cast.workspace, format="csv")

    client.force_login(cast.user("auditor"))
    url = reverse(f"admin:compliance_{name}_changelist")
    add_rows()
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(3):
        add_rows()
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many) == len(few)
