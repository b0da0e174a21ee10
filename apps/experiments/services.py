"""Experiments: design (a draft and its edits), the lifecycle (start, stop, decide) and
assignment.

Design and lifecycle are people's decisions, each audited in its transaction: editors (and
above) design drafts; admins and owners start, stop and decide. Starting is a direct action
unless the workspace requires approval: then it opens an `experiment_start` review request
(apps.experiments.promotion; docs/experiments.md).

Assignment (`experiment_assign`, `experiment_assign_bulk`) is the hot path: deterministic and
sticky (a unit's variant is read off a hash of the experiment's salt and the unit's keyed
hash, and weights cannot change once the experiment runs), within the eligibility and the
exposure cap; a unit's first assignment inserts its exposure (ON CONFLICT DO NOTHING: once per
unit), a batch in one statement. Exposures are the assignment's record, not decisions: no
audit event per unit.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils.crypto import salted_hmac

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core import clock
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.experiments import design
from apps.experiments.models import Experiment, ExperimentStatus, Variant
from apps.privacy.engine import PIIInputError
from apps.privacy.keyring import masking_keys
from apps.privacy.policies import text_mask
from apps.privacy.saved import masked_rows_saved
from apps.workspaces.models import Agent, Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.services import require

MAX_REASON = 2000
MAX_UNIT = 255
MAX_BULK = 10_000
SALT_PURPOSE = "steward.experiments.salt"
ASSIGNMENT_RESULTS = ("assigned", "exposure_cap", "ineligible", "not_running")
EXPERIMENT_FIELDS = (
    "key",
    "name",
    "hypothesis",
    "owner",
    "unit_kind",
    "eligibility",
    "primary_metric",
    "guardrail_metrics",
    "baseline_rate",
    "minimum_detectable_effect",
    "alpha",
    "power",
    "sample_size_per_variant",
    "exposure_cap",
    "status",
    "winner",
)
VARIANT_FIELDS = (
    "key",
    "is_control",
    "weight",
    "policy_versions",
    "memory_tag",
    "memory_ids",
    "config",
)


def _principal(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def _people_only(principal: Principal, what: str) -> None:
    if principal.kind == "agent":
        raise Forbidden(f"Agents do not {what}; people do.")


def _reason(workspace_id: int, text: object, *, required: bool) -> str:
    if not isinstance(text, str):
        raise ValidationFailed("reason must be text.", fields={"reason": ["Not text."]})
    text = text.strip()
    if required and not text:
        raise ValidationFailed(
            "Give a reason: it is kept in the audit trail.", fields={"reason": ["Required."]}
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            f"reason has at most {MAX_REASON} characters.", fields={"reason": ["Too long."]}
        )
    try:
        return text_mask(workspace_id, text).text if text else ""
    except PIIInputError as exc:
        raise ValidationFailed(str(exc), fields={"reason": [str(exc)]}) from None


def experiment_salt(workspace_id: int, key: str) -> str:
    """Keyed from SECRET_KEY, the workspace and the key: experiments split units independently
    of each other, and the same design gives the same split on every installation's reseed."""
    return salted_hmac(SALT_PURPOSE, f"{workspace_id}:{key}", algorithm="sha256").hexdigest()[:32]


def _snapshot(experiment: Experiment) -> dict[str, Any]:
    after = audit_snapshot(experiment, EXPERIMENT_FIELDS)
    after["variants"] = [
        audit_snapshot(variant, VARIANT_FIELDS) for variant in experiment.variants.order_by("id")
    ]
    return after


def _locked(experiment: Experiment | int) -> Experiment:
    pk = experiment.pk if isinstance(experiment, Experiment) else experiment
    found = Experiment.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound("This experiment no longer exists.")
    return found


# --- design -----------------------------------------------------------------------------------


@transaction.atomic
def experiment_create(*, actor: Any, workspace: Workspace, **fields: Any) -> Experiment:
    """A draft: the design is checked whole (apps.experiments.design) and the sample size
    computed from the power inputs. Editors, admins and owners of the workspace."""
    principal = _principal(actor)
    _people_only(principal, "design experiments")
    require(principal, Action.EDIT, workspace)
    clean = design.checked(workspace, fields)
    variants = clean.pop("variants")
    experiment = Experiment(
        workspace=workspace,
        salt=experiment_salt(workspace.pk, clean["key"]),
        owner=clean.pop("owner", None) or principal.user,
        **clean,
    )
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError:
        raise Conflict(
            f"The workspace already has an experiment {clean['key']!r}.",
            fields={"key": ["Already used in this workspace."]},
        ) from None
    _save_variants(experiment, variants)
    masked_rows_saved(workspace_id=workspace.pk, rows=[experiment], fields=["name", "hypothesis"])
    audit_event_record(
        actor=principal,
        action="experiment.create",
        obj=experiment,
        workspace_id=workspace.pk,
        after=_snapshot(experiment),
    )
    return experiment


def _save_variants(experiment: Experiment, variants: list[dict[str, Any]]) -> None:
    experiment.variants.all().delete()
    Variant.objects.bulk_create(Variant(experiment=experiment, **spec) for spec in variants)


@transaction.atomic
def experiment_update(*, actor: Any, experiment: Experiment, **fields: Any) -> Experiment:
    """Change a draft's design (the fields given; `variants`, when given, replaces them all).
    Once started the design is fixed: assignments must stay sticky."""
    principal = _principal(actor)
    _people_only(principal, "design experiments")
    require(principal, Action.EDIT, experiment)
    locked = _locked(experiment)
    if locked.status != ExperimentStatus.DRAFT:
        raise Conflict("Only a draft's design can change; this experiment has started.")
    if not fields:
        raise ValidationFailed("Nothing to change.")
    before = _snapshot(locked)
    clean = design.checked(locked.workspace, {**design.current(locked), **fields})
    variants = clean.pop("variants")
    if clean["key"] != locked.key:
        raise ValidationFailed(
            "The key of an experiment does not change.", fields={"key": ["Fixed."]}
        )
    for name, value in clean.items():
        setattr(locked, name, value)
    locked.save()
    if "variants" in fields:
        _save_variants(locked, variants)
    masked_rows_saved(
        workspace_id=locked.workspace_id, rows=[locked], fields=["name", "hypothesis"]
    )
    audit_event_record(
        actor=principal,
        action="experiment.update",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after=_snapshot(locked),
    )
    return locked


# --- lifecycle --------------------------------------------------------------------------------


def _transition(
    actor: Any,
    experiment: Experiment,
    *,
    to: str,
    allowed_from: Sequence[str],
    reason: object,
    stamp: str,
    winner: object = None,
) -> Experiment:
    principal = _principal(actor)
    _people_only(principal, "start, stop or decide experiments")
    require(principal, Action.MANAGE, experiment)
    locked = _locked(experiment)
    if locked.status not in allowed_from:
        raise Conflict(
            f"This experiment is {locked.get_status_display().lower()}: it can't be "
            f"{to} from there.",
        )
    clean_reason = _reason(locked.workspace_id, reason, required=True)
    before = {"status": locked.status}
    locked.status = to
    setattr(locked, stamp, clock.now())
    fields = ["status", stamp, "updated_at"]
    if to == ExperimentStatus.DECIDED:
        locked.winner = _winner(locked, winner)
        fields.append("winner")
    locked.save(update_fields=fields)
    after: dict[str, Any] = {"status": to, "exposures": locked.exposure_count}
    if to == ExperimentStatus.DECIDED:
        after["winner"] = locked.winner.key if locked.winner else None
    audit_event_record(
        actor=principal,
        action=f"experiment.{ACTIONS[to]}",
        obj=locked,
        workspace_id=locked.workspace_id,
        before=before,
        after=after,
        reason=clean_reason,
    )
    return locked


ACTIONS: dict[str, str] = {
    ExperimentStatus.RUNNING.value: "start",
    ExperimentStatus.STOPPED.value: "stop",
    ExperimentStatus.DECIDED.value: "decide",
}


def _winner(experiment: Experiment, winner: object) -> Variant | None:
    if winner in (None, ""):
        return None
    found = experiment.variants.filter(key=winner).first() if isinstance(winner, str) else None
    if found is None:
        raise ValidationFailed(
            "The winner is the key of one of the experiment's variants (or empty: none won).",
            fields={"winner": ["Not a variant of this experiment."]},
        )
    return found


@transaction.atomic
def experiment_start(*, actor: Any, experiment: Experiment, reason: str) -> Experiment:
    """Draft -> running: assignment starts. Admins and owners, with a reason (audited).
    Where the workspace requires approval (ExperimentSettings.start_needs_approval), an
    `experiment_start` review request opens instead and the returned experiment is still a
    draft (apps.experiments.promotion)."""
    from apps.experiments import promotion

    if promotion.start_needs_approval(experiment):
        promotion.start_request_open(actor=actor, experiment=experiment, reason=reason)
        return _locked(experiment)
    return _transition(
        actor,
        experiment,
        to=ExperimentStatus.RUNNING,
        allowed_from=[ExperimentStatus.DRAFT],
        reason=reason,
        stamp="started_at",
    )


@transaction.atomic
def experiment_stop(*, actor: Any, experiment: Experiment, reason: str) -> Experiment:
    """Running -> stopped: no unit is assigned any more (callers get `not_running`). A look at
    the stop is enqueued once the stop commits (apps.experiments.tasks)."""
    stopped = _transition(
        actor,
        experiment,
        to=ExperimentStatus.STOPPED,
        allowed_from=[ExperimentStatus.RUNNING],
        reason=reason,
        stamp="stopped_at",
    )
    transaction.on_commit(lambda: _enqueue_stop_analysis(stopped.pk))
    return stopped


def _enqueue_stop_analysis(experiment_id: int) -> None:
    from apps.experiments.models import AnalysisTrigger
    from apps.experiments.tasks import experiment_analyze_task

    experiment_analyze_task.delay(experiment_id, AnalysisTrigger.STOP.value)


@transaction.atomic
def experiment_decide(
    *, actor: Any, experiment: Experiment, reason: str, winner: str | None = None
) -> Experiment:
    """Stopped -> decided, naming the winning variant (or none)."""
    return _transition(
        actor,
        experiment,
        to=ExperimentStatus.DECIDED,
        allowed_from=[ExperimentStatus.STOPPED],
        reason=reason,
        stamp="decided_at",
        winner=winner,
    )


# --- assignment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignContext:
    """Who and where the assignment is for; eligibility lists are matched against it."""

    channel: str = ""
    segment: str = ""
    team: int | None = None
    agent: int | None = None


@dataclass(frozen=True)
class Assignment:
    unit_id: str
    variant: str | None
    result: str  # assigned | exposure_cap | ineligible | not_running
    new_exposure: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "variant": self.variant,
            "in_experiment": self.variant is not None,
            "result": self.result,
            "new_exposure": self.new_exposure,
        }


class Allocation:
    """A variant for a unit hash: the bucket (the first 8 bytes of SHA-256 of salt and hash,
    modulo the total weight) falls in one variant's share of the cumulative weights."""

    def __init__(self, salt: str, variants: Sequence[Variant]) -> None:
        self.salt = salt.encode()
        self.variants = list(variants)
        self.bounds: list[int] = []
        total = 0
        for variant in self.variants:
            total += variant.weight
            self.bounds.append(total)
        self.total = total

    def variant_for(self, unit_hash: str) -> Variant:
        digest = hashlib.sha256(self.salt + b":" + unit_hash.encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") % self.total
        return self.variants[bisect.bisect_right(self.bounds, bucket)]


def unit_hash(unit_id: str, key: bytes | None = None) -> str:
    """The unit's keyed hash, exactly apps.signals.services.subject_hash("unit", unit_id), so
    outcomes (experiment_unit_hash) join exposures."""
    if key is None:
        key = masking_keys().hash_key or b""
    normalized = unit_id.strip().lower()
    return hmac.new(key, f"unit\x00{normalized}".encode(), hashlib.sha256).hexdigest()


def _unit(value: object, name: str = "unit_id") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_UNIT:
        raise ValidationFailed(
            f"{name}: a non-blank string of at most {MAX_UNIT} characters.",
            fields={name: ["A non-blank string of at most 255 characters."]},
        )
    return value


def _assigner(actor: Any, experiment: Experiment) -> Principal:
    """Agents of the experiment's workspace (their token's scope is the view's) and people who
    may edit there (a batch campaign set up by hand)."""
    principal = _principal(actor)
    if principal.kind == "agent":
        if principal.required_agent.workspace_id != experiment.workspace_id:
            raise NotFound("No such experiment.")
    elif principal.kind == "user":
        require(principal, Action.EDIT, experiment)
    return principal


def _context_for(principal: Principal, context: AssignContext) -> AssignContext:
    """An agent is assigned as itself (its id and team), whatever the body says."""
    if principal.kind != "agent":
        return context
    agent: Agent = principal.required_agent
    return AssignContext(context.channel, context.segment, agent.team_id, agent.pk)


def eligible(experiment: Experiment, context: AssignContext) -> bool:
    rules = experiment.eligibility or {}
    checks = (
        ("segments", context.segment),
        ("channels", context.channel),
        ("teams", context.team),
        ("agents", context.agent),
    )
    return all(not rules.get(name) or value in rules[name] for name, value in checks)


def experiment_assign(
    *, actor: Any, experiment: Experiment, unit_id: str, context: AssignContext | None = None
) -> Assignment:
    """One unit's variant (see the module docstring); its first assignment is its exposure.
    The bulk service's transaction is this one's (no savepoint on the hot path)."""
    return experiment_assign_bulk(
        actor=actor, experiment=experiment, unit_ids=[unit_id], context=context
    )[0]


@transaction.atomic
def experiment_assign_bulk(
    *,
    actor: Any,
    experiment: Experiment,
    unit_ids: Sequence[object],
    context: AssignContext | None = None,
) -> list[Assignment]:
    """Up to MAX_BULK units, answered in order; the new exposures in one INSERT. With a cap,
    the experiment row is locked so concurrent batches cannot overshoot it, and units beyond
    it (in the order given) are answered `exposure_cap` without an exposure."""
    principal = _assigner(actor, experiment)
    if not isinstance(unit_ids, Sequence) or isinstance(unit_ids, str) or not unit_ids:
        raise ValidationFailed("unit_ids: a non-empty list.", fields={"unit_ids": ["Required."]})
    if len(unit_ids) > MAX_BULK:
        raise ValidationFailed(
            f"unit_ids: at most {MAX_BULK:,} per request.", fields={"unit_ids": ["Too many."]}
        )
    units = [_unit(value, "unit_ids" if len(unit_ids) > 1 else "unit_id") for value in unit_ids]
    if experiment.status != ExperimentStatus.RUNNING:
        return [Assignment(unit, None, "not_running") for unit in units]
    if not eligible(experiment, _context_for(principal, context or AssignContext())):
        return [Assignment(unit, None, "ineligible") for unit in units]
    allocation = Allocation(experiment.salt, _variants_of(experiment))
    key = masking_keys().hash_key or b""
    hashes = [unit_hash(unit, key) for unit in units]
    chosen = {h: allocation.variant_for(h) for h in hashes}
    admitted, capped = _admit(experiment, list(chosen))
    inserted = _insert_exposures(experiment, [(h, chosen[h].pk) for h in admitted])
    if inserted:
        Experiment.objects.filter(pk=experiment.pk).update(
            exposure_count=F("exposure_count") + len(inserted)
        )
    answers = []
    for unit, h in zip(units, hashes, strict=True):
        if h in capped:
            answers.append(Assignment(unit, None, "exposure_cap"))
        else:
            answers.append(Assignment(unit, chosen[h].key, "assigned", h in inserted))
            inserted.discard(h)  # a unit sent twice in one batch is new once
    return answers


_STARTED_VARIANTS: dict[int, list[Variant]] = {}
_STARTED_VARIANTS_MAX = 1000


def _variants_of(experiment: Experiment) -> list[Variant]:
    """A started experiment's variants never change (experiment_update refuses), so each
    process keeps them: one query less on every assignment."""
    if experiment.status == ExperimentStatus.DRAFT:
        return list(experiment.variants.all())
    found = _STARTED_VARIANTS.get(experiment.pk)
    if found is None:
        if len(_STARTED_VARIANTS) >= _STARTED_VARIANTS_MAX:
            _STARTED_VARIANTS.clear()
        found = _STARTED_VARIANTS[experiment.pk] = list(experiment.variants.all())
    return found


def _admit(experiment: Experiment, hashes: list[str]) -> tuple[list[str], set[str]]:
    """The units whose exposure to insert, and those refused by the cap. Without a cap: all,
    none. With one: new units while the cap has room (units exposed already keep their
    variant and need no row)."""
    if experiment.exposure_cap is None:
        return hashes, set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT exposure_count FROM experiments_experiment WHERE id = %s FOR UPDATE",
            [experiment.pk],
        )
        (count,) = cursor.fetchone()
        cursor.execute(
            "SELECT unit_hash FROM experiments_exposure "
            "WHERE experiment_id = %s AND unit_hash = ANY(%s)",
            [experiment.pk, hashes],
        )
        seen = {row[0] for row in cursor.fetchall()}
    room = max(experiment.exposure_cap - count, 0)
    fresh = [h for h in hashes if h not in seen]
    return fresh[:room], set(fresh[room:])


def _insert_exposures(experiment: Experiment, rows: list[tuple[str, int]]) -> set[str]:
    """One statement: the rows not there yet are inserted; returns their unit hashes."""
    if not rows:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO experiments_exposure "
            "(workspace_id, experiment_id, variant_id, unit_hash, created_at) "
            "SELECT %s, %s, v, h, %s FROM unnest(%s::bigint[], %s::varchar[]) AS t(v, h) "
            "ON CONFLICT (experiment_id, unit_hash) DO NOTHING RETURNING unit_hash",
            [
                experiment.workspace_id,
                experiment.pk,
                clock.now(),
                [variant for _, variant in rows],
                [h for h, _ in rows],
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def assign_context(data: Mapping[str, Any]) -> AssignContext:
    return AssignContext(
        channel=data.get("channel") or "",
        segment=data.get("segment") or "",
        team=data.get("team"),
        agent=data.get("agent"),
    )
