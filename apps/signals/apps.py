from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig, apps


class SignalsConfig(AppConfig):
    name = "apps.signals"
    label = "signals"
    verbose_name = "Traces, feedback and outcomes"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()


def register_pii_fields() -> None:
    """Tasks, outputs, explanations and edits are free text; steps, tool calls and experiment
    assignments are JSON an agent sends: all masked. Stages and a custom kind's name are slugs,
    refused (not masked) when they hold personal data; contacts, accounts and experiment units
    are stored as keyed hashes only."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    for field in ("task", "output"):
        register_masked_field("signals.Trace", field)
    for field in ("steps", "tool_calls", "experiment_assignments"):
        register_masked_field("signals.Trace", field, kind="json")
    for field in ("explanation", "edited_output", "diff"):
        register_masked_field("signals.Feedback", field)
    register_exempt_fields(
        "signals.Trace",
        ("model_name", "task_kind", "status", "policy_versions"),
        reason=(
            "a model identifier and a task-kind slug (screened on write: refused if they hold "
            "personal data), a fixed "
            "vocabulary, and version references built from checked rows of the workspace"
        ),
    )
    register_exempt_fields("signals.Feedback", ("kind",), reason="a fixed vocabulary")
    for field in ("content", "proposed_content"):
        register_masked_field("signals.LearningCandidate", field)
    register_exempt_fields(
        "signals.LearningCandidate",
        ("memory_type", "status"),
        reason="fixed vocabularies (a memory type key, a status)",
    )
    register_exempt_fields(
        "signals.Outcome",
        (
            "kind",
            "currency",
            "account_hash",
            "contact_hash",
            "experiment_unit_hash",
            "idempotency_key",
        ),
        reason="fixed vocabularies (kind, ISO currency) and keyed HMAC-SHA256 digests",
    )
    register_exempt_fields(
        "signals.Outcome",
        ("custom_kind", "from_stage", "to_stage"),
        reason="slugs, screened on write: refused when they hold personal data",
    )


def register_audit() -> None:
    """Traces, feedback and outcomes are records of what happened, not decisions: inserted in
    bulk by the ingestion services, which write one audit event per batch. Learning
    candidates are audited by the learning event of their batch (`after["ids"]`) or their
    proposal; their evidence rows on their candidate; the thresholds on their own row."""
    from apps.audit.reconcile import event_rows_register, governed_model_register

    for label in ("signals.trace", "signals.feedback", "signals.outcome"):
        governed_model_register(label, log=True)
    governed_model_register("signals.learningcandidate")
    governed_model_register(
        "signals.candidateevidence",
        subject=lambda row: ("signals.learningcandidate", str(row["candidate_id"])),
    )
    governed_model_register("signals.learningsettings")
    event_rows_register("signals.feedback_learn", _candidates_of_event)


def _candidates_of_event(event: dict[str, Any]) -> list[tuple[str, str]]:
    """signals.feedback_learn is an event on the workspace naming the candidates it touched."""
    after = event.get("after") if isinstance(event.get("after"), dict) else {}
    return [("signals.learningcandidate", str(pk)) for pk in (after or {}).get("candidates", [])]


def register_compliance() -> None:
    """Erasure scrubs a data subject's tokens out of the masked free text and the JSON (steps,
    tool calls, experiment assignments), and unlinks outcomes from the subject's contact,
    account or experiment-unit hash (the field is emptied, the event kept: see
    docs/compliance.md). Retention deletes traces, feedback and outcomes past their age."""
    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import (
        ErasureTarget,
        RetentionTarget,
        by_workspace,
        register_erasure_target,
        register_retention_target,
    )

    for label, fields in (
        ("signals.Trace", ("task", "output")),
        ("signals.Feedback", ("explanation", "edited_output", "diff")),
        ("signals.LearningCandidate", ("content", "proposed_content")),
    ):
        register_linked_fields(label, fields)
    register_erasure_target(
        ErasureTarget(
            "signals.Trace",
            ("task", "output", *TRACE_JSON_FIELDS),
            by_workspace(),
            action="scrub",
        )
    )
    register_erasure_target(
        ErasureTarget(
            "signals.Feedback",
            ("explanation", "edited_output", "diff"),
            by_workspace(),
            action="scrub",
        )
    )
    register_erasure_target(
        ErasureTarget(
            "signals.LearningCandidate",
            ("content", "proposed_content"),
            by_workspace(),
            action="scrub",
        )
    )
    register_erasure_target(
        ErasureTarget(
            "signals.Outcome",
            OUTCOME_HASH_FIELDS,
            by_workspace(),
            action="scrub",
            needles=outcome_subject_hashes,
            replacement="",
        )
    )
    for key, title, days in (
        ("signals.Trace", "Traces (with their feedback; outcomes are unlinked)", 365),
        ("signals.Feedback", "Feedback on traces", 365),
        ("signals.Outcome", "Outcome events", 365),
    ):
        register_retention_target(RetentionTarget(key, title, days, _stored_before(key)))
    register_retention_target(
        RetentionTarget(
            "signals.LearningCandidate",
            "Learning candidates (not changed since; their evidence goes with its feedback)",
            365,
            _candidates_idle_since,
        )
    )


def _candidates_idle_since(workspace_id: int, cutoff: dt.datetime) -> Any:
    """Candidates no new evidence reached since the cutoff. The memory a candidate proposed
    stays (it is the memories' to expire); only the cluster and its links go."""
    model = apps.get_model("signals.LearningCandidate")
    return model._base_manager.filter(workspace_id=workspace_id, updated_at__lt=cutoff)


TRACE_JSON_FIELDS = ("steps", "tool_calls", "experiment_assignments")
OUTCOME_HASH_FIELDS = ("contact_hash", "account_hash", "experiment_unit_hash")
OUTCOME_HASH_KINDS = {
    "contact_hash": "contact",
    "account_hash": "account",
    "experiment_unit_hash": "unit",
}


def outcome_subject_hashes(subject: Any) -> list[str]:
    """The keyed hashes an outcome would hold for the subject: each of its identifiers (the
    e-mail and phone in the engine's normal form, external ids as given) hashed as a contact,
    an account and an experiment unit, exactly as apps.signals.services.subject_hash does."""
    from apps.signals.services import subject_hash

    values = {value for items in subject.values.values() for value in items}
    return sorted(
        subject_hash(kind, value) for value in values for kind in OUTCOME_HASH_KINDS.values()
    )


def _stored_before(model_label: str) -> Callable[[int, dt.datetime], Any]:
    """Rows of the workspace stored (created_at) before the cutoff: retention counts from when
    Steward received a record, so a late outcome or a backdated trace is kept its full term."""

    def expired(workspace_id: int, cutoff: dt.datetime) -> Any:
        model = apps.get_model(model_label)
        return model._base_manager.filter(workspace_id=workspace_id, created_at__lt=cutoff)

    return expired
