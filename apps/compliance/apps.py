from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import AppConfig, apps
from django.db.models import Q


class ComplianceConfig(AppConfig):
    name = "apps.compliance"
    label = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from apps.compliance import fingerprints
        from apps.privacy.policies import MASK_OBSERVERS
        from apps.privacy.saved import SAVED_OBSERVERS

        if fingerprints.on_mask not in MASK_OBSERVERS:
            MASK_OBSERVERS.append(fingerprints.on_mask)
        if fingerprints.link_rows not in SAVED_OBSERVERS:
            SAVED_OBSERVERS.append(fingerprints.link_rows)
        register_linked()
        register_erasure()
        register_retention()
        register_pii_fields()


def register_linked() -> None:
    """The fields whose masked text gets fingerprints linked to its row. The services that save
    them call apps.privacy.saved.masked_rows_saved: memories (writes, lifecycle, versions), the
    context selector, agents (workspaces.services) and review decisions (reviews.services)."""
    from apps.compliance.fingerprints import register_linked_fields

    register_linked_fields("memories.MemoryItem", ("content", "source_trace_id"))
    register_linked_fields("memories.MemoryVersion", ("content", "reason", "actor_label"))
    register_linked_fields("memories.ContextAssembly", ("task_text", "trace_id"))
    register_linked_fields("workspaces.Agent", ("description",))
    if apps.is_installed("apps.reviews"):
        register_linked_fields("reviews.ReviewRequest", ("reason",))


def register_pii_fields() -> None:
    """Compliance's text fields in the PII field registry (apps.privacy.registry)."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("compliance.ErasureRequest", "reason")
    register_masked_field("compliance.ExportJob", "filters", kind="json")
    register_exempt_fields(
        "compliance.PiiFingerprint",
        ("fingerprint", "entity_type", "model_label", "field_name", "token"),
        reason="keyed fingerprints, labels and the masked token (never a raw value)",
    )
    register_exempt_fields(
        "compliance.ErasureRequest",
        ("status", "subject_label", "subject_fingerprints", "plan", "result", "error"),
        reason="a status, the subject's masked label and fingerprints, counts and ids, a class "
        "name",
    )
    register_exempt_fields(
        "compliance.ErasureRequest",
        ("sealed_subject",),
        reason="the subject's identifiers, encrypted until the request closes, then wiped",
    )
    register_exempt_fields(
        "compliance.RetentionRule", ("target", "last_error"), reason="a registry key, a sentence"
    )
    register_exempt_fields(
        "compliance.ExportJob",
        ("format", "status", "verification", "error"),
        reason="a choice, chain verification results, an exception class name",
    )
    register_exempt_fields(
        "compliance.ExportChunk",
        ("data",),
        reason="audit events exactly as stored (masked when written); deleted after 30 days",
    )


def _idempotency_scope(queryset: Any, workspace_id: int) -> Any:
    """Stored answers of the workspace's agents and members (records carry no workspace)."""
    from apps.workspaces.models import Agent, Membership

    agents = Agent.objects.filter(workspace_id=workspace_id).values_list("pk", flat=True)
    users = Membership.objects.filter(workspace_id=workspace_id).values_list("user_id", flat=True)
    return queryset.filter(
        Q(principal_kind="agent", principal_id__in=[str(pk) for pk in agents])
        | Q(principal_kind="user", principal_id__in=[str(pk) for pk in users])
    )


def register_erasure() -> None:
    from apps.compliance.registry import ErasureTarget, by_workspace, register_erasure_target

    item_root = ("memories.MemoryItem", "item_id")
    for target in (
        ErasureTarget(
            "memories.MemoryItem",
            ("content", "source_trace_id", "tags", "entities", "provenance"),
            by_workspace(),
        ),
        ErasureTarget(
            "memories.MemoryVersion",
            ("content", "reason", "actor_label", "tags", "entities"),
            by_workspace("item__workspace_id"),
            root=item_root,
        ),
        ErasureTarget(
            "memories.ContextAssembly", ("task_text", "trace_id", "filters"), by_workspace()
        ),
        ErasureTarget("core.IdempotencyRecord", ("response_body", "path"), _idempotency_scope),
        ErasureTarget("workspaces.Agent", ("description",), by_workspace(), action="scrub"),
        ErasureTarget(
            "audit.AuditEvent",
            ("before", "after", "reason", "object_repr", "actor_label"),
            by_workspace(),
            action="keep",
        ),
        ErasureTarget("privacy.PiiScanJob", ("error",), by_workspace(), action="scrub"),
        ErasureTarget(
            "compliance.ExportChunk",
            ("data",),
            by_workspace("job__workspace_id"),
            root=("compliance.ExportJob", "job_id"),
        ),
    ):
        register_erasure_target(target)
    register_erasure_target(ErasureTarget("compliance.ExportJob", ("filters",), by_workspace()))
    if apps.is_installed("apps.reviews"):
        register_erasure_target(
            ErasureTarget("reviews.ReviewRequest", ("details", "reason"), by_workspace())
        )
        register_erasure_target(
            ErasureTarget(
                "reviews.EditPair",
                ("original", "edited", "diff"),
                by_workspace("request__workspace_id"),
            )
        )


def _older(model_label: str, date_field: str, **extra: Any) -> Any:
    def expired(workspace_id: int, cutoff: dt.datetime) -> Any:
        model = apps.get_model(model_label)
        return model._base_manager.filter(
            workspace_id=workspace_id, **{f"{date_field}__lt": cutoff}, **extra
        )

    return expired


def _inactive_memories(workspace_id: int, cutoff: dt.datetime) -> Any:
    from apps.memories.models import MemoryItem

    inactive = Q(status__in=["expired", "archived", "rejected", "superseded"]) | Q(
        deleted_at__isnull=False
    )
    return MemoryItem._base_manager.filter(
        inactive, workspace_id=workspace_id, updated_at__lt=cutoff
    )


def _audit_prune_problem() -> str:
    try:
        from apps.audit.chain import audit_events_prune  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return "disabled: the audit trail's pruning API (apps.audit.chain) is not installed"
    return ""


def _audit_prune(actor: Any, workspace_id: int, cutoff: dt.datetime) -> int:
    from apps.audit.chain import audit_events_prune  # type: ignore[import-not-found,unused-ignore]

    return int(audit_events_prune(actor=actor, workspace_id=workspace_id, before=cutoff))


def register_retention() -> None:
    from apps.compliance.registry import RetentionTarget, register_retention_target

    for target in (
        RetentionTarget(
            "memories.ContextAssembly",
            "Context assemblies",
            180,
            _older("memories.ContextAssembly", "created_at"),
        ),
        RetentionTarget(
            "memories.MemoryItem.inactive",
            "Expired, archived, rejected, superseded and forgotten memories",
            365,
            _inactive_memories,
        ),
        RetentionTarget(
            "audit.AuditEvent",
            "Audit events",
            2557,
            _older("audit.AuditEvent", "created_at"),
            prune=_audit_prune,
            available=_audit_prune_problem,
        ),
        RetentionTarget(
            "privacy.PiiScanJob",
            "Finished PII re-scans",
            365,
            _older("privacy.PiiScanJob", "created_at", status__in=["done", "failed"]),
        ),
        RetentionTarget(
            "compliance.ExportJob",
            "Audit exports",
            30,
            _older("compliance.ExportJob", "created_at", status__in=["done", "failed"]),
        ),
        RetentionTarget(
            "compliance.ErasureRequest",
            "Closed erasure requests",
            2557,
            _older("compliance.ErasureRequest", "created_at", status__in=["done", "rejected"]),
        ),
    ):
        register_retention_target(target)
