"""Every change of a dataset version is on record (the reconciler): creating and building,
rebuilding, a failed build, retention's prune and erasure's deletion, with the file's chunks
and tokens covered by their version's events."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compliance import erasure, retention
from apps.compliance.models import RetentionRule
from apps.datasets import services
from apps.datasets.models import DatasetVersion
from apps.privacy.services import privacy_policy_update
from tests.audit.reconciling import reconcile
from tests.compliance.conftest import fresh_privacy_caches  # noqa: F401
from tests.conftest import SYSTEM
from tests.datasets.conftest import built, give_feedback, post_trace

EMAIL = "jane.doe@example.com"


def _world(cast) -> None:
    for n in range(3):
        trace = post_trace(cast, task=f"Write to {EMAIL} ({n})", output=f"draft {n}")
        give_feedback(cast, trace.pk, edited_output=f"final {n}")


def test_build_rebuild_download_and_fail_are_all_on_record(cast):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash"})
    _world(cast)
    holder: dict[str, DatasetVersion] = {}

    def build_and_rebuild() -> None:
        holder["v"] = built(cast, "trl_dpo", actor=cast.user("owner"))
        copy = services.dataset_version_rebuild(actor=cast.user("admin"), version=holder["v"])
        services.dataset_build(version_id=copy.pk)
        copy.refresh_from_db()
        b"".join(services.dataset_download(actor=cast.user("owner"), version=copy))
        failing = services.dataset_version_create(
            actor=cast.user("owner"), workspace=cast.workspace, name="x", format="trl_dpo"
        )
        services.dataset_build_claim(failing.pk)
        services.dataset_build_fail(failing.pk, RuntimeError("boom"))

    result = reconcile(build_and_rebuild)

    assert result.missing == []
    assert result.count("datasets.datasetversion") == 3
    assert result.count("datasets.datasetchunk") == 2
    assert result.count("datasets.datasetsubjecttoken") == 2
    actions = list(
        AuditEvent.objects.filter(action__startswith="datasets.").values_list("action", flat=True)
    )
    assert sorted(actions) == sorted(
        [
            "datasets.build",
            "datasets.build_ready",
            "datasets.rebuild",
            "datasets.build_ready",
            "datasets.download",
            "datasets.build",
            "datasets.build_fail",
        ]
    )


def test_erasure_and_retention_deletions_are_on_record(cast):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "hash"})
    _world(cast)
    erased, old = built(cast, "trl_dpo"), built(cast, "trl_dpo", {"started_until": "2000-01-01"})
    DatasetVersion.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )

    def erase() -> None:
        request = erasure.erasure_request_create(
            actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL], reason="art. 17"
        )
        erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
        erasure.erasure_execute(request_id=request.pk)

    result = reconcile(erase)
    assert result.missing == [] and not DatasetVersion.objects.filter(pk=erased.pk).exists()

    retention.retention_rules_ensure(cast.workspace)
    assert RetentionRule.objects.filter(target="datasets.DatasetVersion").exists()
    result = reconcile(retention.retention_enforce_all)
    assert result.missing == [] and not DatasetVersion.objects.filter(pk=old.pk).exists()
