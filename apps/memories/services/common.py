"""What every memory service shares: who may write where, input checks, masking, versions."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from apps.audit.services import audit_snapshot
from apps.core import clock
from apps.core.exceptions import Forbidden, NotFound, ServiceError, ValidationFailed
from apps.memories.embeddings import EmbeddingError, embed_texts
from apps.memories.models import (
    DEFAULT_MEMORY_TYPES,
    ENTITY_KEYS,
    MemoryItem,
    MemoryType,
    MemoryVersion,
    Source,
    Tier,
    WritePolicy,
)
from apps.privacy.engine import PIIInputError
from apps.privacy.saved import masked_rows_saved
from apps.privacy.services import text_mask
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope
from apps.workspaces.services import require

ITEM_FIELDS = (
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
    "tags",
    "entities",
    "valid_from",
    "expires_at",
    "evidence_count",
    "version",
    "deleted_at",
)
WRITE_SCOPE = {
    Tier.PERSONAL: Scope.MEMORIES_WRITE_PERSONAL.value,
    Tier.TEAM: Scope.MEMORIES_WRITE_TEAM.value,
    Tier.WORKSPACE: Scope.MEMORIES_WRITE_WORKSPACE.value,
}
MAX_TAGS = 20
MAX_KEY_CHARS = 80


class EmbeddingUnavailable(ServiceError):
    """The embedding provider failed; nothing was written. Retry later."""

    status_code = 503
    code = "embedding_unavailable"


def snapshot(item: MemoryItem) -> dict[str, Any]:
    return audit_snapshot(item, ITEM_FIELDS)


def principal_of(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def is_operator(principal: Principal) -> bool:
    return principal.kind == "system" or principal.is_superuser


def require_scope(principal: Principal, token_scopes: Collection[str] | None, scope: str) -> None:
    """An agent acts only within its request's token scopes; `None` means no token, no scopes.

    API views pass `request.auth.scopes`; people and system tasks have no token and are
    governed by their roles instead.
    """
    if principal.kind == "agent" and scope not in (token_scopes or ()):
        raise Forbidden(f"This token lacks the {scope} scope.")


def target_of(workspace: Workspace, tier: str, agent: Agent | None, team: Team | None) -> Any:
    """Check the tier's owner fits it and the workspace; return what a permission is about."""
    if tier not in Tier.values:
        raise ValidationFailed(
            f"Unknown tier {tier!r}; use one of {', '.join(Tier.values)}.",
            fields={"tier": ["Unknown tier."]},
        )
    if tier == Tier.PERSONAL and (agent is None or team is not None):
        raise ValidationFailed(
            "A personal memory belongs to one agent: give `agent` and no `team`.",
            fields={"agent": ["Required for the personal tier."]},
        )
    if tier == Tier.TEAM and (team is None or agent is not None):
        raise ValidationFailed(
            "A team memory belongs to one team: give `team` and no `agent`.",
            fields={"team": ["Required for the team tier."]},
        )
    if tier == Tier.WORKSPACE and (team is not None or agent is not None):
        raise ValidationFailed(
            "A workspace memory belongs to no agent or team.",
            fields={"tier": ["Give neither agent nor team for the workspace tier."]},
        )
    owner = agent or team
    if owner is not None and owner.workspace_id != workspace.pk:
        name = "agent" if agent is not None else "team"
        raise ValidationFailed(
            f"The {name} belongs to another workspace.", fields={name: ["Not in this workspace."]}
        )
    return owner or workspace


def require_write(
    principal: Principal,
    token_scopes: Collection[str] | None,
    workspace: Workspace,
    tier: str,
    target: Any,
) -> None:
    """People need edit on the target; agents a token scope for the tier and to own it."""
    if is_operator(principal):
        return
    if principal.kind == "user":
        require(principal, Action.EDIT, target)
        return
    me = principal.required_agent
    if me.workspace_id != workspace.pk:
        raise Forbidden("An agent writes only in its own workspace.")
    require_scope(principal, token_scopes, WRITE_SCOPE[Tier(tier)])
    if tier == Tier.PERSONAL and target.pk != me.pk:
        raise Forbidden("An agent writes only its own personal memories.")
    if tier == Tier.TEAM and (me.team_id is None or target.pk != me.team_id):
        raise Forbidden("An agent writes only its own team's memories.")


def require_change(
    principal: Principal, token_scopes: Collection[str] | None, item: MemoryItem
) -> None:
    """Edit, forget, roll back, reinforce: people with edit; agents within their tiers.

    Agents may not change coaching written onto them: supervision is not theirs to undo.
    """
    if is_operator(principal):
        return
    if principal.kind == "user":
        require(principal, Action.EDIT, item)
        return
    require(principal, Action.VIEW, item)
    target = item.agent or item.team or item.workspace
    require_write(principal, token_scopes, item.workspace, item.tier, target)
    if item.type.key == "coaching":
        raise Forbidden("Agents can't change coaching notes.")


def locked_item(item: MemoryItem | int) -> MemoryItem:
    pk = item.pk if isinstance(item, MemoryItem) else item
    try:
        return (
            MemoryItem.objects.select_for_update(of=("self",))
            .select_related("type", "workspace", "agent", "team")
            .get(pk=pk, deleted_at__isnull=True)
        )
    except ObjectDoesNotExist:
        raise NotFound("This memory doesn't exist or was forgotten.") from None


# --- vocabulary and policy -----------------------------------------------------------------


def memory_types_ensure(workspace: Workspace | int) -> None:
    """Create the default vocabulary of a workspace on first use.

    Not audited: it is the same fixed default for every workspace, not anyone's decision.
    """
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    if MemoryType.objects.filter(workspace_id=workspace_id).exists():
        return
    MemoryType.objects.bulk_create(
        [
            MemoryType(workspace_id=workspace_id, key=key, label=label, default_ttl_days=ttl)
            for key, (label, ttl) in DEFAULT_MEMORY_TYPES.items()
        ],
        ignore_conflicts=True,
    )


def memory_type_for(workspace: Workspace, key: object) -> MemoryType:
    memory_types_ensure(workspace)
    found = (
        MemoryType.objects.filter(workspace=workspace, key=key, is_active=True).first()
        if isinstance(key, str)
        else None
    )
    if found is None:
        valid = MemoryType.objects.filter(workspace=workspace, is_active=True)
        keys = ", ".join(valid.values_list("key", flat=True))
        raise ValidationFailed(
            f"Unknown memory type {key!r}; use one of {keys}.", fields={"type": ["Unknown type."]}
        )
    return found


def write_policy_for(workspace: Workspace) -> WritePolicy:
    """The workspace's policy, created with the defaults the first time (not audited, as
    above; changing it later is)."""
    policy, _ = WritePolicy.objects.get_or_create(
        workspace=workspace, defaults={"dedup_threshold": settings.MEMORY_DEDUP_THRESHOLD}
    )
    return policy


def auto_approved(
    policy: WritePolicy,
    *,
    actor_kind: str,
    tier: str,
    source: str,
    type_key: str,
    confidence: float,
) -> bool:
    """True when one rule of the policy matches every condition it states."""
    for rule in (policy.rules or {}).get("auto_approve", []):
        if not isinstance(rule, Mapping):
            continue
        if (
            rule.get("tier", tier) == tier
            and rule.get("actor_kind", actor_kind) == actor_kind
            and rule.get("source", source) == source
            and type_key in rule.get("types", [type_key])
            and confidence >= float(rule.get("min_confidence", 0.0))
        ):
            return True
    return False


# --- input checks --------------------------------------------------------------------------


def masked(workspace: Workspace | int, field: str, text: str) -> str:
    try:
        return text_mask(workspace, text).text
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={field: [str(exc)]}) from None


def clean_content(workspace: Workspace | int, content: object, field: str = "content") -> str:
    return clean_content_scanned(workspace, content, field)[0]


def clean_content_scanned(
    workspace: Workspace | int, content: object, field: str = "content"
) -> tuple[str, bool]:
    """clean_content, and whether the scan found nothing (the text is stored as given): the
    audit event of the write then need not scan the same text again."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationFailed("Content must be non-empty text.", fields={field: ["Required."]})
    limit = settings.MEMORY_MAX_CONTENT_CHARS
    if len(content) > limit:
        raise ValidationFailed(
            f"Content is {len(content)} characters; the limit is {limit}.",
            fields={field: [f"At most {limit} characters."]},
        )
    try:
        result = text_mask(workspace, content.strip())
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={field: [str(exc)]}) from None
    return result.text, not result.findings


def clean_score(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValidationFailed(f"{field} must be a number.", fields={field: ["Not a number."]})
    if not 0.0 <= float(value) <= 1.0:
        raise ValidationFailed(
            f"{field} must be between 0 and 1 (got {value}).", fields={field: ["Between 0 and 1."]}
        )
    return float(value)


def _clean_key(workspace: Workspace | int, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_KEY_CHARS:
        raise ValidationFailed(
            f"{field} values must be text of 1 to {MAX_KEY_CHARS} characters.",
            fields={field: ["Invalid value."]},
        )
    value = value.strip()
    if masked(workspace, field, value) != value:
        raise ValidationFailed(
            f"{field} are keys, not personal data: use an id instead.",
            fields={field: ["Contains personal data."]},
        )
    return value


def clean_tags(workspace: Workspace | int, tags: object) -> list[str]:
    if not isinstance(tags, list | tuple) or len(tags) > MAX_TAGS:
        raise ValidationFailed(
            f"tags must be a list of at most {MAX_TAGS} strings.", fields={"tags": ["Invalid."]}
        )
    cleaned = [_clean_key(workspace, "tags", tag) for tag in tags]
    if any(len(tag) > 40 for tag in cleaned):
        raise ValidationFailed("A tag has at most 40 characters.", fields={"tags": ["Too long."]})
    return sorted(set(cleaned))


def clean_entities(workspace: Workspace | int, entities: object) -> dict[str, str]:
    if entities is None:
        return {}
    if not isinstance(entities, Mapping):
        raise ValidationFailed(
            "entities must be an object.", fields={"entities": ["Not an object."]}
        )
    unknown = sorted(set(entities) - set(ENTITY_KEYS))
    if unknown:
        raise ValidationFailed(
            f"Unknown entity keys {', '.join(map(str, unknown))}; use {', '.join(ENTITY_KEYS)}.",
            fields={"entities": ["Unknown key."]},
        )
    return {key: _clean_key(workspace, "entities", value) for key, value in entities.items()}


def clean_source(principal: Principal, source: object) -> str:
    if source is None:
        return {"agent": Source.AGENT, "user": Source.HUMAN}.get(principal.kind, Source.IMPORT)
    if source not in Source.values:
        raise ValidationFailed(
            f"Unknown source {source!r}; use one of {', '.join(Source.values)}.",
            fields={"source": ["Unknown source."]},
        )
    return str(source)


def clean_dates(
    valid_from: object, expires_at: object
) -> tuple[dt.datetime | None, dt.datetime | None]:
    for name, value in (("valid_from", valid_from), ("expires_at", expires_at)):
        if value is not None and (not isinstance(value, dt.datetime) or timezone.is_naive(value)):
            raise ValidationFailed(
                f"{name} must be a timezone-aware datetime.", fields={name: ["Invalid datetime."]}
            )
    start = valid_from if isinstance(valid_from, dt.datetime) else None
    end = expires_at if isinstance(expires_at, dt.datetime) else None
    if end is not None and (end <= clock.now() or (start is not None and end <= start)):
        raise ValidationFailed(
            "expires_at must be in the future and after valid_from.",
            fields={"expires_at": ["Must be later."]},
        )
    return start, end


def default_expiry(
    memory_type: MemoryType, tier: str, valid_from: dt.datetime | None
) -> dt.datetime | None:
    days = memory_type.ttl_days(tier)
    if days is None:
        return None
    return (valid_from or clock.now()) + dt.timedelta(days=days)


def embed(texts: list[str]) -> list[list[float]]:
    try:
        return embed_texts(texts)
    except EmbeddingError as exc:
        raise EmbeddingUnavailable(str(exc)) from exc


# --- versions ------------------------------------------------------------------------------


def record_version(item: MemoryItem, principal: Principal, reason: str) -> MemoryVersion:
    version = MemoryVersion.objects.create(
        item=item,
        version=item.version,
        content=item.content,
        importance=item.importance,
        confidence=item.confidence,
        type_id=item.type_id,
        tags=list(item.tags),
        entities=dict(item.entities),
        actor_kind=principal.kind,
        actor_id=principal.actor_id,
        actor_label=masked(item.workspace_id, "actor", principal.label)[:200],
        reason=masked(item.workspace_id, "reason", reason) if reason else "",
    )
    masked_rows_saved(workspace_id=item.workspace_id, rows=[version])
    return version


def ids_of(values: Iterable[Any]) -> list[int]:
    return [value.pk if hasattr(value, "pk") else int(value) for value in values]
