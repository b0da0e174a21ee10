"""Variants act where agents read: the context endpoint and the bundle endpoint apply the
variant of the unit an agent names (`unit_id`), so an agent that knows nothing of experiments
is still assigned, exposed once and served its variant.

For a read with a unit id, Steward takes the running experiments of the agent's workspace (one
query, their variants with them) that touch what is read (a memory set for context, policy,
prompt or skill versions for the bundle) and admit the agent and the request's channel and
segment (eligibility); it assigns the unit in each through the assignment service (the same
deterministic variant and the same one-time exposure as `/assign`) and applies each answered
variant. An experiment that answers no variant (not running, ineligible, past its exposure cap
for a new unit) applies nothing: the unit gets the default behaviour.

Context (MemoryVariants): a variant's memory set (its tag and its explicit ids) is included for
the units in that variant and withheld from the units of every other variant of the same
experiment. Included set members are candidates even when context would not serve them
otherwise: approved or still proposed (the set is what is tested, so it is usually not yet
approved for everyone), never rejected, archived, superseded, expired, forgotten or out of
force, and only in the tiers the agent reads (a set never leaks another agent's personal
memories). Ranking is unchanged. When two applied experiments disagree about a memory, the
inclusion wins (overlapping sets in concurrent experiments are a design conflict; the
experiments' page shows their sets).

Bundle (PolicyVariants): the variant's versions replace the label-resolved version of their
artifact (or join the bundle when the artifact applies to the agent but carries no such label);
precedence (agent > team > workspace) is resolved after the replacement, other artifacts are
unchanged. The ETag includes the applied variants, so one unit's bundle is never served from
another variant's cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from apps.experiments import services
from apps.experiments.models import Experiment, ExperimentStatus, Variant
from apps.policies.models import Artifact, ArtifactVersion, Level
from apps.workspaces.models import Agent

MEMORY = "memory"
POLICY = "policy"
VARIANT_COLUMNS = (
    "id",
    "key",
    "is_control",
    "weight",
    "policy_versions",
    "memory_tag",
    "memory_ids",
    "config",
)
_EXPERIMENTS_TABLE = Experiment._meta.db_table
_VARIANTS_TABLE = Variant._meta.db_table
_RUNNING_SQL = (
    "SELECT e.id, e.workspace_id, e.key, e.salt, e.eligibility, e.exposure_cap, "  # noqa: S608 - table names from the models
    "e.exposure_count, e.status, (SELECT json_agg(json_build_object("
    + ", ".join(f"'{name}', v.{name}" for name in VARIANT_COLUMNS)
    + f") ORDER BY v.id) FROM {_VARIANTS_TABLE} v WHERE v.experiment_id = e.id) AS variant_rows "
    f"FROM {_EXPERIMENTS_TABLE} e WHERE e.workspace_id = %s AND e.status = %s ORDER BY e.id"
)


@dataclass(frozen=True)
class Applied:
    """One experiment's variant served to the unit."""

    experiment_id: int
    key: str
    variant_id: int
    variant: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "variant": self.variant}


def _touches(variant: Variant, what: str) -> bool:
    if what == MEMORY:
        return bool(variant.memory_tag or variant.memory_ids)
    return bool(variant.policy_versions)


def running_experiments(workspace_id: int, what: str) -> list[tuple[Experiment, list[Variant]]]:
    """The workspace's running experiments whose variants touch `what` (MEMORY or POLICY), each
    with its variants in allocation order: one query (the variants aggregated as JSON). A
    started experiment's variants never change, so they prime the assignment service's
    per-process copy and the assignment reads no variants of its own.

    No per-process cache of the experiments themselves: a stop must apply at once, and this
    lookup is one index scan of (workspace, status)."""
    rows = Experiment.objects.raw(_RUNNING_SQL, [workspace_id, ExperimentStatus.RUNNING.value])
    found = []
    for experiment in rows:
        variants = [
            Variant(experiment_id=experiment.pk, **{name: spec[name] for name in VARIANT_COLUMNS})
            for spec in getattr(experiment, "variant_rows", None) or []
        ]
        if not any(_touches(variant, what) for variant in variants):
            continue
        _prime(experiment.pk, variants)
        found.append((experiment, variants))
    return found


def _prime(experiment_id: int, variants: list[Variant]) -> None:
    """The assignment service's per-process copy of a started experiment's variants (bounded
    as it bounds it)."""
    started = services._STARTED_VARIANTS
    if experiment_id not in started and len(started) >= services._STARTED_VARIANTS_MAX:
        started.clear()
    started.setdefault(experiment_id, variants)


def _assigned(
    agent: Agent, unit_id: str, context: services.AssignContext, what: str
) -> list[tuple[Applied, Variant, list[Variant]]]:
    """(applied, the unit's variant, all variants) for each experiment that answers one."""
    as_agent = services.AssignContext(context.channel, context.segment, agent.team_id, agent.pk)
    served = []
    for experiment, variants in running_experiments(agent.workspace_id, what):
        if not services.eligible(experiment, as_agent):
            continue  # the service would answer `ineligible`, without a write
        answer = services.experiment_assign(
            actor=agent, experiment=experiment, unit_id=unit_id, context=context
        )
        mine = next((v for v in variants if v.key == answer.variant), None)
        if mine is None:
            continue  # not running any more, or past its exposure cap for a new unit
        applied = Applied(experiment.pk, experiment.key, mine.pk, mine.key)
        served.append((applied, mine, variants))
    return served


# --- context ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryVariants:
    """What the applied variants change in one context assembly: memory sets to include (their
    members are candidates, approved or proposed) and to withhold (never served), each a set of
    ids and of tags. A memory both included and withheld is included."""

    applied: tuple[Applied, ...] = ()
    include_ids: tuple[int, ...] = ()
    include_tags: tuple[str, ...] = ()
    withhold_ids: tuple[int, ...] = ()
    withhold_tags: tuple[str, ...] = ()

    @property
    def includes(self) -> bool:
        return bool(self.include_ids or self.include_tags)

    @property
    def withholds(self) -> bool:
        return bool(self.withhold_ids or self.withhold_tags)

    def experiments(self) -> list[dict[str, str]]:
        return [applied.as_dict() for applied in self.applied]


@dataclass
class _Sets:
    ids: set[int] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)

    def add(self, variant: Variant) -> None:
        self.ids.update(int(pk) for pk in variant.memory_ids)
        if variant.memory_tag:
            self.tags.add(variant.memory_tag)


def memory_variants(
    *, agent: Agent, unit_id: str, channel: str = "", segment: str = ""
) -> MemoryVariants:
    """Assign the unit in each running, eligible experiment of the agent's workspace that has
    a memory set, and say what its context includes and withholds (module docstring)."""
    include, withhold = _Sets(), _Sets()
    applied = []
    context = services.AssignContext(channel=channel, segment=segment)
    for served, mine, variants in _assigned(agent, unit_id, context, MEMORY):
        applied.append(served)
        include.add(mine)
        for other in variants:
            if other.pk != mine.pk:
                withhold.add(other)
    return MemoryVariants(
        applied=tuple(applied),
        include_ids=tuple(sorted(include.ids)),
        include_tags=tuple(sorted(include.tags)),
        withhold_ids=tuple(sorted(withhold.ids - include.ids)),
        withhold_tags=tuple(sorted(withhold.tags - include.tags)),
    )


# --- bundle -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyVariants:
    """The applied variants of one bundle read and the versions they serve (version id ->
    the Applied that serves it)."""

    applied: tuple[Applied, ...] = ()
    versions: dict[int, Applied] = field(default_factory=dict)

    def experiments(self) -> list[dict[str, str]]:
        return [applied.as_dict() for applied in self.applied]

    def etag_part(self) -> str:
        """Names every applied variant and its versions: a different variant, a different
        ETag (and cache key); the same variant in every unit it holds, the same one."""
        parts = sorted(f"{a.experiment_id}.{a.variant_id}" for a in self.applied)
        return ",".join(parts) + "|" + ",".join(str(v) for v in sorted(self.versions))


def policy_variants(
    *, agent: Agent, unit_id: str, channel: str = "", segment: str = ""
) -> PolicyVariants:
    """Assign the unit in each running, eligible experiment of the agent's workspace whose
    variants name policy, prompt or skill versions; the versions of the unit's variants."""
    applied = []
    versions: dict[int, Applied] = {}
    context = services.AssignContext(channel=channel, segment=segment)
    for served, mine, _ in _assigned(agent, unit_id, context, POLICY):
        applied.append(served)
        for pk in mine.policy_versions:
            versions.setdefault(int(pk), served)
    return PolicyVariants(applied=tuple(applied), versions=versions)


def _version_sql() -> str:
    artifact, version = Artifact._meta.db_table, ArtifactVersion._meta.db_table
    return (
        'SELECT a."kind", a."name", a."pack_kind", v."artifact_id", a."level", a."team_id", '  # noqa: S608 - table names from the models
        'a."agent_id", v."number", v."id", v."content_hash", v."content"::text '
        f'FROM "{version}" v INNER JOIN "{artifact}" a ON a."id" = v."artifact_id" '
        'WHERE v."id" = ANY(%(ids)s) AND a."workspace_id" = %(workspace)s '
        'AND (a."level" = %(workspace_level)s '
        'OR (a."level" = %(team_level)s AND a."team_id" = %(team)s) '
        'OR (a."level" = %(agent_level)s AND a."agent_id" = %(agent)s))'
    )


def variant_version_rows(agent: Agent, versions: Iterable[int]) -> list[tuple[Any, ...]]:
    """The variants' versions in the row shape of the bundle's label resolution
    (apps.policies.selectors._resolution_sql), only those whose artifact applies to the agent
    (its workspace's, its team's, its own): one query, none without versions."""
    ids = sorted(versions)
    if not ids:
        return []
    params: dict[str, Any] = {
        "ids": ids,
        "workspace": agent.workspace_id,
        "team": agent.team_id,
        "agent": agent.pk,
        "workspace_level": Level.WORKSPACE.value,
        "team_level": Level.TEAM.value,
        "agent_level": Level.AGENT.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_version_sql(), params)
        return list(cursor.fetchall())


def replaced_rows(
    label_rows: Sequence[tuple[Any, ...]], variant_rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The label's rows with each variant version in place of its artifact's labelled
    version (or added when the artifact has no such label). Column 3 is the artifact id."""
    by_artifact = {row[3]: row for row in variant_rows}
    rows = [by_artifact.pop(row[3], row) for row in label_rows]
    return rows + list(by_artifact.values())


def etag_with_variants(etag: str, variants: PolicyVariants) -> str:
    """The bundle's ETag for a read for a unit: the plain bundle's, the applied variants and
    their versions (a read for a unit that no experiment applies to has its own too: its body
    lists `experiments: []`)."""
    key = f"{etag.strip(chr(34))}:unit:{variants.etag_part()}"
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
