"""Checking an experiment's design as a whole: the services' one validation step, for the API
and the admin alike. Text is masked, slugs are screened for personal data, ids are checked
against the workspace, and the sample size is computed from the power inputs."""

from __future__ import annotations

import math
import re
from typing import Any

from django.contrib.auth import get_user_model

from apps.core.exceptions import ValidationFailed
from apps.experiments import power
from apps.experiments.models import Experiment, MetricKind, UnitKind
from apps.memories.models import MemoryItem
from apps.policies.models import ArtifactVersion
from apps.privacy.policies import field_mask, identifier_screen
from apps.signals.models import OutcomeKind
from apps.workspaces.models import Agent, Membership, Team, Workspace

SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAX_NAME = 200
MAX_HYPOTHESIS = 10_000
MAX_VARIANTS = 10
MAX_LIST = 100
MAX_WINDOW_DAYS = 365
MAX_CONFIG_BYTES = 32 * 1024
MAX_GUARDRAILS = 10
ELIGIBILITY_KEYS = ("segments", "channels", "teams", "agents")
METRIC_KEYS = frozenset(
    {"kind", "event", "window_days", "custom_kind", "tolerance", "higher_is_better"}
)
MAX_TOLERANCE = 1e9
VARIANT_KEYS = frozenset(
    {"key", "is_control", "weight", "policy_versions", "memory_tag", "memory_ids", "config"}
)
DESIGN_KEYS = (
    "key",
    "name",
    "hypothesis",
    "owner",
    "unit_kind",
    "variants",
    "eligibility",
    "primary_metric",
    "guardrail_metrics",
    "baseline_rate",
    "minimum_detectable_effect",
    "alpha",
    "power",
    "exposure_cap",
)
REQUIRED = frozenset(
    {
        "key",
        "name",
        "hypothesis",
        "unit_kind",
        "variants",
        "primary_metric",
        "baseline_rate",
        "minimum_detectable_effect",
    }
)


def _bad(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", fields={name: [message]})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(name, "A number.")
    return float(value)


def _slug(workspace: Workspace, name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not SLUG.match(value) or len(value) > max_length:
        raise _bad(name, f"A slug (a-z, 0-9, - and _) of at most {max_length} characters.")
    return identifier_screen(workspace, name, value)


def _text(workspace: Workspace, name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, "Non-blank text.")
    if len(value) > limit:
        raise _bad(name, f"At most {limit:,} characters.")
    return field_mask(workspace, Experiment, name, value.strip())


def _ids(name: str, value: object) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_LIST or not all(map(_is_int, value)):
        raise _bad(name, f"A list of at most {MAX_LIST} ids.")
    return sorted(set(value))


def checked(workspace: Workspace, data: dict[str, Any]) -> dict[str, Any]:
    """The design, clean, with `sample_size_per_variant` (an update passes the stored design
    merged with its changes: apps.experiments.design.current)."""
    unknown = sorted(set(data) - set(DESIGN_KEYS))
    if unknown:
        raise _bad(unknown[0], f"Unknown field; a design takes: {', '.join(DESIGN_KEYS)}.")
    missing = sorted(name for name in REQUIRED if data.get(name) is None)
    if missing:
        raise _bad(missing[0], "Required.")
    if data["unit_kind"] not in UnitKind.values:
        raise _bad("unit_kind", f"One of {', '.join(UnitKind.values)}.")
    clean: dict[str, Any] = {
        "key": _slug(workspace, "key", data["key"], 60),
        "name": _text(workspace, "name", data["name"], MAX_NAME),
        "hypothesis": _text(workspace, "hypothesis", data["hypothesis"], MAX_HYPOTHESIS),
        "unit_kind": data["unit_kind"],
        "variants": _variants(workspace, data["variants"]),
        "eligibility": _eligibility(workspace, data.get("eligibility") or {}),
        "primary_metric": _metric("primary_metric", data["primary_metric"]),
        "guardrail_metrics": _guardrails(data.get("guardrail_metrics") or []),
        "exposure_cap": _cap(data.get("exposure_cap")),
    }
    if data.get("owner") is not None:
        clean["owner"] = _owner(workspace, data["owner"])
    clean.update(_power(data, clean["variants"]))
    return clean


def _owner(workspace: Workspace, value: object) -> Any:
    user_model = get_user_model()
    if isinstance(value, user_model):
        value = value.pk
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad("owner", "A member of the workspace.")
    if not Membership.objects.filter(workspace=workspace, user_id=value).exists():
        raise _bad("owner", "A member of the workspace.")
    return user_model.objects.get(pk=value)


def _cap(value: object) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= 2_000_000_000:  # type: ignore[operator]
        raise _bad("exposure_cap", "A whole number of units, at least 1 (or null: no cap).")
    return int(value)  # type: ignore[call-overload]


def _power(data: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    values = {"alpha": 0.05, "power": 0.8}
    for name in ("baseline_rate", "minimum_detectable_effect", "alpha", "power"):
        if data.get(name) is not None:
            values[name] = _number(data, name)
    values["sample_size_per_variant"] = power.plan(
        baseline=values["baseline_rate"],
        mde=values["minimum_detectable_effect"],
        alpha=values["alpha"],
        power=values["power"],
        weights={v["key"]: float(v["weight"]) for v in variants},
        control=next(v["key"] for v in variants if v["is_control"]),
    ).fixed_horizon_per_variant
    return values


def _variants(workspace: Workspace, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_VARIANTS:
        raise _bad("variants", f"A control and 1 to {MAX_VARIANTS - 1} treatments.")
    variants = [_variant(workspace, item) for item in value]
    keys = [variant["key"] for variant in variants]
    if len(set(keys)) != len(keys):
        raise _bad("variants", "Each variant has its own key.")
    if sum(1 for variant in variants if variant["is_control"]) != 1:
        raise _bad("variants", "Exactly one variant is the control (is_control: true).")
    _known(workspace, variants)
    return variants


def _variant(workspace: Workspace, item: object) -> dict[str, Any]:
    if not isinstance(item, dict) or set(item) - VARIANT_KEYS:
        raise _bad("variants", f"Each variant is an object of: {', '.join(sorted(VARIANT_KEYS))}.")
    weight = item.get("weight", 1)
    if not _is_int(weight) or not 1 <= weight <= 10_000:
        raise _bad("variants", "A variant's weight is a whole number from 1 to 10,000.")
    if not isinstance(item.get("is_control", False), bool):
        raise _bad("variants", "is_control is true or false.")
    config = item.get("config") or {}
    if not isinstance(config, dict) or len(repr(config)) > MAX_CONFIG_BYTES:
        raise _bad("variants", "A variant's config is a JSON object of at most 32 KB.")
    tag = item.get("memory_tag") or ""
    return {
        "key": _slug(workspace, "variants", item.get("key"), 40),
        "is_control": item.get("is_control", False),
        "weight": weight,
        "policy_versions": _ids("variants", item.get("policy_versions") or []),
        "memory_tag": _slug(workspace, "variants", tag, 40) if tag else "",
        "memory_ids": _ids("variants", item.get("memory_ids") or []),
        "config": _masked_config(workspace, config),
    }


def _masked_config(workspace: Workspace, config: dict[str, Any]) -> dict[str, Any]:
    if not config:
        return {}
    from apps.signals.services import ItemRejected, JsonMasker

    try:
        masked: dict[str, Any] = JsonMasker(workspace).mask("config", config)
    except ItemRejected as exc:
        raise _bad("variants", exc.message) from None
    return masked


def _known(workspace: Workspace, variants: list[dict[str, Any]]) -> None:
    """Policy versions and memories named by a variant are the workspace's."""
    versions = {v for variant in variants for v in variant["policy_versions"]}
    memories = {m for variant in variants for m in variant["memory_ids"]}
    found = ArtifactVersion.objects.filter(workspace=workspace, pk__in=versions).count()
    if found != len(versions):
        raise _bad("variants", "A policy version is not one of this workspace's.")
    found = MemoryItem.objects.filter(workspace=workspace, pk__in=memories).count()
    if found != len(memories):
        raise _bad("variants", "A memory is not one of this workspace's.")


def _eligibility(workspace: Workspace, value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - set(ELIGIBILITY_KEYS):
        raise _bad("eligibility", f"An object of: {', '.join(ELIGIBILITY_KEYS)}.")
    clean: dict[str, Any] = {}
    for name in ("segments", "channels"):
        items = value.get(name) or []
        if not isinstance(items, list) or len(items) > MAX_LIST:
            raise _bad("eligibility", f"{name}: a list of at most {MAX_LIST} slugs.")
        if items:
            clean[name] = sorted({_slug(workspace, "eligibility", s, 60) for s in items})
    for name, model in (("teams", Team), ("agents", Agent)):
        ids = _ids("eligibility", value.get(name) or [])
        if ids and model.objects.filter(workspace=workspace, pk__in=ids).count() != len(ids):
            raise _bad("eligibility", f"{name}: ids of this workspace's {name}.")
        if ids:
            clean[name] = ids
    return clean


def _metric(name: str, value: object) -> dict[str, Any]:
    """kind, event, window_days; optionally `custom_kind` (a custom event's slug),
    `higher_is_better` and, for guardrails, `tolerance` (the harm allowed, in the metric's
    units). Optional keys are stored only when given; apps.experiments.analysis supplies the
    defaults (metric_direction)."""
    if not isinstance(value, dict) or set(value) - METRIC_KEYS:
        raise _bad(name, f"An object of: {', '.join(sorted(METRIC_KEYS))}.")
    kind, event = value.get("kind"), value.get("event")
    window = value.get("window_days", 14)
    if kind not in MetricKind.values:
        raise _bad(name, f"kind: one of {', '.join(MetricKind.values)}.")
    if event not in OutcomeKind.values:
        raise _bad(name, f"event: an outcome kind ({', '.join(OutcomeKind.values)}).")
    if not _is_int(window) or not 1 <= window <= MAX_WINDOW_DAYS:
        raise _bad(name, f"window_days: 1 to {MAX_WINDOW_DAYS}.")
    clean: dict[str, Any] = {"kind": kind, "event": event, "window_days": window}
    clean.update(_metric_options(name, value, event))
    return clean


def _metric_options(name: str, value: dict[str, Any], event: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    custom = value.get("custom_kind")
    if custom not in (None, ""):
        valid = isinstance(custom, str) and bool(SLUG.match(custom)) and len(custom) <= 60
        if event != OutcomeKind.CUSTOM or not valid:
            raise _bad(name, "custom_kind: a slug of at most 60 characters, with event custom.")
        options["custom_kind"] = custom
    direction = value.get("higher_is_better")
    if direction is not None:
        if not isinstance(direction, bool):
            raise _bad(name, "higher_is_better: true or false.")
        options["higher_is_better"] = direction
    if value.get("tolerance") is not None:
        tolerance = value["tolerance"]
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not math.isfinite(tolerance)
            or not 0 <= tolerance <= MAX_TOLERANCE
        ):
            raise _bad(name, "tolerance: a number from 0 (the harm allowed, in metric units).")
        if name != "guardrail_metrics":
            raise _bad(name, "tolerance: only guardrail metrics have one.")
        options["tolerance"] = float(tolerance)
    return options


def _guardrails(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_GUARDRAILS:
        raise _bad("guardrail_metrics", f"A list of at most {MAX_GUARDRAILS} metrics.")
    return [_metric("guardrail_metrics", item) for item in value]


def current(experiment: Experiment) -> dict[str, Any]:
    """The stored design as `checked` takes it (an update merges its changes into this)."""
    data = {name: getattr(experiment, name) for name in DESIGN_KEYS if name != "variants"}
    data["owner"] = experiment.owner_id
    data["variants"] = [
        {
            "key": v.key,
            "is_control": v.is_control,
            "weight": v.weight,
            "policy_versions": v.policy_versions,
            "memory_tag": v.memory_tag,
            "memory_ids": v.memory_ids,
            "config": v.config,
        }
        for v in experiment.variants.order_by("id")
    ]
    return data
