"""Reads of policies: an agent's resolved bundle (agent > team > workspace, label by label),
its ETag, an artifact's label history, and the checks that evaluate a bundle."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from jsonschema import Draft202012Validator

from apps.core.exceptions import NotFound
from apps.policies.models import (
    LEVEL_ORDER,
    ArtifactKind,
    Label,
    LabelEvent,
    Level,
)
from apps.policies.rules import Draft, evaluate
from apps.workspaces.models import Agent

MAX_SCHEMA_ERRORS = 50


def _partitions(agent: Agent) -> Q:
    """The artifacts that apply to `agent`: its workspace's, its team's, its own."""
    mine = Q(artifact__level=Level.WORKSPACE)
    if agent.team_id:
        mine |= Q(artifact__level=Level.TEAM, artifact__team_id=agent.team_id)
    mine |= Q(artifact__level=Level.AGENT, artifact__agent_id=agent.pk)
    return mine


def _labels(agent: Agent, label: str) -> QuerySet[Label]:
    return Label.objects.filter(workspace_id=agent.workspace_id, name=label).filter(
        _partitions(agent)
    )


def bundle_etag(agent: Agent, label: str) -> str:
    """Changes whenever what the bundle would return changes (a label moved, an override
    added, the agent changed team): a hash of the label rows that apply, without content."""
    rows = _labels(agent, label).order_by("pk").values_list("pk", "version_id", "artifact_id")
    digest = hashlib.sha256(f"{agent.pk}:{agent.team_id}:{label}".encode())
    for row in rows:
        digest.update(repr(row).encode())
    return f'"{digest.hexdigest()[:32]}"'


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


def agent_bundle(agent: Agent, label: str) -> list[BundleEntry]:
    """Each artifact that applies to the agent under `label`, resolved: an agent-level one
    overrides its team's, which overrides the workspace's (same kind and name); `overrides`
    lists what it hides (the explanation). One query."""
    rows = (
        _labels(agent, label)
        .select_related("artifact", "version")
        .only(
            "name",
            "artifact__kind",
            "artifact__name",
            "artifact__pack_kind",
            "artifact__level",
            "artifact__team_id",
            "artifact__agent_id",
            "version__number",
            "version__content",
            "version__content_hash",
        )
    )
    grouped: dict[tuple[str, str], list[Label]] = {}
    for row in rows:
        grouped.setdefault((row.artifact.kind, row.artifact.name), []).append(row)
    bundle = []
    for (kind, name), found in sorted(grouped.items()):
        found.sort(key=lambda row: LEVEL_ORDER[Level(row.artifact.level)])
        winner, hidden = found[0], found[1:]
        bundle.append(
            BundleEntry(
                kind=kind,
                name=name,
                pack_kind=winner.artifact.pack_kind,
                artifact=winner.artifact_id,
                version=winner.version.number,
                version_id=winner.version_id,
                label=label,
                content=winner.version.content,
                content_hash=winner.version.content_hash,
                source=winner.artifact.level,
                team=winner.artifact.team_id,
                agent=winner.artifact.agent_id,
                overrides=[
                    {
                        "artifact": row.artifact_id,
                        "source": row.artifact.level,
                        "version": row.version.number,
                    }
                    for row in hidden
                ],
            )
        )
    return bundle


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
