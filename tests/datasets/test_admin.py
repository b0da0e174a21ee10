"""Datasets in the admin: the list and a version's page (filter in words, snapshot, progress,
download link) for owners, admins and auditors; "New dataset", rebuild and download for owners
and admins only (others are refused and nothing changes); each audited."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from apps.datasets import services
from apps.datasets.models import DatasetVersion
from tests.api_helpers import WHO, audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.datasets.conftest import built, give_feedback, post_trace

PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
BUILDERS = ("owner", "admin", "operator")
METADATA = (*BUILDERS, "auditor")
ADMIN = "/admin/datasets/datasetversion"


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return cast


@pytest.fixture
def ready(staff) -> DatasetVersion:
    trace = post_trace(staff, output="draft", task_kind="follow_up")
    give_feedback(staff, trace.pk, edited_output="final")
    return built(
        staff,
        "trl_dpo",
        {"agents": [staff.agent.pk], "task_kinds": ["follow_up"], "started_from": "2026-01-01"},
        name="Shown dataset",
    )


@pytest.mark.parametrize("who", PEOPLE)
def test_the_list_and_page_show_metadata_to_owners_admins_and_auditors(client, ready, who):
    client.force_login(ready_user(ready, client, who))

    listing = client.get(f"{ADMIN}/")
    page = client.get(f"{ADMIN}/{ready.pk}/change/")

    if who in METADATA:
        assert listing.status_code == page.status_code == 200
        assert b"Shown dataset" in listing.content
        html = page.content.decode()
        assert "Verified examples only" in html and "SDR Bot (#" in html
        assert "task kinds: follow_up" in html and "runs started 2026-01-01 to now" in html
        assert f"traces up to #{ready.snapshot['max_trace_id']}" in html
        assert ready.sha256 in html
        may_build = who in BUILDERS
        assert ('data-testid="dataset-rebuild"' in html) is may_build
        assert "dataset-building" not in html
    else:
        assert listing.status_code in (302, 403) or b"Shown dataset" not in listing.content
        assert page.status_code in (302, 403, 404)


def ready_user(version: DatasetVersion, client: Any, who: str) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=who)


def test_a_building_version_refreshes_itself_and_offers_no_download(client, staff):
    version = services.dataset_version_create(
        actor=SYSTEM, workspace=staff.workspace, name="Busy", format="trl_dpo"
    )
    client.force_login(staff.user("owner"))

    html = client.get(f"{ADMIN}/{version.pk}/change/").content.decode()

    assert 'data-testid="dataset-building"' in html and "window.location.reload" in html
    assert "/download/" not in html and 'data-testid="dataset-rebuild"' not in html


def test_the_list_reads_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for n in range(15):
        services.dataset_version_create(
            actor=SYSTEM, workspace=staff.workspace, name=f"many-{n}", format="trl_dpo"
        )
    client.force_login(staff.user("auditor"))
    client.get(f"{ADMIN}/")

    with django_assert_max_num_queries(14):
        page = client.get(f"{ADMIN}/")

    assert page.status_code == 200 and b"many-14" in page.content


@pytest.mark.parametrize("who", PEOPLE)
def test_new_dataset_for_owners_and_admins_only(client, staff, who):
    client.force_login(staff.user(who))
    mark, before = audit_mark(), DatasetVersion.objects.count()
    form = {
        "workspace": staff.workspace.pk,
        "name": "From the form",
        "format": "openai_chat_sft",
        "agents": [staff.agent.pk],
        "task_kinds": "follow_up, first_touch",
        "started_until": "2026-12-31",
    }

    shown = client.get(f"{ADMIN}/new/")
    response = client.post(f"{ADMIN}/new/", form)

    if who in BUILDERS:
        assert shown.status_code == 200 and response.status_code == 302
        made = DatasetVersion.objects.get(name="From the form")
        assert made.filter == {
            "verified_only": False,  # an unticked switch posts nothing
            "agents": [staff.agent.pk],
            "task_kinds": ["first_touch", "follow_up"],
            "started_until": "2026-12-31",
        }
        assert [e.action for e in audit_since(mark)] == ["datasets.build"]
    elif who == "outsider":  # an owner elsewhere: the form, but not for our workspace
        assert shown.status_code == response.status_code == 200
        choices = shown.context["form"].fields["workspace"].choices
        assert [pk for pk, _ in choices] == [staff.other_workspace.pk]
        assert DatasetVersion.objects.count() == before and audit_since(mark) == []
    else:
        assert shown.status_code in (302, 403) and response.status_code in (302, 403)
        assert DatasetVersion.objects.count() == before and audit_since(mark) == []


def test_the_form_refuses_bad_input_and_changes_nothing(client, staff):
    client.force_login(staff.user("owner"))
    bad = {"workspace": staff.workspace.pk, "name": "x", "format": "trl_dpo"}
    for extra in (
        {"task_kinds": "has space"},
        {"started_from": "2026-03-02", "started_until": "2026-03-01"},
        {"format": "alpaca"},
        {"workspace": staff.other_workspace.pk},
        {"agents": [staff.other_agent.pk]},
    ):
        response = client.post(f"{ADMIN}/new/", {**bad, **extra})
        assert response.status_code == 200, extra  # the form again, with the error
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize("who", PEOPLE)
def test_rebuild_and_download_for_owners_and_admins_only(client, ready, who):
    client.force_login(ready_user(ready, client, who))
    mark, before = audit_mark(), DatasetVersion.objects.count()

    download = client.get(f"{ADMIN}/{ready.pk}/download/")
    rebuild = client.post(f"{ADMIN}/{ready.pk}/rebuild/")

    if who in BUILDERS:
        data = b"".join(download.streaming_content)
        assert hashlib.sha256(data).hexdigest() == ready.sha256
        assert rebuild.status_code == 302
        copy = DatasetVersion.objects.get(rebuilt_from=ready)
        assert copy.snapshot == ready.snapshot and copy.filter == ready.filter
        assert [e.action for e in audit_since(mark)] == ["datasets.download", "datasets.rebuild"]
    else:
        assert download.status_code in (302, 403) and rebuild.status_code in (302, 403)
        assert DatasetVersion.objects.count() == before and audit_since(mark) == []


def test_rebuild_asks_first_and_a_get_changes_nothing(client, ready):
    client.force_login(ready_user(ready, client, "owner"))
    page = client.get(f"{ADMIN}/{ready.pk}/rebuild/")
    assert page.status_code == 200 and b"dataset-rebuild-confirm" in page.content
    assert not DatasetVersion.objects.filter(rebuilt_from=ready).exists()
    client.force_login(ready_user(ready, client, "auditor"))
    assert client.get(f"{ADMIN}/{ready.pk}/rebuild/").status_code == 403
