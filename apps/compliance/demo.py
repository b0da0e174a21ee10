"""Demo compliance data: default retention rules for every workspace; in Acme one completed
erasure (dry run by the owner, approved by the admin, executed), in Globex one waiting for a
second person's approval; in each a finished audit-trail export by its auditor."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.compliance import erasure, exports
from apps.compliance.models import ErasureRequest, ExportJob
from apps.compliance.retention import retention_rules_ensure
from apps.memories import services as memories
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

DEMO_SUBJECT = "jordan.miles@example.net"
WAITING_SUBJECT = "felix.wagner@fabrikam.example.org"
SEED_ACTOR = Principal.system("demo-seed")


def seed_compliance() -> None:
    for workspace in Workspace.objects.filter(slug__in=["acme", "globex"]):
        retention_rules_ensure(workspace)
        _finished_export(workspace)
    _waiting_erasure()
    acme = Workspace.objects.filter(slug="acme").first()
    users = get_user_model().objects
    owner = users.filter(username="acme-owner").first()
    admin = users.filter(username="acme-admin").first()
    if acme is None or owner is None or admin is None:
        return
    if ErasureRequest.objects.filter(workspace=acme).exists():
        return
    memories.memory_write(
        actor=SEED_ACTOR,
        workspace=acme,
        content=f"Jordan ({DEMO_SUBJECT}) asked to be contacted only by e-mail.",
        type="preference",
        tier="workspace",
    )
    request = erasure.erasure_request_create(
        actor=owner,
        workspace=acme,
        emails=[DEMO_SUBJECT],
        reason="Demo: subject asked to be forgotten",
    )
    erasure.erasure_request_approve(actor=admin, request=request, reason="Verified identity")
    erasure.erasure_execute(request_id=request.pk)


def _finished_export(workspace: Workspace) -> None:
    """The auditor exported the trail (CSV) and the export ran (inline here; the queued task
    finds it done)."""
    auditor = get_user_model().objects.filter(username=f"{workspace.slug}-auditor").first()
    if auditor is None or ExportJob.objects.filter(workspace=workspace).exists():
        return
    job = exports.export_job_start(actor=auditor, workspace=workspace, format="csv")
    exports.export_execute(job_id=job.pk)


def _waiting_erasure() -> None:
    """Globex's owner asked to forget a contact; the dry run waits for the admin."""
    globex = Workspace.objects.filter(slug="globex").first()
    owner = get_user_model().objects.filter(username="globex-owner").first()
    if globex is None or owner is None or ErasureRequest.objects.filter(workspace=globex).exists():
        return
    written = memories.memory_write(
        actor=SEED_ACTOR,
        workspace=globex,
        content=f"Felix Wagner ({WAITING_SUBJECT}) left Fabrikam; route renewals to procurement.",
        type="account_context",
        tier="workspace",
        entities={"account": "fabrikam"},
        source="import",
    )
    if written.item.status == "proposed":
        memories.memory_approve(actor=SEED_ACTOR, item=written.item, reason="CRM import")
    erasure.erasure_request_create(
        actor=owner,
        workspace=globex,
        emails=[WAITING_SUBJECT],
        reason="Subject's request received by e-mail on the 3rd",
    )
