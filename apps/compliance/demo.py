"""Demo compliance data: default retention rules for every workspace and, in Acme, one
completed erasure (dry run by the owner, approved by the admin, executed)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.compliance import erasure
from apps.compliance.models import ErasureRequest
from apps.compliance.retention import retention_rules_ensure
from apps.memories import services as memories
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

DEMO_SUBJECT = "jordan.miles@example.net"
SEED_ACTOR = Principal.system("demo-seed")


def seed_compliance() -> None:
    for workspace in Workspace.objects.filter(slug__in=["acme", "globex"]):
        retention_rules_ensure(workspace)
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
