"""Learning candidates: feedback that says the same thing, aggregated into one proposed memory.

Each feedback with an explanation or an edit is a piece of evidence (type `correction` when
it edits the output or judges it bad, `preference` otherwise). Pieces are clustered by meaning
(cosine similarity of their embeddings, at least the workspace's `similarity`) into one
LearningCandidate per cluster, with its evidence linked (CandidateEvidence: the feedback and
its trace). A candidate is proposed as a memory (through apps.memories' write service, so the
write policy, the duplicate check and the review queue apply) only once its evidence reaches
the workspace's thresholds: `min_traces` independent traces (default 3), or
`min_editor_evidence` pieces from people with the editor role or higher (default 1). One
angry correction relayed by an agent proposes nothing.

Evidence that only agents produced (an end customer's words relayed by an agent, a verifier's
verdict) and that no person verified is never approved at once: its memory waits in the review
queue whatever the write policy says. Evidence arriving after the proposal adds to the
memory's evidence count and links (a reinforcement), unless the memory was decided otherwise.

Runs inside the ingestion's transaction, after the batch is stored (`feedback_learn`): one
embedding call and one nearest-candidate query per batch. If the embedder fails, the feedback
is stored anyway and learning skips the batch (logged); `manage.py signals_learn` picks such
feedback up later. docs/signals.md, "Learning candidates".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.audit.services import audit_event_record
from apps.core.exceptions import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from apps.memories.embeddings import EmbeddingError, embed_texts
from apps.memories.models import MemoryItem, Source, Status, Tier
from apps.memories.services import EmbeddingUnavailable, memory_write_batch
from apps.memories.services.writes import Evidence, MemoryWriteResult
from apps.privacy.policies import field_mask
from apps.privacy.saved import masked_rows_saved
from apps.signals import distill
from apps.signals.models import (
    CandidateEvidence,
    CandidateStatus,
    Feedback,
    LearningCandidate,
    LearningSettings,
    Trace,
)
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action

logger = logging.getLogger(__name__)

LEARNER = Principal.system("signals.learning")
CORRECTION = "correction"
PREFERENCE = "preference"
MAX_CONTENT = 2000
MAX_LINKS = 200

_NEAREST_SQL = """
SELECT q.n, c.id, 1 - (c.embedding <=> q.embedding) AS similarity
FROM unnest(%s::int[], %s::text[], %s::vector[]) AS q(n, memory_type, embedding)
CROSS JOIN LATERAL (
    SELECT i.id, i.embedding
    FROM signals_learningcandidate i
    WHERE i.workspace_id = %s AND i.memory_type = q.memory_type
    ORDER BY (i.embedding <=> q.embedding) + 0, i.id
    LIMIT 1
) c
"""


# --- settings -------------------------------------------------------------------------------


def learning_settings_for(workspace: Workspace | int) -> LearningSettings:
    """The workspace's thresholds; the defaults (unsaved) when it never changed them."""
    pk = workspace.pk if isinstance(workspace, Workspace) else workspace
    found = LearningSettings.objects.filter(workspace_id=pk).first()
    return found or LearningSettings(workspace_id=pk)


SETTING_FIELDS = ("min_traces", "min_editor_evidence", "similarity", "distill")


@transaction.atomic
def learning_settings_update(
    *, actor: Any, workspace: Workspace, reason: str = "", **values: Any
) -> LearningSettings:
    """Change the thresholds: workspace admins (manage), since they decide how easily
    feedback becomes proposed memories. Audited with before and after."""
    principal = as_principal(actor)
    if principal.kind == "agent" or (
        principal.kind == "user"
        and not Workspace.objects.visible_to(principal, Action.MANAGE)
        .filter(pk=workspace.pk)
        .exists()
    ):
        raise Forbidden("Changing the learning thresholds needs the admin role.")
    unknown = sorted(set(values) - set(SETTING_FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown setting(s): {', '.join(unknown)}.")
    row = LearningSettings.objects.select_for_update().filter(workspace=workspace).first()
    row = row or LearningSettings(workspace=workspace)
    before = _settings_dict(row)
    for name, value in values.items():
        setattr(row, name, _clean_setting(name, value))
    row.save()
    audit_event_record(
        actor=principal,
        action="signals.learning_settings_update",
        obj=row,
        workspace_id=workspace.pk,
        before=before,
        after=_settings_dict(row),
        reason=reason,
    )
    return row


def _clean_setting(name: str, value: Any) -> Any:
    if name == "distill":
        if not isinstance(value, bool):
            raise ValidationFailed("distill is true or false.", fields={name: ["A boolean."]})
        return value
    if name == "similarity":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 <= value <= 1:
            raise ValidationFailed(
                "similarity is a number from 0.5 to 1.", fields={name: ["From 0.5 to 1."]}
            )
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValidationFailed(
            f"{name} is a whole number from 1 to 1000.", fields={name: ["1-1000."]}
        )
    return value


def _settings_dict(row: LearningSettings) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SETTING_FIELDS}


# --- evidence -------------------------------------------------------------------------------


def evidence_of(feedback: Feedback) -> tuple[str, str] | None:
    """(memory type, text) a feedback contributes, or None (thumbs or a rating alone say
    nothing to learn). The explanation speaks for itself; an edit without one is its added
    lines. An edit or a bad judgement is a correction; anything else a preference."""
    text = feedback.explanation.strip() or _edit_text(feedback.diff)
    if not text:
        return None
    bad = feedback.thumbs == -1 or (feedback.rating is not None and feedback.rating <= 2)
    kind = CORRECTION if feedback.edited_output or bad else PREFERENCE
    return kind, text[:MAX_CONTENT]


def _edit_text(diff: str) -> str:
    """An edit as words: the lines it added ("Write it as: ..."), or, when it only removed
    lines, those ("Leave out: ...")."""
    changed: dict[str, list[str]] = {"+": [], "-": []}
    for line in diff.splitlines():
        if line[:1] in changed and line[:3] not in ("+++", "---") and line[1:].strip():
            changed[line[0]].append(line[1:].strip())
    if changed["+"]:
        return "Write it as: " + " / ".join(changed["+"])
    if changed["-"]:
        return "Leave out: " + " / ".join(changed["-"])
    return ""


def _editor_ids(workspace_id: int, user_ids: set[int]) -> set[int]:
    """The people among `user_ids` who hold the edit role in the workspace (or operate it)."""
    from django.contrib.auth import get_user_model

    found = set()
    for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True):
        if Workspace.objects.visible_to(user, Action.EDIT).filter(pk=workspace_id).exists():
            found.add(user.pk)
    return found


@dataclass
class _Piece:
    feedback: Feedback
    memory_type: str
    text: str
    vector: np.ndarray
    by_person: bool
    by_editor: bool
    candidate: LearningCandidate | None = None
    similarity: float = 1.0


@dataclass
class LearnResult:
    pieces: int = 0
    new_candidates: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    proposed: list[int] = field(default_factory=list)  # candidate ids proposed now
    memories: list[int] = field(default_factory=list)
    skipped: str = ""


def _unit(vector: Sequence[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


def _vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, as apps.memories.services.writes formats it (~3x faster than
    formatting each number on its own)."""
    return "[" + ",".join(["%.9g"] * len(vector)) % tuple(vector.tolist()) + "]"


def _pieces(workspace_id: int, rows: Sequence[Feedback]) -> list[_Piece]:
    found = [(row, evidence_of(row)) for row in rows]
    useful = [(row, ev) for row, ev in found if ev is not None]
    if not useful:
        return []
    vectors = embed_texts([text for _, (_, text) in useful])
    people = {row.given_by_id for row, _ in useful if row.given_by_id is not None}
    editors = _editor_ids(workspace_id, people) if people else set()
    return [
        _Piece(
            feedback=row,
            memory_type=kind,
            text=text,
            vector=_unit(vector),
            by_person=row.kind == "user" and row.given_by_id is not None,
            by_editor=row.kind == "user" and row.given_by_id in editors,
        )
        for (row, (kind, text)), vector in zip(useful, vectors, strict=True)
    ]


def _nearest_stored(workspace_id: int, pieces: list[_Piece]) -> list[tuple[int, float] | None]:
    from django.db import connection

    nearest: list[tuple[int, float] | None] = [None] * len(pieces)
    with connection.cursor() as cursor:
        cursor.execute(
            _NEAREST_SQL,
            [
                list(range(len(pieces))),
                [p.memory_type for p in pieces],
                [_vector_literal(p.vector) for p in pieces],
                workspace_id,
            ],
        )
        for n, pk, similarity in cursor.fetchall():
            nearest[int(n)] = (int(pk), float(similarity))
    return nearest


def _cluster(workspace: Workspace, pieces: list[_Piece], threshold: float) -> list[int]:
    """Attach each piece to the nearest candidate at or above `threshold` (stored, or made
    earlier in this batch), else start a candidate with it. Returns the new candidates' ids."""
    nearest = _nearest_stored(workspace.pk, pieces)
    stored_ids = {hit[0] for hit in nearest if hit is not None and hit[1] >= threshold}
    stored = {
        c.pk: c
        for c in LearningCandidate.objects.select_for_update().filter(
            workspace_id=workspace.pk, pk__in=stored_ids
        )
    }
    fresh: list[LearningCandidate] = []
    fresh_vectors: list[np.ndarray] = []
    now = timezone.now()
    for piece, hit in zip(pieces, nearest, strict=True):
        best: tuple[LearningCandidate, float] | None = None
        if hit is not None and hit[1] >= threshold and hit[0] in stored:
            best = (stored[hit[0]], hit[1])
        for candidate, vector in zip(fresh, fresh_vectors, strict=True):
            if candidate.memory_type != piece.memory_type:
                continue
            similarity = float(vector @ piece.vector)
            if similarity >= threshold and (best is None or similarity > best[1]):
                best = (candidate, similarity)
        if best is None:
            candidate = LearningCandidate(
                workspace=workspace,
                memory_type=piece.memory_type,
                content=piece.text,
                embedding=piece.vector.tolist(),
                created_at=now,
                updated_at=now,
            )
            fresh.append(candidate)
            fresh_vectors.append(piece.vector)
            best = (candidate, 1.0)
        piece.candidate, piece.similarity = best
    LearningCandidate.objects.bulk_create(fresh)
    masked_rows_saved(workspace_id=workspace.pk, rows=fresh, fields=["content"])
    CandidateEvidence.objects.bulk_create(
        [
            CandidateEvidence(
                workspace=workspace,
                candidate=p.candidate,
                feedback=p.feedback,
                trace_id=p.feedback.trace_id,
                by_person=p.by_person,
                by_editor=p.by_editor,
                similarity=round(p.similarity, 4),
                created_at=now,
            )
            for p in pieces
        ]
    )
    return [c.pk for c in fresh]


def _recount(workspace_id: int, ids: list[int]) -> dict[int, LearningCandidate]:
    """Evidence counts from the evidence rows (one query), saved on the candidates."""
    counts = (
        CandidateEvidence.objects.filter(candidate_id__in=ids)
        .values("candidate_id")
        .annotate(
            traces=Count("trace_id", distinct=True),
            editors=Count("id", filter=Q(by_editor=True)),
            people=Count("id", filter=Q(by_person=True)),
        )
    )
    by_id = {row["candidate_id"]: row for row in counts}
    candidates = {
        c.pk: c
        for c in LearningCandidate.objects.select_for_update().filter(
            workspace_id=workspace_id, pk__in=ids
        )
    }
    now = timezone.now()
    for pk, candidate in candidates.items():
        row = by_id.get(pk, {"traces": 0, "editors": 0, "people": 0})
        candidate.evidence_count = row["traces"]
        candidate.editor_count = row["editors"]
        candidate.person_verified = row["people"] > 0
        candidate.updated_at = now
    LearningCandidate.objects.bulk_update(
        list(candidates.values()),
        ["evidence_count", "editor_count", "person_verified", "updated_at"],
    )
    return candidates


def is_ready(candidate: LearningCandidate, settings_row: LearningSettings) -> bool:
    return (
        candidate.evidence_count >= settings_row.min_traces
        or candidate.editor_count >= settings_row.min_editor_evidence
    )


# --- proposing ------------------------------------------------------------------------------


def _evidence_links(candidate: LearningCandidate, since_id: int = 0) -> tuple[int, Evidence]:
    rows = list(
        CandidateEvidence.objects.filter(candidate=candidate, pk__gt=since_id)
        .order_by("pk")
        .values_list("pk", "feedback_id", "trace_id")
    )
    traces = sorted({trace for _, _, trace in rows})
    links = {
        "signal_feedback": [fb for _, fb, _ in rows][-MAX_LINKS:],
        "signal_traces": traces[-MAX_LINKS:],
        "learning_candidate": [candidate.pk],
    }
    return len(traces), Evidence(count=len(traces), links=links)


def _owner(candidate: LearningCandidate) -> dict[str, Any]:
    """Where the memory belongs: the one agent all the evidence is about (its personal tier),
    their one team (the team tier), else the workspace."""
    agent_ids = set(
        Trace.objects.filter(
            pk__in=CandidateEvidence.objects.filter(candidate=candidate).values("trace_id")
        ).values_list("agent_id", flat=True)
    )
    agents = list(Agent.objects.filter(pk__in=agent_ids).select_related("team"))
    if len(agents) == 1:
        return {"tier": Tier.PERSONAL, "agent": agents[0]}
    teams = {agent.team_id for agent in agents}
    if len(teams) == 1 and None not in teams:
        return {"tier": Tier.TEAM, "team": agents[0].team}
    return {"tier": Tier.WORKSPACE}


def _proposal_text(
    candidate: LearningCandidate, settings_row: LearningSettings
) -> tuple[str, bool]:
    if settings_row.distill and distill.distill_configured():
        texts = [
            text
            for text in CandidateEvidence.objects.filter(candidate=candidate)
            .order_by("pk")
            .values_list("feedback__explanation", flat=True)[: distill.MAX_EXPLANATIONS]
            if text
        ]
        rule = distill.distilled_rule(texts or [candidate.content])
        if rule:
            return field_mask(
                candidate.workspace_id, LearningCandidate, "proposed_content", rule
            ), True
    return candidate.content, False


def candidate_propose(
    *,
    actor: Any,
    candidate: LearningCandidate,
    settings_row: LearningSettings,
    review_required: bool = False,
) -> MemoryWriteResult:
    """Write the candidate's memory (type, owner and evidence as the candidate says). Agent-
    only evidence, or `review_required` (the one-click path), leaves it proposed whatever the
    write policy says. The caller holds the candidate's row lock."""
    count, evidence = _evidence_links(candidate)
    content, distilled = _proposal_text(candidate, settings_row)
    spec = {
        "content": content,
        "type": candidate.memory_type,
        "source": Source.SIGNAL,
        "confidence": min(0.9, 0.4 + 0.1 * count),
        **_owner(candidate),
    }
    result = memory_write_batch(
        actor=LEARNER,
        workspace=candidate.workspace,
        items=[spec],
        evidence=[evidence],
        review_required=review_required or not candidate.person_verified,
    )[0]
    candidate.memory = result.item
    candidate.status = CandidateStatus.PROPOSED
    candidate.proposed_content = content
    candidate.distilled = distilled
    candidate.proposed_at = timezone.now()
    candidate.save(
        update_fields=["memory", "status", "proposed_content", "distilled", "proposed_at"]
    )
    masked_rows_saved(
        workspace_id=candidate.workspace_id, rows=[candidate], fields=["proposed_content"]
    )
    audit_event_record(
        actor=as_principal(actor),
        action="signals.candidate_propose",
        obj=candidate,
        workspace_id=candidate.workspace_id,
        after={
            "memory": result.item.pk,
            "outcome": result.outcome,
            "evidence_count": candidate.evidence_count,
            "editor_count": candidate.editor_count,
            "person_verified": candidate.person_verified,
            "distilled": distilled,
        },
    )
    return result


def _reinforce(candidate: LearningCandidate, since_id: int) -> MemoryItem | None:
    """New evidence for a proposed candidate: added to its memory, if that is still live."""
    memory = candidate.memory
    if memory is None or memory.status not in (Status.APPROVED, Status.PROPOSED):
        return None
    if memory.deleted_at is not None:
        return None
    count, evidence = _evidence_links(candidate, since_id)
    if count == 0:
        return None
    spec = {
        "content": memory.content,
        "type": memory.type.key,
        "tier": memory.tier,
        "agent": memory.agent,
        "team": memory.team,
        "entities": memory.entities,
        "source": Source.SIGNAL,
    }
    result = memory_write_batch(
        actor=LEARNER,
        workspace=candidate.workspace,
        items=[spec],
        evidence=[evidence],
        review_required=True,
    )[0]
    return result.item


def feedback_learn(
    *,
    actor: Any,
    workspace: Workspace,
    feedback: Sequence[Feedback],
    advance: bool = True,
) -> LearnResult:
    """Cluster a stored batch of feedback into candidates and propose those that reached the
    thresholds (see the module docstring). Runs in the caller's transaction; an embedder
    failure skips learning (the feedback stays stored) and says so in the result. Feedback
    already counted is left out. `advance=False` only clusters (the one-click proposes)."""
    result = LearnResult()
    settings_row = learning_settings_for(workspace)
    counted = set(
        CandidateEvidence.objects.filter(feedback__in=[f.pk for f in feedback]).values_list(
            "feedback_id", flat=True
        )
    )
    feedback = [f for f in feedback if f.pk not in counted]
    try:
        pieces = _pieces(workspace.pk, feedback)
    except EmbeddingError as exc:
        logger.warning("Learning skipped a feedback batch of workspace %s: %s", workspace.pk, exc)
        result.skipped = "embedding unavailable"
        return result
    if not pieces:
        return result
    result.pieces = len(pieces)
    first_new_evidence = (
        CandidateEvidence.objects.filter(workspace=workspace)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
        or 0
    )
    with transaction.atomic():
        result.new_candidates = _cluster(workspace, pieces, settings_row.similarity)
        touched = sorted({p.candidate.pk for p in pieces if p.candidate is not None})
        result.touched = touched
        candidates = _recount(workspace.pk, touched)
        for pk in touched if advance else ():
            _advance(actor, candidates[pk], settings_row, first_new_evidence, result)
        audit_event_record(
            actor=as_principal(actor),
            action="signals.feedback_learn",
            object_type="workspaces.workspace",
            object_id=str(workspace.pk),
            workspace_id=workspace.pk,
            after={
                "pieces": result.pieces,
                "candidates": touched,
                "new": result.new_candidates,
                "proposed": result.proposed,
                "memories": result.memories,
            },
        )
    return result


def _advance(
    actor: Any,
    candidate: LearningCandidate,
    settings_row: LearningSettings,
    since_id: int,
    result: LearnResult,
) -> None:
    """Propose a candidate that reached the thresholds; add new evidence to a proposed one's
    memory. Each in a savepoint: a refusal (the workspace turned the memory type off, say)
    leaves the candidate collecting and the batch stored."""
    propose = candidate.status == CandidateStatus.COLLECTING and is_ready(candidate, settings_row)
    if not propose and candidate.status != CandidateStatus.PROPOSED:
        return
    try:
        with transaction.atomic():
            if propose:
                written = candidate_propose(
                    actor=actor, candidate=candidate, settings_row=settings_row
                )
                result.proposed.append(candidate.pk)
                result.memories.append(written.item.pk)
                return
            item = _reinforce(candidate, since_id)
            if item is not None:
                result.memories.append(item.pk)
    except ServiceError as exc:
        logger.warning("Candidate %s not proposed: %s", candidate.pk, exc.message)


# --- the one-click ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneClick:
    memory: MemoryItem
    candidate: LearningCandidate
    created: bool  # False: the feedback's candidate had been proposed already


@transaction.atomic
def feedback_memory_propose(*, actor: Any, feedback: Feedback | int) -> OneClick:
    """Turn one feedback's explanation or edit into a proposed memory now (the "turn this
    correction into a memory" button): people with the editor role or higher in the
    workspace. The memory always waits in the review queue, whatever the write policy says;
    the feedback's candidate (made if it has none) is proposed whatever its evidence count,
    with every piece of evidence it holds. Asking again answers with the same memory while it
    is proposed or approved; after a rejection (or expiry) a person's click proposes anew."""
    principal = as_principal(actor)
    pk = feedback.pk if isinstance(feedback, Feedback) else feedback
    if principal.kind != "user" and principal.kind != "system":
        raise Forbidden("Only people turn feedback into memories.")
    rows = (
        Feedback.objects.all()
        if principal.kind == "system"
        else (Feedback.objects.visible_to(principal, Action.VIEW))
    )
    found = rows.select_related("workspace").filter(pk=pk).first()
    if found is None:
        raise NotFound("Unknown feedback, or not one you may see.")
    if principal.kind == "user" and not (
        Workspace.objects.visible_to(principal, Action.EDIT).filter(pk=found.workspace_id).exists()
    ):
        raise Forbidden("Turning feedback into a memory needs the editor role (or higher).")
    if evidence_of(found) is None:
        raise Conflict(
            "This feedback has no explanation or edit to learn from (thumbs or a rating only).",
        )
    evidence = CandidateEvidence.objects.filter(feedback=found).select_related("candidate").first()
    if evidence is None:
        learned = feedback_learn(
            actor=principal, workspace=found.workspace, feedback=[found], advance=False
        )
        if learned.skipped:
            raise EmbeddingUnavailable("The embedder is unavailable; nothing was written.")
        evidence = CandidateEvidence.objects.get(feedback=found)
    candidate = LearningCandidate.objects.select_for_update().get(pk=evidence.candidate_id)
    memory = MemoryItem.objects.filter(pk=candidate.memory_id).first()
    live = memory is not None and memory.deleted_at is None
    if live and memory is not None and memory.status in (Status.PROPOSED, Status.APPROVED):
        return OneClick(memory=memory, candidate=candidate, created=False)
    written = candidate_propose(
        actor=principal,
        candidate=candidate,
        settings_row=learning_settings_for(found.workspace_id),
        review_required=True,
    )
    return OneClick(memory=written.item, candidate=candidate, created=True)
