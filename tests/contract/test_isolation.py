"""Tenant isolation, derived: every API operation with an object id in its path (read from the
generated OpenAPI schema) and every admin URL with an object id (read from the admin site's
registry) is replayed with the OTHER workspace's ids, by every role of the first workspace and
its agent. Each answer must be a refusal, and neither the other workspace's row nor the audit
trail may change.

A new endpoint or admin model is covered without touching this file; one whose model has no
object in tests/contract/world.py's FACTORIES fails loudly, naming it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from tests.api_helpers import row
from tests.contract.world import (
    FACTORIES,
    REFERENCES,
    SHARED,
    Side,
    World,
    build_world,
    model_label_of,
)

PEOPLE = ["owner", "admin", "reviewer", "editor", "auditor", "viewer"]
API_CALLERS = ["agent", *PEOPLE]
ALLOWED_API = {403, 404}
ADMIN_REDIRECTS = ("/admin/", "/admin/login/")


@pytest.fixture
def world(cast: Any) -> World:
    return build_world(cast)


# --- API ---------------------------------------------------------------------------------------


def api_object_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation whose path names an object."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        if "{" in path
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


# Path parameters other than an object's `{id}`: a literal (=value) or "<model label>.<field>".
# A new parameter fails test_every_api_path_parameter_can_be_filled_in until it is named here.
API_PATH_PARAMETERS = {
    "label": "=production",
    "name": "policies.Skill.name",
    "key": "experiments.Experiment.key",
}


def api_path_sources(path: str) -> dict[str, str]:
    """Where each parameter of an API path takes its value from (see API_PATH_PARAMETERS); an
    `{id}` is the pk of the model the view serves."""
    sources = {}
    for name in re.findall(r"\{([^}]+)\}", path):
        label = model_label_of(path) if name == "id" else None
        sources[name] = f"{label}.pk" if label else API_PATH_PARAMETERS.get(name, "?")
    return sources


def test_every_api_path_parameter_can_be_filled_in() -> None:
    missing = sorted(
        f"{path} {{{name}}} <- {source}"
        for _, path, _ in api_object_operations()
        for name, source in api_path_sources(path).items()
        if not source.startswith("=") and source.rsplit(".", 1)[0] not in FACTORIES
    )

    assert not missing, (
        "add the model to tests/contract/world.py FACTORIES, or say how to fill the parameter "
        f"in API_PATH_PARAMETERS: {missing}"
    )


@pytest.mark.parametrize("who", API_CALLERS)
def test_no_api_operation_reaches_the_other_workspace(world: World, who: str) -> None:
    client = api_client(world, who)
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]
    leaks = []
    for method, path, operation in api_object_operations():
        sources = api_path_sources(path)
        url = path
        for name, source in sources.items():
            url = url.replace(f"{{{name}}}", _argument(source, world.theirs))
        targets = [
            _object(source, world.theirs) for source in sources.values() if "=" not in source
        ]
        body = minimal_body(operation, components, world.theirs, references=who != "agent")
        before, audit = [row(target) for target in targets], AuditEvent.objects.count()

        response = client.generic(
            method,
            url,
            data=None if body is None else json.dumps(body),
            content_type="application/json",
        )

        if response.status_code not in ALLOWED_API:
            leaks.append(f"{method} {url}: {response.status_code}")
        if [row(target) for target in targets] != before or AuditEvent.objects.count() != audit:
            leaks.append(f"{method} {url}: changed the other workspace or wrote audit")
    assert not leaks, leaks


def _object(source: str, side: Side) -> Any:
    return side.object(source.rsplit(".", 1)[0])


def _argument(source: str, side: Side) -> str:
    if source.startswith("="):
        return source[1:]
    return str(getattr(_object(source, side), source.rsplit(".", 1)[1]))


def api_client(world: World, who: str) -> APIClient:
    client = APIClient()
    if who == "agent":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.mine.secret}")
    else:
        client.force_authenticate(world.cast.user(who))
    return client


def minimal_body(
    operation: dict[str, Any], components: dict[str, Any], theirs: Side, *, references: bool
) -> dict[str, Any] | None:
    """A body the operation would accept: its required fields (and one change for a PATCH),
    with ids pointing into the other workspace, so only tenancy stands in the way. People
    also name the optional objects (`agent`, ...) a request may be about."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    schema = _resolve(schema, components)
    names = list(schema.get("required", []))
    for choice in schema.get("anyOf", []) + schema.get("oneOf", [])[:1]:
        names += [name for name in choice.get("required", []) if name not in names][:1]
        if schema.get("anyOf"):
            break
    properties = schema.get("properties", {})
    if references:
        names += [name for name in REFERENCES.keys() & properties.keys() if name not in names]
    return {name: _value(name, properties.get(name, {}), components, theirs) for name in names}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        return _resolve(schema["allOf"][0], components)
    return schema


def _value(name: str, schema: dict[str, Any], components: dict[str, Any], theirs: Side) -> Any:
    schema = _resolve(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if name in REFERENCES:
        pk = theirs.object(REFERENCES[name]).pk
        return [pk] if kind == "array" else pk
    if kind == "integer":
        return theirs.object("memories.MemoryItem").pk
    if kind == "number":
        return schema.get("minimum", 0.1)
    if kind == "boolean":
        return True
    if kind == "array":
        item = _value(name, schema.get("items", {}), components, theirs)
        return [item] * schema.get("minItems", 0)
    if kind == "object":
        return {}
    return "A reasonable text"


# --- admin -------------------------------------------------------------------------------------

# Admin URLs whose parameters are not (only) the ModelAdmin's own object id: what to fill in.
# A new custom URL with an unknown parameter fails test_every_admin_url_can_be_filled_in.
ADMIN_URL_PARAMETERS: dict[str, dict[str, str]] = {
    "memories_brain": {"kind": "=agent", "pk": "workspaces.Agent"},
    "memories_brain_reset": {"pk": "workspaces.Agent"},
    "workspaces_agent_permissions_manage_user": {"user_id": "auth.User"},
    "workspaces_agent_permissions_manage_group": {"group_id": "auth.Group"},
    "compliance_erasurerequest_decide": {"decision": "=approve"},
    "memories_memoryitem_reveal": {"index": "=0"},
    "privacy_privacypolicy_reveal_self": {"workspace_id": "workspaces.Workspace"},
    "scorecards_page": {"workspace_id": "workspaces.Workspace"},
    "scorecards_csv": {"workspace_id": "workspaces.Workspace"},
    "scorecards_snapshot": {"workspace_id": "workspaces.Workspace"},
}
OBJECT_ID_PARAMETERS = ("object_id", "pk", "object_pk", "id")


def admin_object_urls() -> list[tuple[str, str, dict[str, str]]]:
    """(url name, model label, parameter -> model label or =literal) for every named admin URL
    with a parameter, from each registered ModelAdmin's get_urls()."""
    found = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or not pattern.name:
                continue
            parameters = list(pattern.pattern.regex.groupindex)
            if not parameters:
                continue
            fill = {name: label for name in parameters if name in OBJECT_ID_PARAMETERS}
            fill.update(ADMIN_URL_PARAMETERS.get(pattern.name, {}))
            found.append((pattern.name, label, {name: fill.get(name, "?") for name in parameters}))
    return found


def test_every_admin_url_can_be_filled_in() -> None:
    unknown = [
        f"{name}: {parameter}"
        for name, _, fill in admin_object_urls()
        for parameter, source in fill.items()
        if source == "?" or (not source.startswith("=") and source not in FACTORIES)
    ]

    assert not unknown, (
        "add the model to tests/contract/world.py FACTORIES, or say how to fill the "
        f"parameter in ADMIN_URL_PARAMETERS: {unknown}"
    )


@pytest.mark.parametrize("who", PEOPLE)
def test_no_admin_page_reaches_the_other_workspace(world: World, who: str) -> None:
    browser = Client()
    browser.force_login(world.cast.user(who))
    leaks = []
    for name, label, fill in admin_object_urls():
        if FACTORIES.get(label) is SHARED:
            continue
        kwargs = {p: _admin_argument(source, world.theirs) for p, source in fill.items()}
        url = reverse(f"admin:{name}", kwargs=kwargs)
        target = world.theirs.object(label)
        before, audit = row(target), AuditEvent.objects.count()
        for method in ("get", "post"):
            response = getattr(browser, method)(url, {"post": "yes"} if method == "post" else {})
            if not _refused(browser, response, label):
                leaks.append(f"{method.upper()} {url} ({name}): {response.status_code}")
        if row(target) != before or AuditEvent.objects.count() != audit:
            leaks.append(f"{url} ({name}): changed the other workspace or wrote audit")
    assert not leaks, leaks


def _admin_argument(source: str, theirs: Side) -> str:
    if source.startswith("="):
        return source[1:]
    return str(theirs.object(source).pk)


def _refused(browser: Client, response: Any, label: str, hops: int = 2) -> bool:
    """403/404, or a redirect away from the object (sign-in, the admin index for a missing
    object, the model's list) or to a page that itself refuses; that nothing changed is
    checked on its own."""
    if response.status_code in (403, 404):
        return True
    if response.status_code != 302 or hops == 0:
        return False
    app, model = label.lower().split(".")
    location = response["Location"].split("?")[0]
    if location in (*ADMIN_REDIRECTS, reverse(f"admin:{app}_{model}_changelist")):
        return True
    return _refused(browser, browser.get(response["Location"]), label, hops - 1)
