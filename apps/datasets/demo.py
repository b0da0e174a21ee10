"""Demo dataset for `make run`: in the Acme workspace, a DPO dataset of the month's human
edits (chosen = the edit, rejected = the agent's output), created by the owner and built
synchronously through the same service the worker calls (apps.datasets.services). Idempotent:
a workspace with datasets is left alone."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.datasets import services
from apps.datasets.models import DatasetFormat, DatasetVersion
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-seed")
DEMO_NAME = "Follow-ups people edited (DPO)"


def seed_datasets() -> None:
    workspace = Workspace.objects.filter(slug="acme").first()
    if workspace is None or DatasetVersion.objects.filter(workspace=workspace).exists():
        return
    owner = get_user_model().objects.filter(username=f"{workspace.slug}-owner").first()
    version = services.dataset_version_create(
        actor=owner or SEED_ACTOR,
        workspace=workspace,
        name=DEMO_NAME,
        format=DatasetFormat.TRL_DPO,
        filter={"verified_only": True},
    )
    services.dataset_build(version_id=version.pk)
