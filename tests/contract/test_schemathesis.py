"""The API against its own OpenAPI schema, with Schemathesis, in process.

The schema is read from the app (/api/schema/), every operation is exercised with generated
requests (fixed seed, bounded examples) twice: as an agent (Bearer token) and as a person
(session cookie, with its CSRF token), against a seeded world on the real PostgreSQL. Any
5xx, undocumented status, content type or body that breaks the schema, a schema-valid request
refused or an invalid one accepted fails the test.

Rerun with another seed or more examples:
    CONTRACT_SEED=7 CONTRACT_EXAMPLES=50 pytest tests/contract/test_schemathesis.py
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, missing_required_header

from apps.reviews.kinds import review_kind
from tests.conftest import SYSTEM
from tests.contract.world import REFERENCES, World, build_world, model_label_of

SEED = int(os.environ.get("CONTRACT_SEED", "20261207"))
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "8"))

APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)
schema.config.seed = SEED
schema.config.generation.update(max_examples=EXAMPLES)
# A body over a declared maxItems (a batch of too many memories) is refused with 413.
negative = schema.config.checks.negative_data_rejection
negative.expected_statuses = [*negative.expected_statuses, "413"]

# A person's session is a cookie the test sends itself; these two checks strip or replace the
# `Authorization` header to see the API refuse, so they run for the agent only.
HEADER_AUTH_CHECKS = [ignored_auth, missing_required_header]

# Ids in bodies and query strings name objects (REFERENCES): a generated positive case points
# them at the seeded world (a random id is refused as unknown, rightly).
# A memory of a tier belongs to one owner of that kind (the service's rule).
TIER_OWNER = {"personal": "agent", "team": "team", "workspace": "workspace"}
# A policy artifact of a level names one owner of that kind (policies.services._partition);
# the world's artifact is a policy pack, whose versions take `text`.
LEVEL_OWNER = {"team": "team", "agent": "agent"}


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Requests reach Django through its WSGI handler, in this thread and on the test's
    connection; like Django's test client, keep the handler from closing that connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(cast: Any, in_test_transaction: None) -> World:
    return build_world(cast)


@pytest.fixture
def identities(world: World) -> dict[str, dict[str, Any]]:
    """How an agent (every agent scope) and a person (the workspace owner) call the API."""
    browser = Client()
    browser.force_login(world.cast.user("owner"))
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
    return {
        "agent": {"headers": {"Authorization": f"Bearer {world.mine.secret}"}},
        "person": {
            "headers": {"X-CSRFToken": csrf},
            "cookies": {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf},
        },
    }


@schema.parametrize()
@hypothesis_settings(
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_operation_keeps_its_contract(
    case: Any, world: World, identities: dict[str, dict[str, Any]]
) -> None:
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        point_at_the_world(case, world)
    case.call_and_validate(**identities["agent"])
    case.call_and_validate(**identities["person"], excluded_checks=HEADER_AUTH_CHECKS)


def point_at_the_world(case: Any, world: World) -> None:
    """A schema-valid case names what exists in our side of the world: ids, a memory type
    key, a username, and the owner that goes with a memory's tier. A cursor is an opaque
    token only the server mints, so a made-up one is left out."""
    if "id" in (case.path_parameters or {}):
        label = model_label_of(case.operation.path)
        assert label is not None, f"{case.operation.label}: no model behind the path id"
        case.path_parameters["id"] = world.mine.object(label).pk
    if "key" in (case.path_parameters or {}):  # an experiment is addressed by its key
        case.path_parameters["key"] = world.mine.object("experiments.Experiment").key
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    bodies = [case.body, *(case.body.get("items", []) if isinstance(case.body, dict) else [])]
    for values in [case.query, *bodies]:
        if isinstance(values, dict):
            _name_existing_things(values, world)
    if isinstance(case.body, dict) and isinstance(case.body.get("decision"), str):
        _an_applicable_decision(case.body, world)
    if isinstance(case.body, dict):
        for name in _required_for_people(case):  # the agent may name itself too
            case.body.setdefault(name, world.mine.object(REFERENCES[name]).pk)
    if case.operation.path.startswith("/api/v1/eval-sets") and isinstance(case.body, dict):
        _valid_eval_cases(case.body, world)
    if isinstance(case.body, dict) and isinstance(case.body.get("results"), list):
        case.body.pop("set_version", None)  # the run's cases are the current version's
        case.body["results"] = [{**case.body["results"][0], "case": "a"}]
    if isinstance(case.body, dict):
        _custom_kind_with_custom_events(case.body)


def _custom_kind_with_custom_events(values: dict[str, Any]) -> None:
    """An experiment metric's `custom_kind` names a custom event's kind, so it comes with
    `event: custom` (apps.experiments.design refuses it beside another event; OpenAPI can't
    say one field depends on another)."""
    metrics = [values.get("primary_metric"), *(values.get("guardrail_metrics") or [])]
    for metric in metrics:
        if isinstance(metric, dict) and metric.get("custom_kind") not in (None, ""):
            metric["event"] = "custom"


def _valid_eval_cases(values: dict[str, Any], world: World) -> None:
    """Case keys must be new to the set when added and current when retired (the world's set
    has cases a and b): a schema-valid change is made one the service accepts."""
    from apps.evals import services as evals

    if isinstance(values.get("key"), str):  # a new set: a key new to the workspace
        values["key"] = f"set-{secrets.token_hex(4)}"
    if isinstance(values.get("cases"), list):
        values["cases"] = [
            {
                **{k: v for k, v in item.items() if k != "trace"},
                "key": f"case-{secrets.token_hex(4)}",
            }
            | ({} if "input" in item else {"input": {}})
            for item in values["cases"]
        ]
    if isinstance(values.get("keys"), list):
        key = f"old-{secrets.token_hex(4)}"
        evals.eval_cases_add(
            actor=SYSTEM,
            eval_set=world.mine.object("evals.EvalSet"),
            cases=[{"key": key, "input": {}}],
        )
        values["keys"] = [key]


def _required_for_people(case: Any) -> list[str]:
    """Fields the request schema marks `x-required-for-people` (OpenAPI has no per-caller
    `required`)."""
    content = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    component = schema.raw_schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return list(component.get("x-required-for-people", []))


def _name_existing_things(values: dict[str, Any], world: World) -> None:
    for name in REFERENCES.keys() & values.keys():
        values[name] = _referenced(values[name], world.mine.object(REFERENCES[name]).pk)
    if isinstance(values.get("type"), str):
        values["type"] = "learning"
    if isinstance(values.get("types"), list):
        values["types"] = ["learning"] if values["types"] else []
    if isinstance(values.get("user"), str):
        values["user"] = world.cast.user("nobody").username
    tier, level = values.get("tier"), values.get("level")  # any JSON in a free-form batch item
    owner = TIER_OWNER.get(tier) if isinstance(tier, str) else None
    if owner is not None and "content" in values and "decision" not in values:
        for name in ("workspace", "team", "agent"):
            values.pop(name, None)
        values[owner] = world.mine.object(REFERENCES[owner]).pk
    level_owner = LEVEL_OWNER.get(level) if isinstance(level, str) else None
    if "level" in values and "kind" in values:  # a policy artifact: its level names its owner
        for name in ("team", "agent"):
            values.pop(name, None)
        if level_owner is not None:
            values[level_owner] = world.mine.object(REFERENCES[level_owner]).pk
    if isinstance(values.get("currency"), str) and values["currency"]:  # the workspace's own
        values["currency"] = "EUR"
    if isinstance(values.get("reservation"), str):  # a guardrail reservation of our agent
        values["reservation"] = str(world.mine.object("guardrails.Reservation").pk)
    if isinstance(values.get("content"), dict):  # a policy version: what its artifact's kind takes
        values["content"] = {"text": "Write plainly; no discounts."}
    now = timezone.now()
    if isinstance(values.get("valid_from"), str):  # validity must end in the future
        values["valid_from"] = (now - dt.timedelta(days=1)).isoformat()
    if isinstance(values.get("expires_at"), str):
        values["expires_at"] = (now + dt.timedelta(days=30)).isoformat()
    if "minimum_detectable_effect" in values or "variants" in values:
        _a_valid_design(values)
    if isinstance(values.get("started_at"), str):  # a trace ends after it starts
        values["started_at"] = (now - dt.timedelta(hours=2)).isoformat()
        values["ended_at"] = (now - dt.timedelta(hours=1)).isoformat()


def _a_valid_design(values: dict[str, Any]) -> None:
    """An experiment's design has rules across fields the schema can't state (one control,
    unique variant keys, a baseline and effect the power calculation can use, a key new to
    the workspace): a schema-valid design is made one the service accepts."""
    if "key" in values:
        values["key"] = f"trial-{secrets.token_hex(4)}"
    if "variants" in values:
        values["variants"] = [{"key": "control", "is_control": True}, {"key": "treatment"}]
    if "baseline_rate" in values or "minimum_detectable_effect" in values:
        values.update(baseline_rate=0.05, minimum_detectable_effect=0.01)
    values.pop("alpha", None)
    values.pop("power", None)
    values.pop("owner", None)
    values.pop("eligibility", None)


def _an_applicable_decision(values: dict[str, Any], world: World) -> None:
    """Which decisions apply, and what each takes, depends on the request's kind (the review
    kind registry says): a schema-valid decision is made one that applies to our request."""
    request = world.mine.object("reviews.ReviewRequest")
    handler = review_kind(request.kind)  # type: ignore[attr-defined]
    applicable = handler.decisions_for(request)
    if values["decision"] not in applicable:
        values["decision"] = applicable[0]
    wanted = handler.arguments.get(values["decision"], ())
    for name in ("content", "tier"):
        if name not in wanted:
            values.pop(name, None)
        elif not str(values.get(name) or "").strip():
            values[name] = "team" if name == "tier" else "An edited, better memory"
    if values["decision"] in ("reject", "request_changes") and not values.get("reason", "").strip():
        values["reason"] = "Needs a source"


def _referenced(value: Any, pk: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return pk if isinstance(value, int) else str(pk)
    if isinstance(value, list):
        return [_referenced(item, pk) for item in value]
    return value
