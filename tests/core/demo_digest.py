"""A fingerprint of the demo's content, to compare two seeds: counts per workspace and a
SHA-256 over what each memory, review request, context assembly, trace, feedback and outcome
says and when (as an offset from its workspace's creation, so a seed on another day compares
equal). Encrypted
values (`<ENC:...>`) carry a random nonce by design and are compared as `<ENC>`."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

from django.db.models import Count

from apps.audit.models import AuditEvent
from apps.memories.models import ContextAssembly, MemoryItem, MemoryVersion
from apps.reviews.models import ReviewRequest
from apps.signals.models import Feedback, Outcome, Trace
from apps.workspaces.models import Workspace

ENC = re.compile(r"<ENC:[^>]+>")


def _text(value: str) -> str:
    return ENC.sub("<ENC>", value)


def demo_digest(
    slugs: tuple[str, ...] = ("acme", "globex"), rows: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Counts and a digest per workspace; `rows`, when given, receives what was digested
    (workspace -> section -> rows) so a test can show where two seeds differ."""
    out: dict[str, Any] = {}
    for workspace in Workspace.objects.filter(slug__in=slugs).order_by("slug"):
        zero = workspace.created_at

        def offset(when: Any, zero: Any = zero) -> float:
            return round((when - zero).total_seconds(), 3)

        items = MemoryItem.objects.filter(workspace=workspace).select_related(
            "type", "agent", "team"
        )
        memory_rows = sorted(
            (
                offset(m.created_at),
                m.tier,
                m.type.key,
                m.status,
                _text(m.content),
                m.version,
                m.evidence_count,
                sorted(m.entities.items()),
                m.agent.slug if m.agent else "",
                m.team.slug if m.team else "",
                m.deleted_at is not None,
            )
            for m in items
        )
        requests = sorted(
            (
                offset(r.created_at),
                r.kind,
                r.status,
                r.decision,
                _text(r.memory.content) if r.memory else "",
            )
            for r in ReviewRequest.objects.filter(workspace=workspace).select_related("memory")
        )
        assemblies = sorted(
            (offset(a.created_at), a.agent.slug, a.trace_id, _text(a.task_text), a.n)
            for a in ContextAssembly.objects.filter(workspace=workspace)
            .select_related("agent")
            .annotate(n=Count("items"))
        )
        traces = sorted(
            (
                offset(t.started_at),
                t.agent.slug,
                t.task_kind,
                t.status,
                _text(t.task),
                _text(t.output),
                t.context_assembly.task_text if t.context_assembly else "",
                str(t.cost),
            )
            for t in Trace.objects.filter(workspace=workspace).select_related(
                "agent", "context_assembly"
            )
        )
        feedback = sorted(
            (offset(f.created_at), f.kind, f.rating or 0, _text(f.explanation), _text(f.diff))
            for f in Feedback.objects.filter(workspace=workspace)
        )
        outcomes = sorted(
            (offset(o.occurred_at), o.kind, o.custom_kind, o.to_stage, str(o.amount))
            for o in Outcome.objects.filter(workspace=workspace)
        )
        actions = Counter(
            AuditEvent.objects.filter(workspace_id=workspace.pk).values_list("action", flat=True)
        )
        sections = {
            "memories": memory_rows,
            "reviews": requests,
            "assemblies": assemblies,
            "traces": traces,
            "feedback": feedback,
            "outcomes": outcomes,
            "events": sorted(actions.items()),
        }
        if rows is not None:
            rows[workspace.slug] = json.loads(json.dumps(sections))
        body = json.dumps(list(sections.values()))
        out[workspace.slug] = {
            "memories": len(memory_rows),
            "versions": MemoryVersion.objects.filter(item__workspace=workspace).count(),
            "reviews": len(requests),
            "assemblies": len(assemblies),
            "traces": len(traces),
            "feedback": len(feedback),
            "outcomes": len(outcomes),
            "events": sum(actions.values()),
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
        }
    return out
