"""Shapes and validates memory API data; which writes are allowed is the services' business."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from apps.core.api.fields import StrictCharField, StrictFloatField, StrictIntegerField
from apps.experiments.api.applied import (
    AppliedExperimentSerializer,
    eligibility_field,
    unit_id_field,
)
from apps.memories.models import ENTITY_KEYS, MemoryItem, MemoryVersion, Tier
from apps.memories.selectors import ContextResult, ScoredMemory, content_diff
from apps.workspaces.api.serializers import ScopedPrimaryKeyField, StrictInput
from apps.workspaces.models import Agent, Team, Workspace

MAX_TAGS = 20
MAX_PARENTS = 20
MAX_TASK_CHARS = 8000
DEFAULT_VERSIONS_LIMIT = 50
MAX_VERSIONS_LIMIT = 500
MAX_VERSION_NUMBER = 2**31 - 1


class StrictDictField(serializers.DictField):
    """An object of `key -> string` with keys from `allowed` (entity keys)."""

    def __init__(self, *, allowed: tuple[str, ...], **kwargs: Any) -> None:
        self.allowed_keys = allowed  # the OpenAPI schema lists them (core.api.schema)
        kwargs.setdefault("child", StrictCharField(max_length=80))
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.allowed_keys)
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown keys {', '.join(unknown)}; use {', '.join(self.allowed_keys)}."
                )
        return dict(super().to_internal_value(data))


def tags_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=40), max_length=MAX_TAGS, **kwargs
    )


def entities_field(**kwargs: Any) -> StrictDictField:
    return StrictDictField(allowed=ENTITY_KEYS, **kwargs)


def content_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=settings.MEMORY_MAX_CONTENT_CHARS, **kwargs)


def score_field(**kwargs: Any) -> StrictFloatField:
    return StrictFloatField(min_value=0.0, max_value=1.0, **kwargs)


# --- output -----------------------------------------------------------------------------------


class CreatedBySerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField()
    id = serializers.IntegerField()


_DATETIME = serializers.DateTimeField()


def _when(value: Any, zone: dt.tzinfo | None = None) -> Any:
    """A datetime as DRF's DateTimeField renders it (None stays None). The usual case (ISO
    8601 output, an aware value, time zones on) is written out, in `zone` (the current time
    zone, looked up once per item by the caller: DRF looks it up for every value)."""
    if not value:
        return None
    if zone is not None and _ISO_OUTPUT and isinstance(value, dt.datetime) and value.tzinfo:
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return _DATETIME.to_representation(value)


def _zone() -> dt.tzinfo | None:
    return timezone.get_current_timezone() if settings.USE_TZ else None


_ISO_OUTPUT = getattr(_DATETIME, "format", api_settings.DATETIME_FORMAT) == ISO_8601


class MemoryItemSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    type: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="key", read_only=True
    )
    parents = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    retrieval_count = serializers.IntegerField(
        read_only=True, help_text="Times context assembly has used this memory."
    )
    last_retrieved_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = MemoryItem
        fields = [
            "id",
            "workspace",
            "tier",
            "agent",
            "team",
            "type",
            "content",
            "importance",
            "confidence",
            "status",
            "source",
            "source_trace_id",
            "provenance",
            "parents",
            "tags",
            "entities",
            "valid_from",
            "expires_at",
            "evidence_count",
            "version",
            "created_by",
            "created_at",
            "updated_at",
            "retrieval_count",
            "last_retrieved_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: MemoryItem) -> dict[str, Any]:
        """Meta.fields as DRF would render them, written out: a batch answers 500 items, and
        DRF's generic path (a getter and a field call per value) took ~0.1 ms per item.
        tests/memories/test_batch_writes.py compares both on varied items."""
        item = instance
        zone = _zone()
        return {
            "id": item.pk,
            "workspace": item.workspace_id,
            "tier": item.tier if item.tier in ("", None) else str(item.tier),
            "agent": item.agent_id,
            "team": item.team_id,
            "type": item.type.key,
            "content": str(item.content),
            "importance": float(item.importance),
            "confidence": float(item.confidence),
            "status": str(item.status),
            "source": str(item.source),
            "source_trace_id": str(item.source_trace_id),
            "provenance": item.provenance,
            "parents": self.get_parents(item),
            "tags": [str(tag) for tag in item.tags],
            "entities": item.entities,
            "valid_from": _when(item.valid_from, zone),
            "expires_at": _when(item.expires_at, zone),
            "evidence_count": int(item.evidence_count),
            "version": int(item.version),
            "created_by": self.get_created_by(item),
            "created_at": _when(item.created_at, zone),
            "updated_at": _when(item.updated_at, zone),
            "retrieval_count": int(item.retrieval_count),
            "last_retrieved_at": _when(item.last_retrieved_at, zone),
        }

    def get_parents(self, item: MemoryItem) -> list[int]:
        """Ids of the items this one was derived from (prefetched by the views)."""
        return sorted(parent.pk for parent in item.parents.all())

    def get_created_by(self, item: MemoryItem) -> dict[str, Any] | None:
        if item.created_by_agent_id:
            return {"kind": "agent", "id": item.created_by_agent_id}
        if item.created_by_user_id:
            return {"kind": "user", "id": item.created_by_user_id}
        return None


class ConflictSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    existing = serializers.IntegerField(source="existing_id")
    proposed = serializers.IntegerField(source="proposed_id")
    reason = serializers.CharField()
    similarity = serializers.FloatField()
    status = serializers.CharField()


OUTCOMES = ["created", "proposed", "reinforced", "conflict"]


class WriteResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    outcome = serializers.ChoiceField(
        choices=OUTCOMES,
        help_text=(
            "created: stored and approved; proposed: stored, waiting for review; reinforced: "
            "a near-duplicate of `item`, whose evidence and importance grew; conflict: stored "
            "as proposed and flagged against the item it contradicts."
        ),
    )
    item = MemoryItemSerializer()
    conflict = ConflictSerializer(allow_null=True)


class BatchResultSerializer(WriteResultSerializer):
    index = serializers.IntegerField(help_text="Position of the input item in `items`.")


class BatchResponseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    results = BatchResultSerializer(many=True)


def batch_response_data(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """BatchResponseSerializer's data, written out (as MemoryItemSerializer.to_representation
    is): DRF's generic path walked four nested serializers per result of a 500-item answer.
    tests/memories/test_batch_validation.py compares both on every outcome."""
    render = MemoryItemSerializer().to_representation
    return {
        "results": [
            {
                "outcome": str(row["outcome"]),
                "item": render(row["item"]),
                "conflict": _conflict_data(row["conflict"]),
                "index": int(row["index"]),
            }
            for row in rows
        ]
    }


def _conflict_data(conflict: Any) -> dict[str, Any] | None:
    if conflict is None:
        return None
    return {
        "id": int(conflict.id),
        "existing": int(conflict.existing_id),
        "proposed": int(conflict.proposed_id),
        "reason": str(conflict.reason),
        "similarity": float(conflict.similarity),
        "status": str(conflict.status),
    }


@extend_schema_serializer(component_name="MemoryVersion")
class VersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    type: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="key", read_only=True
    )
    actor = serializers.SerializerMethodField()
    diff = serializers.SerializerMethodField(
        help_text="What changed from the previous version: a unified diff of the content and "
        "the other fields that changed, as {field: {from, to}}. Empty for version 1."
    )

    class Meta:
        model = MemoryVersion
        fields = [
            "version",
            "content",
            "importance",
            "confidence",
            "type",
            "tags",
            "entities",
            "actor",
            "reason",
            "created_at",
            "diff",
        ]
        read_only_fields = fields

    def get_actor(self, version: MemoryVersion) -> dict[str, str]:
        return {"kind": version.actor_kind, "id": version.actor_id, "label": version.actor_label}

    def get_diff(self, version: MemoryVersion) -> dict[str, Any]:
        previous: MemoryVersion | None = self.context.get("previous", {}).get(version.pk)
        return version_diff(previous, version)


VERSIONED_FIELDS = ("importance", "confidence", "tags", "entities")


def version_diff(previous: MemoryVersion | None, version: MemoryVersion) -> dict[str, Any]:
    if previous is None:
        return {"content": "", "fields": {}}
    content = content_diff(
        previous.content,
        version.content,
        old_label=f"v{previous.version}",
        new_label=f"v{version.version}",
    )
    fields = {
        name: {"from": getattr(previous, name), "to": getattr(version, name)}
        for name in VERSIONED_FIELDS
        if getattr(previous, name) != getattr(version, name)
    }
    if previous.type_id != version.type_id:
        fields["type"] = {"from": previous.type.key, "to": version.type.key}
    return {"content": content, "fields": fields}


class ScoredItemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    rank = serializers.IntegerField(
        help_text="1-based position in the returned context, which is in score order."
    )
    id = serializers.IntegerField(source="item.id")
    tier = serializers.CharField(source="item.tier")
    type = serializers.CharField(source="item.type.key")
    content = serializers.CharField(source="item.content")
    tags = serializers.ListField(child=serializers.CharField(), source="item.tags")
    entities = serializers.DictField(child=serializers.CharField(), source="item.entities")
    importance = serializers.FloatField(source="item.importance")
    score = serializers.FloatField(help_text="The sum of the four parts; 4 decimals.")
    importance_part = serializers.FloatField()
    confidence_part = serializers.FloatField()
    recency_part = serializers.FloatField()
    relevance_part = serializers.FloatField(
        help_text="Weighted relevance: vector similarity and full-text coverage."
    )
    vector_similarity = serializers.FloatField(help_text="Cosine similarity to the task.")
    text_rank = serializers.FloatField(
        help_text="Full-text coverage: share of the task's search terms the memory contains."
    )
    tokens = serializers.IntegerField(help_text="Estimated tokens of the content.")


class FewShotExampleSerializer(serializers.Serializer):  # type: ignore[type-arg]
    trace_id = serializers.IntegerField(help_text="The past run this example comes from.")
    task = serializers.CharField(help_text="Its task (masked).")
    response = serializers.CharField(help_text="Its output, or a person's edit of it (masked).")
    edited = serializers.BooleanField(help_text="The response is a person's edit.")
    rating = serializers.IntegerField(allow_null=True, help_text="Its best rating (1 to 5).")
    similarity = serializers.FloatField(help_text="Full-text rank against `task`.")


class ContextResponseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    assembly_id = serializers.IntegerField(help_text="The logged assembly (retrieval history).")
    strategy = serializers.CharField(help_text="exact or hnsw-iterative: how rows were ranked.")
    tokens = serializers.IntegerField(help_text="Estimated tokens of all returned items.")
    items = ScoredItemSerializer(
        many=True, help_text="Best score first; only items above the relevance floor."
    )
    experiments = AppliedExperimentSerializer(
        many=True,
        help_text="The experiments whose variant this read applied for `unit_id` (empty "
        'without it); docs/experiments.md, "Where agents read".',
    )
    examples = FewShotExampleSerializer(
        many=True, help_text="The few-shot examples asked for with `examples` (else empty)."
    )


def context_response_data(
    result: ContextResult, *, experiments: list[dict[str, str]], examples: list[Any]
) -> dict[str, Any]:
    """The body ContextResponseSerializer documents, built as plain dicts: the hot path of every
    agent's read, where instantiating the serializers (a deep copy of their fields each time)
    and walking them cost more than the rest of the view's Python. tests/memories test that it
    equals the serializer's output, keys and order included."""
    return {
        "assembly_id": result.assembly_id,
        "strategy": str(result.strategy),
        "tokens": result.tokens,
        "items": [_scored_item_data(rank, s) for rank, s in enumerate(result.items, start=1)],
        "experiments": AppliedExperimentSerializer(experiments, many=True).data
        if experiments
        else [],
        "examples": FewShotExampleSerializer(examples, many=True).data if examples else [],
    }


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _scored_item_data(rank: int, scored: ScoredMemory) -> dict[str, Any]:
    """One ScoredItemSerializer row (its field order and types)."""
    item = scored.item
    return {
        "rank": rank,
        "id": item.pk,
        "tier": str(item.tier),
        "type": str(item.type.key),
        "content": str(item.content),
        "tags": [_text_or_none(tag) for tag in item.tags],
        "entities": {str(key): _text_or_none(value) for key, value in item.entities.items()},
        "importance": float(item.importance),
        "score": float(scored.score),
        "importance_part": float(scored.importance_part),
        "confidence_part": float(scored.confidence_part),
        "recency_part": float(scored.recency_part),
        "relevance_part": float(scored.relevance_part),
        "vector_similarity": float(scored.vector_similarity),
        "text_rank": float(scored.text_rank),
        "tokens": int(scored.tokens),
    }


# --- input ------------------------------------------------------------------------------------


class MemoryWriteSerializer(StrictInput):
    """One memory to write. Agents write in their own workspace: `agent` defaults to the caller
    for the personal tier and `team` to its team for the team tier. People name the owner
    (`agent` or `team`) or, for the workspace tier, the `workspace`."""

    content = content_field()
    type = StrictCharField(max_length=40, help_text="A memory type key, e.g. learning.")
    tier = serializers.ChoiceField(choices=Tier.choices)
    workspace = ScopedPrimaryKeyField(queryset=Workspace.objects.all(), required=False)
    agent = ScopedPrimaryKeyField(queryset=Agent.objects.all(), required=False)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), required=False)
    importance = score_field(required=False)
    confidence = score_field(required=False)
    tags = tags_field(required=False)
    entities = entities_field(required=False)
    source_trace_id = StrictCharField(max_length=100, required=False, allow_blank=True)
    parents = serializers.ListField(
        child=ScopedPrimaryKeyField(queryset=MemoryItem.objects.all()),
        max_length=MAX_PARENTS,
        required=False,
    )
    valid_from = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField(required=False)


class MemoryBatchSerializer(StrictInput):
    items = serializers.ListField(
        child=MemoryWriteSerializer(),
        min_length=1,
        max_length=settings.MEMORY_MAX_BATCH,
        help_text=f"1 to {settings.MEMORY_MAX_BATCH} memories; more is 413.",
    )


# --- the batch's plain items, validated without DRF's per-field machinery ---------------------
# A 500-item batch ran 7,000 DRF field validations (~0.2 ms per item). Items that only use
# these keys, with values of the plain kinds below, are checked here against the same limits
# (read from MemoryWriteSerializer's own fields) and give the same validated data. Anything
# else -- a missing key, a wrong type, a blank or too-long text, a score out of range, a NUL
# or a surrogate, an id or a date field -- sends the whole body through MemoryBatchSerializer,
# so every error is DRF's, word for word (tests/memories/test_api_bad_input.py).
_WRITE_FIELDS: dict[str, Any] = dict(MemoryWriteSerializer._declared_fields)
_BATCH_LIMIT: Any = MemoryBatchSerializer._declared_fields["items"]
_LEAN_REQUIRED = frozenset({"content", "type", "tier"})
_LEAN_KEYS = frozenset(
    {"content", "type", "tier", "importance", "confidence", "tags", "entities", "source_trace_id"}
)
_TIERS: dict[str, Any] = _WRITE_FIELDS["tier"].choice_strings_to_values


def _lean_text(value: Any, max_length: int, *, allow_blank: bool = False) -> str | None:
    """StrictCharField's result for a plain valid string (stripped), else None."""
    if type(value) is not str:
        return None
    text = value.strip()
    if not text:
        return "" if allow_blank else None
    if len(text) > max_length or "\x00" in text:
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")  # fails on a surrogate, which DRF refuses
        except UnicodeEncodeError:
            return None
    return text


def _lean_score(value: Any) -> float | None:
    if type(value) is not float and type(value) is not int:
        return None  # bools (a subclass of int) included
    return float(value) if 0.0 <= value <= 1.0 else None


def _lean_tags(tags: Any) -> list[str] | None:
    field = _WRITE_FIELDS["tags"]
    if type(tags) is not list or len(tags) > field.max_length:
        return None
    cleaned = [_lean_text(tag, field.child.max_length) for tag in tags]
    return None if None in cleaned else cleaned  # type: ignore[return-value]


def _lean_entities(entities: Any) -> dict[str, str] | None:
    field = _WRITE_FIELDS["entities"]
    if type(entities) is not dict:
        return None
    cleaned = {}
    for key, value in entities.items():
        text = _lean_text(value, field.child.max_length)
        if key not in field.allowed_keys or text is None:
            return None
        cleaned[key] = text
    return cleaned


def _lean_trace(trace: Any) -> str | None:
    return _lean_text(trace, _WRITE_FIELDS["source_trace_id"].max_length, allow_blank=True)


_LEAN_OPTIONAL_CHECKS: tuple[tuple[str, Any], ...] = (
    ("importance", _lean_score),
    ("confidence", _lean_score),
    ("tags", _lean_tags),
    ("entities", _lean_entities),
    ("source_trace_id", _lean_trace),
)


def _lean_item(item: Any) -> dict[str, Any] | None:
    """One item's validated data, in the serializer's field order, or None."""
    if type(item) is not dict or not _LEAN_REQUIRED.issubset(item):
        return None
    if len(item) > len(_LEAN_REQUIRED) and not all(key in _LEAN_KEYS for key in item):
        return None
    content = _lean_text(item["content"], _WRITE_FIELDS["content"].max_length)
    memory_type = _lean_text(item["type"], _WRITE_FIELDS["type"].max_length)
    tier = item["tier"]
    if content is None or memory_type is None or type(tier) is not str or tier not in _TIERS:
        return None
    out: dict[str, Any] = {"content": content, "type": memory_type, "tier": _TIERS[tier]}
    for name, check in _LEAN_OPTIONAL_CHECKS:
        if name in item:
            value = check(item[name])
            if value is None:
                return None
            out[name] = value
    return out


def lean_batch_items(data: Any) -> list[dict[str, Any]] | None:
    """MemoryBatchSerializer's validated items for a body of plain items, or None when any
    part of it needs the serializer (which then gives the errors, or the same data)."""
    if type(data) is not dict or len(data) != 1 or type(data.get("items")) is not list:
        return None
    items = data["items"]
    if not _BATCH_LIMIT.min_length <= len(items) <= _BATCH_LIMIT.max_length:
        return None
    out = []
    for item in items:
        checked = _lean_item(item)
        if checked is None:
            return None
        out.append(checked)
    return out


class MemoryUpdateSerializer(StrictInput):
    needs_a_change = True
    not_a_change = ("reason",)
    content = content_field(required=False)
    type = StrictCharField(max_length=40, required=False)
    importance = score_field(required=False)
    confidence = score_field(required=False)
    tags = tags_field(required=False)
    entities = entities_field(required=False)
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) - set(self.not_a_change):
            raise serializers.ValidationError(
                {"non_field_errors": ["Nothing to change; `reason` alone is not an edit."]}
            )
        return attrs


class ReinforceSerializer(StrictInput):
    importance_delta = StrictFloatField(min_value=0.0, max_value=0.5, required=False)


class ForgetSerializer(StrictInput):
    """Why the memory is forgotten: kept (masked) with the audit event."""

    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class VersionsQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The page of GET /memories/{id}/versions: query strings, so numbers arrive as text."""

    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_VERSIONS_LIMIT, default=DEFAULT_VERSIONS_LIMIT
    )
    before = serializers.IntegerField(min_value=1, max_value=MAX_VERSION_NUMBER, required=False)


class RollbackSerializer(StrictInput):
    version = StrictIntegerField(min_value=1)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class ContextRequestSerializer(StrictInput):
    task = StrictCharField(max_length=MAX_TASK_CHARS, help_text="What the agent is about to do.")
    k = StrictIntegerField(min_value=1, max_value=settings.MEMORY_CONTEXT_MAX_K, default=10)
    token_budget = StrictIntegerField(min_value=1, max_value=1_000_000, required=False)
    types = serializers.ListField(
        child=StrictCharField(max_length=40), max_length=20, required=False
    )
    tags = tags_field(required=False)
    entities = entities_field(required=False)
    trace_id = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    unit_id = unit_id_field()
    channel = eligibility_field("channel")
    segment = eligibility_field("segment")
    examples = StrictIntegerField(
        min_value=0,
        max_value=10,
        default=0,
        help_text="How many few-shot examples to include (0 to 10): your best-rated past "
        "responses to similar tasks, never from an eval holdout (docs/evaluation.md).",
    )


class CoacheeField(ScopedPrimaryKeyField):
    """People name agents they see; a director agent names any agent of its workspace (it sees
    only itself), and the service keeps it to the agents of its own team."""

    def get_queryset(self) -> Any:
        principal = self.context["principal"]
        if principal.kind == "agent":
            return Agent.objects.filter(workspace_id=principal.required_agent.workspace_id)
        return super().get_queryset()


class CoachingSerializer(StrictInput):
    """A coaching note onto one agent's brain (`agent`) or a whole team's (`team`)."""

    exactly_one_of = ("agent", "team")
    content = content_field()
    agent = CoacheeField(queryset=Agent.objects.all(), required=False)
    team = ScopedPrimaryKeyField(queryset=Team.objects.all(), required=False)
    importance = score_field(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("agent" in attrs) == ("team" in attrs):
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of `agent` or `team`."]}
            )
        return attrs
