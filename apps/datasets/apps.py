from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import AppConfig, apps


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"
    verbose_name = "Training datasets"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """A version's name is free text: masked. The filter holds ids, slugs, dates and a flag
    (checked on write); the snapshot ids and a time. A chunk holds the file: rows built from
    masked fields, masked again and every token reduced to its type at build time."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("datasets.DatasetVersion", "name")
    register_exempt_fields(
        "datasets.DatasetVersion",
        ("format", "status", "filter", "snapshot", "sha256", "error"),
        reason="fixed vocabularies, a filter of ids, slugs (screened), dates and a flag, "
        "snapshot ids and a time, a hex digest, an exception's class name",
    )
    register_exempt_fields(
        "datasets.DatasetChunk",
        ("data",),
        reason="the built file: every text re-masked with the workspace's policy and each "
        "token reduced to its type at build time (apps.datasets.rows); erasure deletes the "
        "version instead of scrubbing it",
    )

    register_exempt_fields(
        "datasets.DatasetSubjectToken",
        ("token",),
        reason="a hash or encrypted token copied from the masked text a build read (never a "
        "raw value), kept so erasure finds the version",
    )


def register_audit() -> None:
    """A version is created (datasets.build / datasets.rebuild) by a person and finished by
    the worker (datasets.build_ready / build_fail); progress columns are telemetry. The file's
    chunks are the worker's output, covered by the version's events."""
    from apps.audit.reconcile import governed_model_register

    governed_model_register(
        "datasets.datasetversion", ignore={"rows_done", "rows_total", "started_at", "updated_at"}
    )
    for label in ("datasets.datasetchunk", "datasets.datasetsubjecttoken"):
        governed_model_register(
            label,
            log=True,
            subject=lambda row: ("datasets.datasetversion", str(row["version_id"])),
        )


def register_compliance() -> None:
    """Erasure deletes every version (and so its file) holding a row about the data subject:
    found by the hash and encrypted tokens of the text a build read (DatasetSubjectToken),
    by fingerprints copied from its sources, and by searching the file's text for
    identifiers kept in clear (external ids). A version is
    immutable, so it is deleted, not scrubbed; build a new one afterwards (docs/evaluation.md).
    Retention deletes versions past their age."""
    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.registry import (
        ErasureTarget,
        RetentionTarget,
        by_workspace,
        register_erasure_target,
        register_retention_target,
    )

    register_erasure_target(
        ErasureTarget("datasets.DatasetVersion", ("name",), by_workspace(), action="delete")
    )
    register_erasure_target(
        ErasureTarget(
            "datasets.DatasetChunk",
            ("data",),
            by_workspace("version__workspace_id"),
            action="delete",
            root=("datasets.DatasetVersion", "version_id"),
        )
    )
    register_erasure_target(
        ErasureTarget(
            "datasets.DatasetSubjectToken",
            ("token",),
            by_workspace("version__workspace_id"),
            action="delete",
            root=("datasets.DatasetVersion", "version_id"),
        )
    )
    register_retention_target(
        RetentionTarget(
            "datasets.DatasetVersion", "Training datasets (with their files)", 365, _built_before
        )
    )


def _built_before(workspace_id: int, cutoff: dt.datetime) -> Any:
    model = apps.get_model("datasets.DatasetVersion")
    return model._base_manager.filter(workspace_id=workspace_id, created_at__lt=cutoff)
