"""Reveal: plaintext only for holders of reveal_pii on the workspace's policy (and operators),
always with a reason, always audited without the plaintext; keys rotate without loss."""

from __future__ import annotations

import base64
import os

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from guardian.shortcuts import assign_perm

from apps.core.exceptions import Forbidden, ValidationFailed
from apps.privacy import keyring, services
from apps.privacy.models import PrivacyPolicyUserObjectPermission
from config.pii_keys import parse_encryption_keys
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.privacy.conftest import EMAIL, PHONE, actor_for, recorded, stored_audit_text

EVERYONE = [*ROLES_AND_OTHERS, "agent"]


@pytest.fixture
def encrypted(cast) -> str:
    services.privacy_policy_update(
        actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt", "PHONE": "encrypt"}
    )
    return services.text_mask(cast.workspace, f"Write to {EMAIL}, call {PHONE}.").text


def grant(cast, who: str) -> None:
    services.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user(who)
    )


@pytest.mark.parametrize("who", EVERYONE)
def test_without_a_grant_only_operators_reveal(cast, encrypted, who):
    actor = actor_for(cast, who)

    if who == "operator":
        with recorded() as events:
            plain = services.pii_reveal(
                actor=actor, workspace=cast.workspace, text=encrypted, reason="DSAR #12"
            )
        assert plain == f"Write to {EMAIL}, call {PHONE}."
        assert [e.action for e in events] == ["pii.reveal"]
    else:
        with recorded() as events, pytest.raises(Forbidden):
            services.pii_reveal(
                actor=actor, workspace=cast.workspace, text=encrypted, reason="DSAR #12"
            )
        assert events == []


@pytest.mark.parametrize("who", [w for w in EVERYONE if w not in ("nobody", "outsider", "agent")])
def test_with_a_grant_every_member_of_the_workspace_reveals(cast, encrypted, who):
    if who != "operator":
        grant(cast, who)

    with recorded() as events:
        plain = services.pii_reveal(
            actor=actor_for(cast, who), workspace=cast.workspace, text=encrypted, reason="DSAR #7"
        )

    assert EMAIL in plain and PHONE in plain
    event = events[0]
    assert (event.action, event.reason, event.workspace_id) == (
        "pii.reveal",
        "DSAR #7",
        cast.workspace.pk,
    )
    assert event.after == {"values_revealed": 2, "characters": len(encrypted)}
    stored = stored_audit_text([event.pk])
    assert EMAIL not in stored and PHONE not in stored


def test_a_grant_in_one_workspace_does_not_reveal_in_another(cast, encrypted):
    grant(cast, "viewer")
    outsider_workspace_text = services.text_mask(cast.other_workspace, EMAIL).text

    with pytest.raises(Forbidden):
        services.pii_reveal(
            actor=cast.user("viewer"), workspace=cast.other_workspace, text=encrypted, reason="x"
        )
    assert outsider_workspace_text == "<EMAIL_1>"


def test_a_grant_through_a_group_counts(cast, encrypted):
    group = Group.objects.create(name="dpo")
    cast.user("editor").groups.add(group)
    assign_perm("reveal_pii", group, services.policy_for_workspace(cast.workspace))

    plain = services.pii_reveal(
        actor=cast.user("editor"), workspace=cast.workspace, text=encrypted, reason="x"
    )

    assert EMAIL in plain


def test_a_former_member_keeps_no_reveal_right(cast, encrypted):
    from apps.workspaces.models import Membership
    from apps.workspaces.services import membership_revoke

    grant(cast, "viewer")
    membership = Membership.objects.get(user=cast.user("viewer"), team=None)
    membership_revoke(actor=cast.user("owner"), membership=membership)

    with pytest.raises(Forbidden):
        services.pii_reveal(
            actor=cast.user("viewer"), workspace=cast.workspace, text=encrypted, reason="x"
        )


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501])
def test_a_reason_is_required_and_bounded(cast, encrypted, reason):
    with recorded() as events, pytest.raises(ValidationFailed) as info:
        services.pii_reveal(
            actor=cast.user("operator"), workspace=cast.workspace, text=encrypted, reason=reason
        )

    assert "reason" in info.value.fields
    assert events == []


def test_a_system_task_never_reveals(cast, encrypted):
    with pytest.raises(Forbidden):
        services.pii_reveal(actor=SYSTEM, workspace=cast.workspace, text=encrypted, reason="x")


def test_a_tampered_token_is_a_clear_error_and_no_event(cast, encrypted):
    start = encrypted.index("<ENC:EMAIL:demo:") + len("<ENC:EMAIL:demo:")
    tampered = (
        encrypted[:start] + ("A" if encrypted[start] != "A" else "B") + encrypted[start + 1 :]
    )

    with recorded() as events, pytest.raises(ValidationFailed, match="corrupt"):
        services.pii_reveal(
            actor=cast.user("operator"), workspace=cast.workspace, text=tampered, reason="x"
        )
    assert events == []


# --- grant / revoke ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", EVERYONE)
def test_grant_matrix_owners_and_operators_only(cast, who):
    actor = actor_for(cast, who)
    viewer = cast.user("viewer")

    if who in ("owner", "operator"):
        with recorded() as events:
            assert services.pii_reveal_grant(
                actor=actor, workspace=cast.workspace, user=viewer, reason="DPO"
            )
        assert [e.action for e in events] == ["pii.reveal_grant"]
        assert events[0].after == {"user": viewer.pk, "permission": "reveal_pii"}
    else:
        with recorded() as events, pytest.raises(Forbidden):
            services.pii_reveal_grant(actor=actor, workspace=cast.workspace, user=viewer)
        assert events == []
        assert not PrivacyPolicyUserObjectPermission.objects.exists()


def test_grant_is_idempotent_and_revoke_takes_it_away(cast, encrypted):
    owner, viewer = cast.user("owner"), cast.user("viewer")
    grant(cast, "viewer")

    with recorded() as events:
        again = services.pii_reveal_grant(actor=owner, workspace=cast.workspace, user=viewer)
        revoked = services.pii_reveal_revoke(actor=owner, workspace=cast.workspace, user=viewer)
        revoked_again = services.pii_reveal_revoke(
            actor=owner, workspace=cast.workspace, user=viewer
        )

    assert (again, revoked, revoked_again) == (False, True, False)
    assert [e.action for e in events] == ["pii.reveal_revoke"]
    with pytest.raises(Forbidden):
        services.pii_reveal(actor=viewer, workspace=cast.workspace, text=encrypted, reason="x")


@pytest.mark.parametrize("who", ["admin", "reviewer", "auditor", "team_admin", "outsider"])
def test_revoke_is_for_owners_only(cast, who):
    grant(cast, "viewer")

    with pytest.raises(Forbidden):
        services.pii_reveal_revoke(
            actor=cast.user(who), workspace=cast.workspace, user=cast.user("viewer")
        )

    assert PrivacyPolicyUserObjectPermission.objects.count() == 1


def test_only_members_can_be_granted(cast):
    with pytest.raises(ValidationFailed):
        services.pii_reveal_grant(
            actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("outsider")
        )
    assert not PrivacyPolicyUserObjectPermission.objects.exists()


# --- key rotation -----------------------------------------------------------------------------


def key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def test_a_token_made_with_k1_reveals_after_k2_is_put_in_front(cast):
    k1, k2 = key_entry("k1"), key_entry("k2")
    with override_settings(PII_ENCRYPTION_KEYS=parse_encryption_keys(k1)):
        services.privacy_policy_update(
            actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt"}
        )
        old = services.text_mask(cast.workspace, EMAIL).text
    assert old.startswith("<ENC:EMAIL:k1:")

    with override_settings(PII_ENCRYPTION_KEYS=parse_encryption_keys(f"{k2},{k1}")):
        new = services.text_mask(cast.workspace, EMAIL).text
        revealed = [
            services.pii_reveal(
                actor=cast.user("operator"), workspace=cast.workspace, text=t, reason="rotation"
            )
            for t in (old, new)
        ]

    assert new.startswith("<ENC:EMAIL:k2:")
    assert revealed == [EMAIL, EMAIL]


def test_a_token_whose_key_was_dropped_is_a_clear_error(cast):
    with override_settings(PII_ENCRYPTION_KEYS=parse_encryption_keys(key_entry("k1"))):
        services.privacy_policy_update(
            actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt"}
        )
        old = services.text_mask(cast.workspace, EMAIL).text

    with (
        override_settings(PII_ENCRYPTION_KEYS=parse_encryption_keys(key_entry("k2"))),
        pytest.raises(ValidationFailed, match="not in the keyring"),
    ):
        services.pii_reveal(
            actor=cast.user("operator"), workspace=cast.workspace, text=old, reason="x"
        )


def test_demo_keys_are_derived_from_secret_key_when_none_are_configured(settings):
    settings.PII_HASH_KEY = None
    settings.PII_ENCRYPTION_KEYS = []
    keys = keyring.masking_keys()

    assert keyring.keys_are_derived()
    assert [k.key_id for k in keys.encryption_keys] == ["demo"]
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    assert keyring.masking_keys().hash_key != keys.hash_key
