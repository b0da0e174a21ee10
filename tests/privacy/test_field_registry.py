"""The PII field registry covers every stored text field of the project (apps.privacy.registry):
each CharField, TextField, JSONField and ArrayField of text on a model of an `apps.*` app is
either masked or exempt with a reason, so a new model with an unscreened field fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.privacy import registry
from apps.privacy.registry import (
    exempt_fields,
    masked_fields,
    register_exempt_field,
    register_masked_field,
)


def _is_text(field: models.Field) -> bool:
    if isinstance(field, ArrayField):
        return isinstance(field.base_field, models.CharField | models.TextField)
    return isinstance(field, models.CharField | models.TextField | models.JSONField)


def project_text_fields() -> Iterator[str]:
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        for model in config.get_models():
            if model._meta.proxy or model._meta.abstract:
                continue
            for field in model._meta.concrete_fields:
                if _is_text(field):
                    yield f"{model._meta.label}.{field.name}"


def unscreened() -> list[str]:
    known = {f.label for f in masked_fields()} | {f.label for f in exempt_fields()}
    return sorted(set(project_text_fields()) - known)


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of both registries, so a test can add or drop entries without leaking them."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_EXEMPT", dict(registry._EXEMPT))


def test_every_text_field_of_the_project_is_masked_or_exempt_with_a_reason():
    fields = list(project_text_fields())

    missing = unscreened()

    assert len(fields) > 80  # the walk reaches every app's models
    assert missing == [], (
        "These text fields are neither masked nor exempt; register them in their app's "
        "AppConfig.ready() (docs/privacy.md, 'The field registry'): " + ", ".join(missing)
    )
    assert all(entry.reason for entry in exempt_fields())


def test_a_field_dropped_from_the_registry_is_reported(scratch_registry):
    before = set(unscreened())
    registry._REGISTRY.pop("workspaces.Team.name")
    registry._EXEMPT.pop("workspaces.Membership.role")

    assert set(unscreened()) - before == {"workspaces.Membership.role", "workspaces.Team.name"}


def test_every_registration_names_a_real_text_field(db):
    for entry in [*masked_fields(), *exempt_fields()]:
        model = apps.get_model(entry.model_label)
        field = model._meta.get_field(entry.field_name)
        assert _is_text(field), entry.label


def test_every_masked_field_reaches_its_workspace(db, cast):
    """The re-scan walks `rows(workspace_id)`: each lookup or scope must be a valid query."""
    for entry in masked_fields():
        rows = entry.rows(cast.workspace.pk)

        assert rows.model is entry.model
        rows.count()  # raises FieldError for a lookup that doesn't exist


def test_masked_kinds_match_the_columns():
    for entry in masked_fields():
        field = entry.model._meta.get_field(entry.field_name)
        expected = {ArrayField: "array", models.JSONField: "json"}.get(type(field), "text")
        assert entry.kind == expected, entry.label


def test_an_exemption_needs_a_reason(scratch_registry):
    with pytest.raises(ValueError, match="needs a reason"):
        register_exempt_field("workspaces.Team", "name", reason="  ")


def test_a_field_is_masked_or_exempt_never_both(scratch_registry):
    with pytest.raises(ValueError, match="registered as masked"):
        register_exempt_field("workspaces.Team", "name", reason="a name")
    with pytest.raises(ValueError, match="registered as exempt"):
        register_masked_field("workspaces.Membership", "role")
