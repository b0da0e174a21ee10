"""Reads of policies: an agent's resolved bundle (agent > team > workspace, label by label),
its ETag, an artifact's label history, and the checks that evaluate a bundle."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from jsonschema import Draft202012Validator

from apps.core.exceptions import NotFound
from apps.policies.models import (
    LEVEL_ORDER,
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    Label,
    LabelEvent,
    Level,
    PolicySettings,
)
from apps.policies.rules import Draft, evaluate
from apps.workspaces.models import Agent

MAX_SCHEMA_ERRORS = 50


@functools.cache
def _resolution_sql() -> str:
    """The labels named `label` on the artifacts that apply to an agent (its workspace's, its
    team's, its own) with their versions, as plain columns (the order below): written once per
    process, since compiling the same three-table ORM query cost more than running it. Both
    sides filter by the workspace, so the artifact side is an index scan of its workspace's
    rows; unordered (resolution sorts by name). A team of NULL matches no team artifact."""
    label, artifact, version = (m._meta.db_table for m in (Label, Artifact, ArtifactVersion))
    return (
        'SELECT a."kind", a."name", a."pack_kind", l."artifact_id", a."level", a."team_id", '  # noqa: S608 - table names from the models
        'a."agent_id", v."number", l."version_id", v."content_hash", v."content"::text '
        f'FROM "{label}" l INNER JOIN "{artifact}" a ON a."id" = l."artifact_id" '
        f'INNER JOIN "{version}" v ON v."id" = l."version_id" '
        'WHERE l."workspace_id" = %(workspace)s AND a."workspace_id" = %(workspace)s '
        'AND l."name" = %(label)s AND (a."level" = %(workspace_level)s '
        'OR (a."level" = %(team_level)s AND a."team_id" = %(team)s) '
        'OR (a."level" = %(agent_level)s AND a."agent_id" = %(agent)s))'
    )


def _label_rows(agent: Agent, label: str) -> list[tuple[Any, ...]]:
    params: dict[str, int | str | None] = {
        "workspace": agent.workspace_id,
        "label": label,
        "team": agent.team_id,
        "agent": agent.pk,
        "workspace_level": Level.WORKSPACE.value,
        "team_level": Level.TEAM.value,
        "agent_level": Level.AGENT.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_resolution_sql(), params)
        return list(cursor.fetchall())


# Read with the agent's token (BundleView.token_joined, AgentTokenAuthentication): no query
# of its own. A scalar subquery, not a join: PostgreSQL plans it in half the time. A workspace
# with no settings row has had no label moved: revision 0.
REVISION_WITH_TOKEN = (
    f'COALESCE((SELECT ps."revision" FROM "{PolicySettings._meta.db_table}" ps '  # noqa: S608 - table name from the model
    'WHERE ps."workspace_id" = a."workspace_id"), 0)',
    "",
)


def bundle_etag(agent: Agent, label: str, revision: int | None = None) -> str:
    """Changes whenever what the bundle could return changes: the workspace's label revision
    (bumped by every label move, in its transaction), the agent and its team, the label.
    `revision` as read with the caller's token (REVISION_WITH_TOKEN), else one indexed lookup, so
    polling with If-None-Match stays cheap; a move elsewhere in the workspace changes it too
    (a spare 200, never a stale 304)."""
    if revision is None:
        revision = (
            PolicySettings.objects.filter(workspace_id=agent.workspace_id)
            .values_list("revision", flat=True)
            .first()
        )
    key = f"{agent.workspace_id}:{revision or 0}:{agent.pk}:{agent.team_id}:{label}"
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


@dataclass
class BundleEntry:
    kind: str
    name: str
    pack_kind: str
    artifact: int
    version: int
    version_id: int
    label: str
    content: dict[str, Any]
    content_hash: str
    source: str
    team: int | None
    agent: int | None
    overrides: list[dict[str, Any]] = field(default_factory=list)


# Rows (_resolution_sql): kind, name, pack_kind, artifact, level, team, agent, version number,
# version id, hash, content.
LEVEL_RANK = {str(level): rank for level, rank in LEVEL_ORDER.items()}


def _resolved(
    agent: Agent, label: str, *, raw: bool, replace: Callable[[list[Any]], list[Any]] | None = None
) -> list[tuple[tuple[Any, ...], list[Any]]]:
    """(winning row, hidden rows) per kind and name, in name order: one query of plain tuples
    (no model instances: 85 rows cost ~3x more as objects). `raw`: the content as the JSON
    text PostgreSQL stores, to be spliced into a response without decoding. `replace`: changes
    the label's rows before precedence is resolved (an experiment's variant versions)."""
    rows = _label_rows(agent, label)
    if replace is not None:
        rows = replace(rows)
    if not raw:
        rows = [(*row[:10], json.loads(row[10])) for row in rows]
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    resolved = []
    for _, found in sorted(grouped.items()):
        found.sort(key=lambda row: LEVEL_RANK[row[4]])
        resolved.append((found[0], found[1:]))
    return resolved


def _overrides(hidden: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"artifact": row[3], "source": row[4], "version": row[7]} for row in hidden]


def _entry_fields(row: tuple[Any, ...], label: str) -> dict[str, Any]:
    return {
        "kind": row[0],
        "name": row[1],
        "pack_kind": row[2],
        "artifact": row[3],
        "version": row[7],
        "version_id": row[8],
        "label": label,
        "content_hash": row[9],
        "source": row[4],
        "team": row[5],
        "agent": row[6],
    }


def agent_bundle(agent: Agent, label: str) -> list[BundleEntry]:
    """Each artifact that applies to the agent under `label`, resolved: an agent-level one
    overrides its team's, which overrides the workspace's (same kind and name); `overrides`
    lists what it hides (the explanation). One query."""
    return [
        BundleEntry(**_entry_fields(row, label), content=row[10], overrides=_overrides(hidden))
        for row, hidden in _resolved(agent, label, raw=False)
    ]


def agent_bundle_json(
    agent: Agent,
    label: str,
    *,
    replace: Callable[[list[Any]], list[Any]] | None = None,
    extra: Callable[[int], dict[str, Any]] | None = None,
    experiments: list[dict[str, str]] | None = None,
) -> bytes:
    """The bundle endpoint's body, `{"agent", "label", "artifacts": [...]}`, with each
    version's content spliced in as stored (valid JSON already): no decode and re-encode.
    For a read with a unit (apps.experiments.applying): `replace` swaps in the variants'
    versions, `extra(version_id)` adds fields to an entry (the experiment and variant that
    served it), and `experiments` (the applied variants) is added after the label."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    parts = []
    for row, hidden in _resolved(agent, label, raw=True, replace=replace):
        fields = _entry_fields(row, label)
        fields["overrides"] = _overrides(hidden)
        if extra is not None:
            fields.update(extra(row[8]))
        head = dumps(fields)
        parts.append(f'{head[:-1]},"content":{row[10]}}}')
    top: dict[str, Any] = {"agent": agent.pk, "label": label}
    if experiments is not None:
        top["experiments"] = experiments
    prefix = dumps(top)[:-1]
    return f'{prefix},"artifacts":[{",".join(parts)}]}}'.encode()


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    pack: str
    artifact: int
    version: int
    source: str
    span: tuple[int, int] | None
    excerpt: str


def policy_check(agent: Agent, draft: Draft, label: str = "production") -> list[Violation]:
    """Every violation of the rules of the agent's resolved policy packs under `label`."""
    found = []
    for entry in agent_bundle(agent, label):
        if entry.kind != ArtifactKind.POLICY_PACK:
            continue
        for finding in evaluate(entry.content.get("rules", {}), draft):
            start, end = finding.span if finding.span else (0, 0)
            found.append(
                Violation(
                    rule=finding.rule,
                    message=finding.message,
                    pack=entry.name,
                    artifact=entry.artifact,
                    version=entry.version,
                    source=entry.source,
                    span=finding.span,
                    excerpt=draft.text[start:end][:200] if finding.span else "",
                )
            )
    return found


def _schema_errors(schema: dict[str, Any], value: Any, part: str) -> list[dict[str, str]]:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        {
            "part": part,
            "path": "/".join(str(p) for p in error.absolute_path) or "(root)",
            "message": error.message[:500],
        }
        for error in errors[:MAX_SCHEMA_ERRORS]
    ]


def skill_validate(
    agent: Agent, name: str, *, arguments: Any, result: Any, label: str = "production"
) -> tuple[BundleEntry, list[dict[str, str]]]:
    """A call's arguments and result against the resolved skill's schemas (either may be
    left out: `...` means not given)."""
    entry = next(
        (e for e in agent_bundle(agent, label) if e.kind == ArtifactKind.SKILL and e.name == name),
        None,
    )
    if entry is None:
        raise NotFound(f"No skill {name} under {label} for this agent.")
    errors = []
    if arguments is not ...:
        errors += _schema_errors(entry.content["input_schema"], arguments, "arguments")
    if result is not ...:
        errors += _schema_errors(entry.content["output_schema"], result, "result")
    return entry, errors


def label_history(artifact_id: int) -> QuerySet[LabelEvent]:
    return (
        LabelEvent.objects.filter(artifact_id=artifact_id)
        .select_related("from_version", "to_version")
        .order_by("-id")
    )


def protected_labels(workspace_id: int) -> frozenset[str]:
    """The labels that are moved, never removed: production and the workspace's protected
    ones (read only: a workspace without settings has the defaults)."""
    found = (
        PolicySettings.objects.filter(workspace_id=workspace_id)
        .values_list("protected_labels", flat=True)
        .first()
    )
    return frozenset({"production", *(found or [])})
