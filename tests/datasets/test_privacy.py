"""No raw personal data in any export, whatever the masking operator; erasure of a data
subject deletes every version holding a row about them (and so its file); retention too."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.compliance import erasure
from apps.compliance.registry import retention_target
from apps.datasets.models import DatasetChunk, DatasetSubjectToken, DatasetVersion
from apps.privacy.engine import DEFAULT_POLICY, detect
from apps.privacy.services import privacy_policy_update
from apps.signals.models import Trace
from tests.compliance.conftest import fresh_privacy_caches  # noqa: F401
from tests.conftest import SYSTEM
from tests.datasets.conftest import built, file_bytes, give_feedback, post_trace

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
OTHER_EMAIL = "rob.roe@example.org"
TOKEN = re.compile(r"<(ENC:)?[A-Z_]+(:[0-9a-f]{8,}|_[0-9]+|:[A-Za-z0-9_:-]+)>")
FORMATS = [("openai_chat_sft", {}), ("trl_dpo", {}), ("trl_dpo", {"verified_only": False})]


def _people_everywhere(cast) -> None:
    edited = post_trace(
        cast, task=f"Write to {EMAIL} or call {PHONE}", output=f"Dear Jane ({EMAIL}),\n"
    )
    give_feedback(cast, edited.pk, edited_output=f"Hi Jane, I'll call {PHONE} at 3.")
    good = post_trace(cast, task="Ping the lead", task_kind="ping", output=f"Mail {OTHER_EMAIL}")
    give_feedback(cast, good.pk, thumbs="up")
    bad = post_trace(cast, task="Ping the lead", task_kind="ping", output=f"Call {PHONE} now")
    give_feedback(cast, bad.pk, thumbs="down")


@pytest.mark.parametrize(
    "operators", [{}, {"EMAIL": "hash", "PHONE": "hash"}, {"EMAIL": "encrypt", "PHONE": "encrypt"}]
)
def test_no_raw_personal_data_nor_linkable_token_in_any_export(cast, operators):
    if operators:
        privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    _people_everywhere(cast)
    for fmt, flt in FORMATS:
        text = file_bytes(built(cast, fmt, flt)).decode()

        assert text  # something was exported
        assert not detect(text, DEFAULT_POLICY), (fmt, flt)
        assert EMAIL not in text and OTHER_EMAIL not in text and "7946" not in text
        assert not TOKEN.search(text)
        assert "<EMAIL>" in text and "<PHONE>" in text


def test_text_an_older_policy_left_unmasked_is_masked_in_the_export(cast):
    trace = post_trace(cast, task="Follow up", output="Hi")
    give_feedback(cast, trace.pk, edited_output="Hello")
    Trace.objects.filter(pk=trace.pk).update(task=f"Follow up with {EMAIL}")  # as stored before

    text = file_bytes(built(cast, "trl_dpo")).decode()

    assert EMAIL not in text and '"prompt":"Follow up with <EMAIL>"' in text


def _erase(cast, **identifiers) -> None:
    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, reason="art. 17", **identifiers
    )
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)


@pytest.mark.parametrize("operators", [{"EMAIL": "hash"}, {"EMAIL": "encrypt"}])
def test_erasure_deletes_the_versions_holding_the_subject(cast, operators):
    privacy_policy_update(actor=SYSTEM, workspace=cast.workspace, operators=operators)
    about = post_trace(cast, task=f"Write to {EMAIL}", task_kind="about", output="Hi")
    give_feedback(cast, about.pk, edited_output="Hello")
    other = post_trace(cast, task=f"Write to {OTHER_EMAIL}", task_kind="other", output="Hi")
    give_feedback(cast, other.pk, edited_output="Hello there")
    holding = built(cast, "trl_dpo")
    only_other = built(cast, "trl_dpo", {"task_kinds": ["other"]})
    assert DatasetSubjectToken.objects.filter(version=holding).count() == 2
    kept_bytes = file_bytes(only_other)

    _erase(cast, emails=[EMAIL])

    assert not DatasetVersion.objects.filter(pk=holding.pk).exists()
    assert not DatasetChunk.objects.filter(version_id=holding.pk).exists()
    assert file_bytes(only_other) == kept_bytes
    rebuilt = built(cast, "trl_dpo")
    assert rebuilt.row_count == 2 and EMAIL not in file_bytes(rebuilt).decode()


def test_with_placeholders_the_file_holds_nothing_of_the_subject(cast):
    """The default operator leaves nothing of the subject in the stored trace (signals keeps
    no link, docs/compliance.md), so nothing in the file either: the version stays."""
    about = post_trace(cast, task=f"Write to {EMAIL}", output="Hi")
    give_feedback(cast, about.pk, edited_output="Hello")
    version = built(cast, "trl_dpo")

    _erase(cast, emails=[EMAIL])

    assert DatasetVersion.objects.filter(pk=version.pk).exists()
    assert not DatasetSubjectToken.objects.filter(version=version).exists()
    assert '"prompt":"Write to <EMAIL>"' in file_bytes(version).decode()


def test_erasure_by_an_external_id_in_clear_finds_the_file(cast):
    trace = post_trace(cast, task="Update account crm-4711 in the CRM", output="Done")
    give_feedback(cast, trace.pk, edited_output="Done, and logged")
    version = built(cast, "trl_dpo")

    _erase(cast, external_ids=["crm-4711"])

    assert not DatasetVersion.objects.filter(pk=version.pk).exists()


def test_retention_selects_versions_past_their_age(cast):
    old, new = built(cast, "trl_dpo"), built(cast, "trl_dpo")
    DatasetVersion.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    target = retention_target("datasets.DatasetVersion")
    assert target is not None
    expired = target.expired(cast.workspace.pk, timezone.now() - dt.timedelta(days=365))
    assert list(expired.values_list("pk", flat=True)) == [old.pk]
    assert new.pk not in expired.values_list("pk", flat=True)
