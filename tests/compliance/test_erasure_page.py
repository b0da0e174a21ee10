"""The erasure request page as a person reads it: the dry run and the result as kinds of
records with counts and ids, not the stored JSON."""

from __future__ import annotations

from django.urls import reverse

from apps.compliance import erasure
from apps.compliance.admin import plan_text
from apps.memories.services import memory_write
from tests.conftest import SYSTEM


def test_the_dry_run_reads_as_records_and_counts(cast, client):
    memory_write(
        actor=SYSTEM,
        workspace=cast.workspace,
        content="Call back a.b@example.com on Monday",
        type="fact",
        tier="workspace",
    )
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=["a.b@example.com"]
    )
    client.force_login(cast.user("auditor"))

    page = client.get(
        reverse("admin:compliance_erasurerequest_change", args=[request.pk])
    ).content.decode()

    assert 'data-testid="plan-panel"' in page
    assert "To delete" in page
    assert "memory items" in page
    assert "&quot;count&quot;" not in page and '"count"' not in page
    assert "memories.memoryitem" not in page


def test_the_decision_page_states_the_dry_run_in_words(cast, client):
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=["nobody@example.com"]
    )
    client.force_login(cast.user("admin"))

    page = client.get(
        reverse("admin:compliance_erasurerequest_decide", args=[request.pk, "approve"])
    ).content.decode()

    assert "Dry run: nothing." in page
    assert "{" not in page.split("Dry run:", 1)[1][:40]


def test_plan_text_names_models_and_counts():
    plan = {"delete": {"memories.memoryitem": {"count": 2, "ids": [4, 7]}}, "scrub": {}}

    assert plan_text(plan) == "To delete: 2 memory items"
