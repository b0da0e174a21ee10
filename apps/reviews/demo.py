"""Demo review queue for `make run`: Acme's review settings, then each registered kind adds its
waiting requests (apps.reviews.kinds: `seed_demo`). Idempotent: a second run creates nothing
new."""

from __future__ import annotations

from django.db import transaction

from apps.reviews.kinds import review_kinds
from apps.reviews.models import ReviewSettings
from apps.workspaces.models import Workspace


@transaction.atomic
def seed_reviews() -> None:
    workspace = Workspace.objects.filter(slug="acme").first()
    if workspace is None:
        return
    ReviewSettings.objects.get_or_create(workspace=workspace, defaults={"sla_hours": 24})
    for kind in review_kinds():
        kind.seed_demo(workspace)
