"""Workspace policies: each workspace masks its own way, allow-lists hold, and the compiled
policy is cached (no query per call) yet follows every update at once."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from apps.privacy import policies, services
from apps.privacy.engine import DEFAULT_POLICY, EntityType
from tests.privacy.conftest import EMAIL, PHONE


def set_policy(cast, workspace, **rules):
    return services.privacy_policy_update(actor=cast.user("operator"), workspace=workspace, **rules)


def test_placeholders_hash_and_encrypt_per_workspace(cast):
    set_policy(cast, cast.workspace, operators={"EMAIL": "encrypt"})
    set_policy(cast, cast.other_workspace, operators={"PHONE": "hash"})
    text = f"{EMAIL} / {PHONE}"

    acme = services.text_mask(cast.workspace, text).text
    globex = services.text_mask(cast.other_workspace, text).text

    assert re.fullmatch(r"<ENC:EMAIL:demo:[A-Za-z0-9_-]+> / <PHONE_1>", acme)
    assert re.fullmatch(r"<EMAIL_1> / <PHONE:[0-9a-f]{16}>", globex)


def test_hash_is_stable_across_texts_and_workspaces_with_the_same_rule(cast):
    set_policy(cast, cast.workspace, default_operator="hash")
    set_policy(cast, cast.other_workspace, default_operator="hash")

    one = services.text_mask(cast.workspace, f"a {EMAIL}").text
    two = services.text_mask(cast.other_workspace, f"b {EMAIL.upper()}").text

    assert one[2:] == two[2:]


def test_encryption_is_not_deterministic_and_reveals(cast):
    set_policy(cast, cast.workspace, operators={"EMAIL": "encrypt"})

    first = services.text_mask(cast.workspace, EMAIL).text
    second = services.text_mask(cast.workspace, EMAIL).text

    assert first != second
    operator = cast.user("operator")
    assert services.pii_reveal(actor=operator, workspace=cast.workspace, text=first, reason="t")
    assert (
        services.pii_reveal(actor=operator, workspace=cast.workspace, text=second, reason="t")
        == EMAIL
    )


def test_allow_list_values_and_patterns_are_respected(cast):
    set_policy(
        cast,
        cast.workspace,
        allow_values=["Support@Acme.example"],
        allow_patterns=[r"(?i).*@acme-internal\.example"],
    )
    text = f"support@acme.example, ops@ACME-internal.example, {EMAIL}"

    masked = services.text_mask(cast.workspace, text).text

    assert masked == "support@acme.example, ops@ACME-internal.example, <EMAIL_1>"
    assert services.text_mask(cast.other_workspace, text).text.count("<EMAIL_") == 3


def test_disabled_entity_types_are_left_alone(cast):
    entities = [e.value for e in EntityType if e not in (EntityType.PHONE, EntityType.PERSON)]
    set_policy(cast, cast.workspace, entities=entities)

    assert services.text_mask(cast.workspace, f"{PHONE} {EMAIL}").text == f"{PHONE} <EMAIL_1>"


def test_json_mask_uses_the_workspace_policy(cast):
    set_policy(cast, cast.workspace, default_operator="redact")

    result = services.json_mask(cast.workspace, {"to": [EMAIL], "n": 4155550132})

    assert result.value == {"to": ["<REDACTED>"], "n": 4155550132}


def test_no_query_per_call_after_the_first(cast, django_assert_num_queries):
    set_policy(cast, cast.workspace, operators={"EMAIL": "hash"})
    policies.clear_cache()
    services.text_mask(cast.workspace, EMAIL)

    with django_assert_num_queries(0):
        for _ in range(20):
            services.text_mask(cast.workspace, EMAIL)
            services.json_mask(cast.workspace.pk, {"a": EMAIL})
            services.text_mask(None, EMAIL)


def test_cache_is_invalidated_on_update(cast):
    assert services.text_mask(cast.workspace, EMAIL).text == "<EMAIL_1>"

    set_policy(cast, cast.workspace, default_operator="redact")

    assert services.text_mask(cast.workspace, EMAIL).text == "<REDACTED>"


def test_another_process_sees_the_update_through_the_shared_version(cast, monkeypatch):
    """A process whose local copy is still young notices a bumped version in the cache."""
    assert services.text_mask(cast.workspace, EMAIL).text == "<EMAIL_1>"
    monkeypatch.setattr(policies, "VERSION_CHECK_SECONDS", 0.0)
    set_policy(cast, cast.workspace, default_operator="redact")
    # what another process holds: the old compiled policy, with the old version
    entry = policies._LOCAL.setdefault(
        cast.workspace.pk, policies._Entry(DEFAULT_POLICY, "old", 1e18, 0.0)
    )
    entry.policy, entry.version = DEFAULT_POLICY, "old"

    assert services.text_mask(cast.workspace, EMAIL).text == "<REDACTED>"


@override_settings(PII_POLICY_CACHE_SECONDS=0)
def test_local_copies_expire_where_the_cache_is_not_shared(cast, django_assert_num_queries):
    services.text_mask(cast.workspace, EMAIL)

    with django_assert_num_queries(1):
        services.text_mask(cast.workspace, EMAIL)


@pytest.mark.parametrize("workspace", [None, 0])
def test_unknown_or_missing_workspace_gets_the_default_policy(db, workspace):
    assert services.text_mask(workspace, EMAIL).text == "<EMAIL_1>"
