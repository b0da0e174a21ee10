"""Memories: typed, tiered items agents learn, with versions, conflicts and a retrieval log.

Scoping follows apps.workspaces: one `visible_to(principal, action)` per model. An agent sees
its own workspace's workspace tier, its team's team tier and its own personal tier; a person
with a workspace-level role sees the workspace's items, with a team-level role the team's items
and its agents' personal items (and, to view, the workspace tier).
"""

from __future__ import annotations

import datetime
from typing import Any, Self

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from pgvector.django import VectorField

from apps.core import clock
from apps.memories.embeddings import EMBEDDER_MAX_CHARS, current_embedder
from apps.workspaces.models import ScopedQuerySet, Team, team_ids_for, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class Tier(models.TextChoices):
    PERSONAL = "personal", "Personal (one agent)"
    TEAM = "team", "Team"
    WORKSPACE = "workspace", "Workspace (company brain)"


TIER_ORDER: dict[str, int] = {Tier.WORKSPACE: 0, Tier.TEAM: 1, Tier.PERSONAL: 2}


class Status(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    ARCHIVED = "archived", "Archived"
    SUPERSEDED = "superseded", "Superseded"


class Source(models.TextChoices):
    AGENT = "agent", "Agent"
    HUMAN = "human", "Human"
    SIGNAL = "signal", "Signal (feedback, outcome)"
    IMPORT = "import", "Import"


ENTITY_KEYS = ("account", "segment", "persona", "channel")

# key -> (label, default TTL in days per tier; None = no expiry)
DEFAULT_MEMORY_TYPES: dict[str, tuple[str, dict[str, int | None]]] = {
    "coaching": ("Coaching", {"personal": None, "team": None, "workspace": None}),
    "learning": ("Learning", {"personal": 90, "team": 180, "workspace": 365}),
    "pattern": ("Pattern", {"personal": 180, "team": 365, "workspace": None}),
    "objection_response": (
        "Objection response",
        {"personal": 180, "team": 365, "workspace": None},
    ),
    "account_context": ("Account context", {"personal": 90, "team": 180, "workspace": 365}),
    "preference": ("Preference", {"personal": 180, "team": 365, "workspace": None}),
    "correction": ("Correction", {"personal": None, "team": None, "workspace": None}),
    "fact": ("Fact", {"personal": 365, "team": None, "workspace": None}),
}


class WorkspaceScopedQuerySet(ScopedQuerySet):
    """Rows that belong to a workspace as a whole: its members see them, agents their own."""

    workspace_field = "workspace_id"

    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        return self.filter(**{f"{self.workspace_field}__in": workspace_ids_for(user, action)})

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        return self.filter(**{self.workspace_field: principal.required_agent.workspace_id})


class MemoryType(models.Model):
    """The per-workspace vocabulary of memory types, with default TTLs per tier."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="memory_types"
    )
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    default_ttl_days = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        ordering = ["workspace_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="memory_type_unique_in_ws")
        ]

    def __str__(self) -> str:
        return self.key

    def ttl_days(self, tier: str) -> int | None:
        value = (self.default_ttl_days or {}).get(tier)
        return int(value) if value else None


def default_write_rules() -> dict[str, Any]:
    """Auto-approve personal learnings the agent is sure of and what people write; the rest is
    proposed and waits for review."""
    return {
        "auto_approve": [
            {"tier": "personal", "min_confidence": 0.8},
            {"actor_kind": "user"},
        ]
    }


class WritePolicy(models.Model):
    """Which writes are approved at once, and how similar a write must be to count as a repeat.

    `rules["auto_approve"]` is a list of conditions; a write is approved if one matches all of
    its keys: `tier`, `actor_kind` (agent|user|system), `source`, `types` (list of keys),
    `min_confidence`.
    """

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="memory_write_policy"
    )
    rules = models.JSONField(default=default_write_rules)
    dedup_threshold = models.FloatField(default=0.9)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "write policies"

    def __str__(self) -> str:
        return f"write policy of workspace {self.workspace_id}"


class ImmutableRow(Exception):
    """A write-policy version is history: it is never changed or deleted on its own."""


class WritePolicyVersion(models.Model):
    """One change of a workspace's write policy, kept for good: who, when, why, and the policy
    (`rules` and `dedup_threshold`) before and after. Restoring an earlier version is a new
    version whose `restored_from` names the one restored. Rows go only with their workspace."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="write_policy_versions"
    )
    policy = models.ForeignKey(WritePolicy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    before = models.JSONField()
    after = models.JSONField()
    reason = models.TextField()
    actor_kind = models.CharField(max_length=8)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=200)
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="write_policy_version_unique")
        ]

    def __str__(self) -> str:
        return f"write policy v{self.number} of workspace {self.workspace_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRow("A write-policy version is never changed; restore it instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRow("A write-policy version is never deleted on its own.")


class MemoryItemQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        user = principal.required_user
        teams = team_ids_for(user, action)
        visible = (
            Q(workspace_id__in=workspace_ids_for(user, action))
            | Q(tier=Tier.TEAM, team_id__in=teams)
            | Q(tier=Tier.PERSONAL, agent__team_id__in=teams)
        )
        if action == Action.VIEW:
            team_workspaces = Team.objects.filter(id__in=teams).values("workspace_id")
            visible |= Q(tier=Tier.WORKSPACE, workspace_id__in=team_workspaces)
        return self.filter(visible)

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        agent = principal.required_agent
        return (
            self.filter(workspace_id=agent.workspace_id)
            .filter(readable_by_agent(agent))
            .filter(agent_reads(agent))
        )

    def live(self) -> Self:
        """Approved, in force and not forgotten: what context assembly may use."""
        now = clock.now()
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            Q(valid_from__isnull=True) | Q(valid_from__lte=now),
            status=Status.APPROVED,
            deleted_at__isnull=True,
        )


def agent_reads(agent: Any) -> Q:
    """Within the tiers an agent may read: what is approved, everything in its own personal
    tier, and what it wrote itself. Another agent's proposed team item is not its to see."""
    return (
        Q(status=Status.APPROVED)
        | Q(tier=Tier.PERSONAL, agent_id=agent.pk)
        | Q(created_by_agent_id=agent.pk)
    )


def readable_by_agent(agent: Any) -> Q:
    """The tiers an agent reads: the workspace's, its team's and its own."""
    tiers = Q(tier=Tier.WORKSPACE) | Q(tier=Tier.PERSONAL, agent_id=agent.pk)
    if agent.team_id:
        tiers |= Q(tier=Tier.TEAM, team_id=agent.team_id)
    return tiers


class MemoryItem(models.Model):
    """One thing an agent (or a person) learned. `content` is stored masked."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="memories"
    )
    tier = models.CharField(max_length=10, choices=Tier.choices)
    agent = models.ForeignKey(
        "workspaces.Agent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="personal_memories",
    )
    team = models.ForeignKey(
        "workspaces.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="memories"
    )
    type = models.ForeignKey(MemoryType, on_delete=models.PROTECT, related_name="items")
    content = models.TextField()
    search = models.GeneratedField(
        expression=SearchVector("content", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    # Which embedder made `embedding` ("model2vec/potion-base-8M/256d"): set to the current one
    # whenever a vector is computed; "" for items stored before it was recorded. Context refuses
    # a workspace whose items disagree (docs/embeddings.md); `manage.py reembed` aligns them.
    embedder = models.CharField(
        max_length=EMBEDDER_MAX_CHARS, default=current_embedder, editable=False
    )
    importance = models.FloatField(default=0.5)
    confidence = models.FloatField(default=0.5)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AGENT)
    source_trace_id = models.CharField(max_length=100, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    parents = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="children")
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    entities = models.JSONField(default=dict, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    evidence_count = models.PositiveIntegerField(default=1)
    version = models.PositiveIntegerField(default=1)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_agent = models.ForeignKey(
        "workspaces.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MemoryItemQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # No table-wide HNSW index: each large workspace gets its own partial one
            # (apps/memories/vector_indexes.py), built outside migrations.
            GinIndex(fields=["entities"], name="memory_entities_gin", opclasses=["jsonb_path_ops"]),
            GinIndex(fields=["tags"], name="memory_tags_gin"),
            models.Index(
                fields=["expires_at", "id"],
                name="memory_ttl_due",
                condition=Q(status="approved", expires_at__isnull=False),
            ),
            models.Index(fields=["workspace", "status", "tier"], name="memory_ws_status_tier"),
            # The write-policy preview reads a workspace's newest writes of the last days.
            models.Index(fields=["workspace", "created_at"], name="memory_ws_created"),
            # Context eligibility from the index alone (index-only scans): the capped count
            # that picks the strategy, and the exact path's candidates.
            models.Index(
                fields=["workspace", "tier", "team", "agent"],
                name="memory_context_live",
                condition=Q(status="approved", deleted_at__isnull=True),
                include=["expires_at", "valid_from", "type"],
            ),
            # The same, led by type: a request filtered by type counts its eligible rows from
            # this index alone (bench/context: a BitmapAnd of the type and workspace indexes
            # then 11,000 heap pages, ~40 ms, was the slowest part of typed requests at 1M).
            models.Index(
                fields=["workspace", "type", "tier", "team", "agent"],
                name="memory_context_typed",
                condition=Q(status="approved", deleted_at__isnull=True),
                include=["expires_at", "valid_from"],
            ),
            # Which embedders a workspace's vectors come from, as two index probes (min, max):
            # the check before context ranks (apps/memories/embeddings/consistency.py),
            # and `reembed`'s batches, workspace by workspace, in id order.
            models.Index(fields=["workspace", "embedder", "id"], name="memory_ws_embedder"),
            # The write path's duplicate check (apps/memories/services/writes.py, _NEAREST_SQL):
            # one owner's live and proposed items of one type, on exactly the columns and the
            # predicate the check filters by. Its lookup then reads only that owner's rows
            # whatever the statistics say (a new tenant on a big table included); without it
            # the planner, estimating 1 row for a workspace created after the last ANALYZE,
            # filtered the whole workspace (docs/memories-design.md, "Batch writes").
            models.Index(
                F("workspace"),
                F("type"),
                F("tier"),
                Coalesce("agent", "team", Value(0), output_field=models.BigIntegerField()),
                name="memory_dedup_scope",
                condition=Q(status__in=["approved", "proposed"], deleted_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(tier="personal", agent__isnull=False, team__isnull=True)
                    | Q(tier="team", agent__isnull=True, team__isnull=False)
                    | Q(tier="workspace", agent__isnull=True, team__isnull=True)
                ),
                name="memory_tier_owner",
            ),
            models.CheckConstraint(
                condition=Q(importance__gte=0, importance__lte=1)
                & Q(confidence__gte=0, confidence__lte=1),
                name="memory_scores_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.content[:60]}"

    @property
    def token_estimate(self) -> int:
        return estimate_tokens(self.content)

    def _usage(self) -> MemoryUsage | None:
        try:
            return self.usage
        except MemoryUsage.DoesNotExist:
            return None

    @property
    def retrieval_count(self) -> int:
        """Times context used this memory (MemoryUsage; select_related("usage") in lists)."""
        usage = self._usage()
        return usage.retrieval_count if usage else 0

    @property
    def last_retrieved_at(self) -> datetime.datetime | None:
        usage = self._usage()
        return usage.last_retrieved_at if usage else None


def estimate_tokens(text: str) -> int:
    """ceil(len/4): the usual rough count for English; good enough for a budget."""
    return -(-len(text) // 4)


class MemoryUsage(models.Model):
    """How often context used a memory, and when last: a narrow table of its own.

    These counters change on every context assembly. On the memory row each bump was a new
    row version that PostgreSQL had to add to every index of the table, the workspace's HNSW
    index included, because a ~2 KB row leaves no room for an in-page (HOT) update: 120 ms for
    the 10 items of one assembly at 1M memories (docs/benchmarks.md). Here a bump touches a
    40-byte row whose only index is its primary key."""

    item = models.OneToOneField(
        MemoryItem, on_delete=models.CASCADE, primary_key=True, related_name="usage"
    )
    retrieval_count = models.PositiveIntegerField(default=0)
    last_retrieved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"usage of memory {self.item_id}"


class MemoryVersionQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(item__in=MemoryItem.objects.for_user(principal, action))

    def for_agent(self, principal: Principal, action: str) -> Self:
        return self.filter(item__in=MemoryItem.objects.for_agent(principal, action))


class MemoryVersion(models.Model):
    """The state of an item at one version; version 1 is the write, each edit adds one."""

    item = models.ForeignKey(MemoryItem, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    content = models.TextField()
    importance = models.FloatField()
    confidence = models.FloatField()
    type = models.ForeignKey(MemoryType, on_delete=models.PROTECT, related_name="+")
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    entities = models.JSONField(default=dict, blank=True)
    actor_kind = models.CharField(max_length=8)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MemoryVersionQuerySet.as_manager()

    class Meta:
        ordering = ["item_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["item", "version"], name="memory_version_unique")
        ]

    def __str__(self) -> str:
        return f"#{self.item_id} v{self.version}"


class ConflictStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class MemoryConflict(models.Model):
    """A write that looked like an existing item but contradicted it; a person decides."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="memory_conflicts"
    )
    existing = models.ForeignKey(MemoryItem, on_delete=models.CASCADE, related_name="+")
    proposed = models.ForeignKey(MemoryItem, on_delete=models.CASCADE, related_name="conflicts")
    reason = models.CharField(max_length=240)
    similarity = models.FloatField(default=0.0)
    status = models.CharField(
        max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["workspace", "status"], name="memory_conflict_ws_status")]

    def __str__(self) -> str:
        return f"conflict #{self.pk}: #{self.existing_id} vs #{self.proposed_id}"


class Strategy(models.TextChoices):
    EXACT = "exact", "Exact scan"
    HNSW_ITERATIVE = "hnsw-iterative", "HNSW iterative scan"


class ContextAssembly(models.Model):
    """One context request: what was asked, how it was searched, which items it returned."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="context_assemblies"
    )
    agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.CASCADE, related_name="context_assemblies"
    )
    trace_id = models.CharField(max_length=100, blank=True)
    task_text = models.TextField()
    k = models.PositiveIntegerField()
    token_budget = models.PositiveIntegerField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorkspaceScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "context assemblies"
        indexes = [models.Index(fields=["workspace", "-id"], name="context_assembly_ws")]

    def __str__(self) -> str:
        return f"assembly #{self.pk} for agent {self.agent_id}"


class ContextAssemblyItemQuerySet(WorkspaceScopedQuerySet):
    workspace_field = "assembly__workspace_id"


class ContextAssemblyItem(models.Model):
    assembly = models.ForeignKey(ContextAssembly, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(MemoryItem, on_delete=models.CASCADE, related_name="retrievals")
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    importance_part = models.FloatField()
    confidence_part = models.FloatField(default=0.0)
    recency_part = models.FloatField()
    relevance_part = models.FloatField()
    vector_similarity = models.FloatField()
    text_rank = models.FloatField(
        help_text="Share of the task's search terms the memory contains (0..1)."
    )

    objects = ContextAssemblyItemQuerySet.as_manager()

    class Meta:
        ordering = ["assembly_id", "rank"]
        indexes = [models.Index(fields=["item", "-id"], name="context_item_history")]

    def __str__(self) -> str:
        return f"#{self.item_id} at rank {self.rank} in assembly {self.assembly_id}"
