"""The demo gives Acme an exported DPO dataset of its people's edits, built through the
service; seeding twice adds nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from apps.core.demo import seed_demo
from apps.datasets import services
from apps.datasets.models import DatasetStatus, DatasetVersion
from apps.signals.models import Feedback
from tests.conftest import SYSTEM
from tests.datasets.conftest import file_rows

pytestmark = pytest.mark.django_db


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_the_demo_dataset_and_seeding_twice_adds_nothing():
    seed_demo(month_days=3)
    seed_demo(month_days=3)

    [version] = DatasetVersion.objects.all()
    assert version.workspace.slug == "acme" and version.format == "trl_dpo"
    assert version.status == DatasetStatus.READY and version.created_by.username == "acme-owner"
    data = b"".join(services.dataset_download(actor=SYSTEM, version=version))
    assert hashlib.sha256(data).hexdigest() == version.sha256
    edits = Feedback.objects.filter(workspace__slug="acme").exclude(edited_output="")
    rows = file_rows(version)
    assert rows and len(rows) <= edits.count()
    assert {row["metadata"]["source"] for row in rows} == {"human_edit"}
    assert {row["metadata"]["feedback_id"] for row in rows} <= set(
        edits.values_list("pk", flat=True)
    )
