"""Eval sets, their cases, eval runs and the promotion block's settings. Each service takes an
`actor`, checks permission, writes its change and its audit event in one transaction.

Who does what: editors (and admins, owners) create sets and add or retire cases; every change
of the cases makes a new set version and a case is never edited in place (a run against
version N stays reproducible). Runs are posted by people who edit, or by a harness's agent
token of the workspace (`policies:propose`). Owners and admins change the promotion block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify

from apps.audit.services import audit_event_record, audit_snapshot
from apps.core.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from apps.evals.models import EvalCase, EvalResult, EvalRun, EvalSet, EvalSettings, Split
from apps.policies.models import ArtifactVersion
from apps.privacy.policies import field_mask, identifier_screen, label_mask
from apps.privacy.saved import masked_rows_saved
from apps.signals.models import Trace
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal, as_principal
from apps.workspaces.roles import Action
from apps.workspaces.scopes import Scope
from apps.workspaces.services import require

MAX_CASES_PER_CHANGE = 500
MAX_RESULTS_PER_RUN = 2000
MAX_JSON_CHARS = 20_000
MAX_NOTES = 2000
SET_FIELDS = ("key", "name", "description", "version")
SETTINGS_FIELDS = ("block_promotion", "max_regression_rate", "max_success_drop", "require_run")


def _principal(actor: Any) -> Principal:
    principal = as_principal(actor)
    if not principal.is_authenticated:
        raise Forbidden("You must be signed in (an active user or agent).")
    return principal


def _people_only(principal: Principal, what: str) -> None:
    if principal.kind == "agent":
        raise Forbidden(f"Agents do not {what}; people do.")


def _require(principal: Principal, action: str, obj: Any) -> None:
    if principal.kind == "system" or principal.is_superuser:
        return
    require(principal, action, obj)


def _locked_set(eval_set: EvalSet | int) -> EvalSet:
    pk = eval_set.pk if isinstance(eval_set, EvalSet) else eval_set
    found = EvalSet.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound("This eval set doesn't exist.")
    return found


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _slug(workspace_id: int, field: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value or slugify(value) != value or len(value) > limit:
        raise _bad(field, f"{field} is a slug of at most {limit} characters (a-z, 0-9, - and _).")
    return identifier_screen(workspace_id, field, value)


def _text(workspace_id: int, model: Any, field: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be text.")
    value = value.strip()
    if len(value) > limit:
        raise _bad(field, f"{field} has at most {limit} characters.")
    return field_mask(workspace_id, model, field, value) if value else ""


def _json(workspace: Workspace, field: str, value: object) -> Any:
    import json

    from apps.signals.services import ItemRejected, JsonMasker

    if len(json.dumps(value, default=str)) > MAX_JSON_CHARS:
        raise _bad(field, f"{field} is at most {MAX_JSON_CHARS:,} characters of JSON.")
    try:
        return JsonMasker(workspace).mask(field, value)
    except ItemRejected as exc:
        raise _bad(field, exc.message) from None


def cases_at(eval_set: EvalSet, version: int | None = None) -> Any:
    """The cases of `version` (default: the current one)."""
    number = eval_set.version if version is None else version
    return EvalCase.objects.filter(eval_set=eval_set, added_in__lte=number).filter(
        Q(retired_in__isnull=True) | Q(retired_in__gt=number)
    )


def holdout_by_share(eval_set_id: int, key: str, share: float) -> bool:
    """A deterministic random split: the case is held out when the SHA-256 of the set and the
    key, read as a number in [0, 1), falls below `share` (same set and key, same answer)."""
    digest = hashlib.sha256(f"{eval_set_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


# --- sets and cases ---------------------------------------------------------------------------


@transaction.atomic
def eval_set_create(
    *, actor: Any, workspace: Workspace, key: str, name: str, description: str = ""
) -> EvalSet:
    """An empty set at version 1; cases come with eval_cases_add. Editors and above."""
    principal = _principal(actor)
    _people_only(principal, "define eval sets")
    _require(principal, Action.EDIT, workspace)
    eval_set = EvalSet(
        workspace=workspace,
        key=_slug(workspace.pk, "key", key, 60),
        name=_text(workspace.pk, EvalSet, "name", name, 200),
        description=_text(workspace.pk, EvalSet, "description", description, 5000),
    )
    if not eval_set.name:
        raise _bad("name", "Give the set a name.")
    try:
        with transaction.atomic():
            eval_set.save()
    except IntegrityError:
        raise Conflict(f"An eval set with the key {key} already exists here.") from None
    masked_rows_saved(workspace_id=workspace.pk, rows=[eval_set], fields=["name", "description"])
    audit_event_record(
        actor=principal,
        action="evals.set_create",
        obj=eval_set,
        workspace_id=workspace.pk,
        after=audit_snapshot(eval_set, SET_FIELDS),
    )
    return eval_set


def _case_row(
    eval_set: EvalSet, item: dict[str, Any], version: int, share: float | None
) -> EvalCase:
    workspace = eval_set.workspace
    key = _slug(workspace.pk, "cases.key", item.get("key"), 80)
    trace = None
    if item.get("trace") is not None:
        trace = Trace.objects.filter(pk=item["trace"], workspace_id=workspace.pk).first()
        if trace is None:
            raise _bad("cases.trace", f"Case {key}: no such trace in this workspace.")
    task_input = item.get("input")
    if task_input is None and trace is not None:
        task_input = {"task": trace.task}  # stored masked already
    if task_input is None:
        raise _bad("cases.input", f"Case {key}: give an input (or a trace to take it from).")
    expected = item.get("expected")
    if expected is None and trace is not None and trace.output:
        expected = {"output": trace.output}
    split = item.get("split")
    if split is None:
        split = Split.HOLDOUT if share and holdout_by_share(eval_set.pk, key, share) else Split.DEV
    if split not in Split.values:
        raise _bad("cases.split", f"Case {key}: split is dev or holdout.")
    return EvalCase(
        eval_set=eval_set,
        key=key,
        split=split,
        input=_json(workspace, "input", task_input),
        expected=None if expected is None else _json(workspace, "expected", expected),
        rubric=_text(workspace.pk, EvalCase, "rubric", item.get("rubric", ""), 5000),
        source_trace=trace,
        added_in=version,
    )


@transaction.atomic
def eval_cases_add(
    *,
    actor: Any,
    eval_set: EvalSet | int,
    cases: Sequence[dict[str, Any]],
    holdout_share: float | None = None,
) -> EvalSet:
    """Add cases as a new set version. Each case has a key (new among the current cases), an
    input (or a `trace` of the workspace to make it from: its task, and its output as the
    expected outcome), an optional expected outcome and rubric, and its split: given per case,
    or drawn deterministically with `holdout_share` (0..1) for the cases that give none."""
    principal = _principal(actor)
    _people_only(principal, "change eval sets")
    eval_set = _locked_set(eval_set)
    _require(principal, Action.EDIT, eval_set)
    if not isinstance(cases, list | tuple) or not cases:
        raise _bad("cases", "Give at least one case.")
    if len(cases) > MAX_CASES_PER_CHANGE:
        raise _bad("cases", f"At most {MAX_CASES_PER_CHANGE} cases per change.")
    if holdout_share is not None and not 0 <= holdout_share <= 1:
        raise _bad("holdout_share", "holdout_share is between 0 and 1.")
    version = eval_set.version + 1
    rows = [_case_row(eval_set, dict(item), version, holdout_share) for item in cases]
    keys = [row.key for row in rows]
    if len(set(keys)) != len(keys):
        raise _bad("cases.key", "A key appears twice in this change.")
    taken = set(cases_at(eval_set).filter(key__in=keys).values_list("key", flat=True))
    if taken:
        raise Conflict(f"These keys are current cases already: {', '.join(sorted(taken))}.")
    EvalCase.objects.bulk_create(rows)
    masked_rows_saved(
        workspace_id=eval_set.workspace_id, rows=rows, fields=["input", "expected", "rubric"]
    )
    return _new_version(principal, eval_set, "evals.cases_add", {"added": keys})


@transaction.atomic
def eval_cases_retire(
    *, actor: Any, eval_set: EvalSet | int, keys: Sequence[str], reason: str = ""
) -> EvalSet:
    """Retire current cases as a new set version (the rows stay: older runs still name them)."""
    principal = _principal(actor)
    _people_only(principal, "change eval sets")
    eval_set = _locked_set(eval_set)
    _require(principal, Action.EDIT, eval_set)
    if not isinstance(keys, list | tuple) or not keys or len(keys) > MAX_CASES_PER_CHANGE:
        raise _bad("keys", f"Give 1 to {MAX_CASES_PER_CHANGE} case keys.")
    if not all(isinstance(key, str) for key in keys) or len(set(keys)) != len(keys):
        raise _bad("keys", "Keys are distinct strings.")
    current = list(cases_at(eval_set).filter(key__in=keys))
    missing = sorted(set(keys) - {case.key for case in current})
    if missing:
        raise _bad("keys", f"Not current cases of this set: {', '.join(missing)}.")
    version = eval_set.version + 1
    EvalCase.objects.filter(pk__in=[case.pk for case in current]).update(retired_in=version)
    reason = _text(eval_set.workspace_id, EvalCase, "rubric", reason, 2000)
    return _new_version(
        principal, eval_set, "evals.cases_retire", {"retired": sorted(keys)}, reason
    )


def _new_version(
    principal: Principal, eval_set: EvalSet, action: str, change: dict[str, Any], reason: str = ""
) -> EvalSet:
    before = eval_set.version
    eval_set.version = before + 1
    eval_set.save(update_fields=["version", "updated_at"])
    audit_event_record(
        actor=principal,
        action=action,
        obj=eval_set,
        workspace_id=eval_set.workspace_id,
        before={"version": before},
        after={"version": eval_set.version, **change},
        reason=reason,
    )
    return eval_set


# --- runs -------------------------------------------------------------------------------------


def _may_post(principal: Principal, eval_set: EvalSet, scopes: Sequence[str] | None) -> None:
    if principal.kind == "agent":
        agent = principal.required_agent
        if agent.workspace_id != eval_set.workspace_id:
            raise NotFound("This eval set doesn't exist.")
        if scopes is not None and Scope.POLICIES_PROPOSE.value not in scopes:
            raise Forbidden("Posting eval runs needs the policies:propose scope.")
        return
    _require(principal, Action.EDIT, eval_set)


def _decimal(field: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _bad(field, f"{field} is a number.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _bad(field, f"{field} is a number.") from None
    if not number.is_finite() or number < 0 or number >= Decimal(10) ** 8:
        raise _bad(field, f"{field} is between 0 and 10^8.")
    return number.quantize(Decimal("0.000001"))


def _result_row(
    workspace_id: int, run: EvalRun, case: EvalCase, item: dict[str, Any]
) -> EvalResult:
    passed, score = item.get("passed"), item.get("score")
    if not isinstance(passed, bool):
        raise _bad("results.passed", f"Case {case.key}: passed is true or false.")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise _bad("results.score", f"Case {case.key}: score is a number from 0 to 1.")
    latency = item.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency < 2**31:
        raise _bad("results.latency_ms", f"Case {case.key}: latency_ms is a whole number >= 0.")
    return EvalResult(
        run=run,
        case=case,
        passed=passed,
        score=float(score),
        cost=_decimal("results.cost", item.get("cost", 0)),
        latency_ms=latency,
        notes=_text(workspace_id, EvalResult, "notes", item.get("notes", ""), MAX_NOTES),
    )


def _cases_by_key(eval_set: EvalSet, version: int, keys: list[str]) -> dict[str, EvalCase]:
    if len(set(keys)) != len(keys):
        raise _bad("results.case", "A case appears twice in this run.")
    cases = {case.key: case for case in cases_at(eval_set, version).filter(key__in=keys)}
    unknown = sorted(set(keys) - set(cases))
    if unknown:
        shown = ", ".join(unknown[:10])
        raise _bad("results.case", f"Not cases of this set at v{version}: {shown}.")
    return cases


@transaction.atomic
def eval_run_post(
    *,
    actor: Any,
    eval_set: EvalSet | int,
    artifact_version: ArtifactVersion | int,
    results: Sequence[dict[str, Any]],
    set_version: int | None = None,
    token_scopes: Sequence[str] | None = None,
) -> EvalRun:
    """Record one run of the set (at `set_version`, default the current one) against one
    policy, prompt or skill version of the workspace. `results` names each case by key, once,
    among the cases of that set version (retired cases are not part of it): passed, score
    0..1, cost, latency_ms, notes (masked). A run is immutable; a re-run is a new run."""
    principal = _principal(actor)
    eval_set = _locked_set(eval_set)
    _may_post(principal, eval_set, token_scopes)
    version_number = eval_set.version if set_version is None else set_version
    if not 1 <= version_number <= eval_set.version:
        raise _bad("set_version", f"The set has versions 1 to {eval_set.version}.")
    pk = artifact_version.pk if isinstance(artifact_version, ArtifactVersion) else artifact_version
    target = ArtifactVersion.objects.filter(pk=pk, workspace_id=eval_set.workspace_id).first()
    if target is None:
        raise _bad("artifact_version", "No such policy, prompt or skill version here.")
    if not isinstance(results, list | tuple) or not results:
        raise _bad("results", "Give at least one result.")
    if len(results) > MAX_RESULTS_PER_RUN:
        raise _bad("results", f"At most {MAX_RESULTS_PER_RUN:,} results per run.")
    if not all(isinstance(item, dict) and isinstance(item.get("case"), str) for item in results):
        raise _bad("results.case", "Each result names its case by key.")
    cases = _cases_by_key(eval_set, version_number, [item["case"] for item in results])
    run = EvalRun.objects.create(
        workspace_id=eval_set.workspace_id,
        eval_set=eval_set,
        set_version=version_number,
        artifact_version=target,
        posted_by_user=principal.user if principal.kind == "user" else None,
        posted_by_agent=principal.agent if principal.kind == "agent" else None,
        posted_label=label_mask(eval_set.workspace_id, principal.label),
    )
    rows = [_result_row(run.workspace_id, run, cases[i["case"]], i) for i in results]
    EvalResult.objects.bulk_create(rows)
    masked_rows_saved(workspace_id=run.workspace_id, rows=rows, fields=["notes"])
    run.case_count = len(rows)
    run.passed_count = sum(1 for row in rows if row.passed)
    run.total_cost = sum((row.cost for row in rows), Decimal(0))
    run.total_latency_ms = sum(row.latency_ms for row in rows)
    run.save(update_fields=["case_count", "passed_count", "total_cost", "total_latency_ms"])
    audit_event_record(
        actor=principal,
        action="evals.run_post",
        obj=run,
        workspace_id=run.workspace_id,
        after={
            "eval_set": eval_set.pk,
            "set_version": version_number,
            "artifact_version": target.pk,
            "cases": run.case_count,
            "passed": run.passed_count,
        },
    )
    return run


# --- settings ---------------------------------------------------------------------------------


def eval_settings_for(workspace_id: int) -> EvalSettings:
    """Created with the defaults (the block off) on first use."""
    found, _ = EvalSettings.objects.get_or_create(workspace_id=workspace_id)
    return found


def _rate(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _bad(field, f"{field} is a number from 0 to 1.")
    return float(value)


@transaction.atomic
def eval_settings_update(*, actor: Any, workspace: Workspace, **fields: Any) -> EvalSettings:
    """Owners and admins turn the promotion block on or off and set its thresholds."""
    principal = _principal(actor)
    _people_only(principal, "change the promotion block")
    _require(principal, Action.MANAGE, workspace)
    settings = EvalSettings.objects.select_for_update().get(pk=eval_settings_for(workspace.pk).pk)
    before = audit_snapshot(settings, SETTINGS_FIELDS)
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise _bad(sorted(unknown)[0], "Unknown setting.")
    for flag in ("block_promotion", "require_run"):
        if flag in fields:
            if not isinstance(fields[flag], bool):
                raise _bad(flag, f"{flag} is true or false.")
            setattr(settings, flag, fields[flag])
    for rate in ("max_regression_rate", "max_success_drop"):
        if rate in fields:
            setattr(settings, rate, _rate(rate, fields[rate]))
    settings.save()
    audit_event_record(
        actor=principal,
        action="evals.settings_update",
        obj=settings,
        workspace_id=workspace.pk,
        before=before,
        after=audit_snapshot(settings, SETTINGS_FIELDS),
    )
    return settings
