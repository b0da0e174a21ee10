"""Privacy in the admin, role by role: the policy pages, the preview (which saves nothing), the
re-scan buttons and the reveal page."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.privacy import services
from apps.privacy.models import PiiScanJob, PrivacyPolicy
from tests.conftest import ROLES_AND_OTHERS, SYSTEM
from tests.privacy.conftest import EMAIL, PHONE, PII_TEXT, recorded
from tests.workspaces.test_admin_permissions import GONE, LOGIN, outcome_of

WHO = [*ROLES_AND_OTHERS, "anonymous"]
ACME_READERS = {"owner", "admin", "reviewer", "editor", "auditor", "viewer"}
TEAM = {"team_admin", "team_viewer"}
MEMBERS = ACME_READERS | TEAM | {"outsider", "operator"}


def outcomes(ok: set[str], gone: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    result: dict[str, Any] = dict.fromkeys(WHO, 403)
    result.update(dict.fromkeys(ok, 200))
    result.update(dict.fromkeys(gone, GONE))
    result["anonymous"] = LOGIN
    return result


PAGES = {
    ("privacypolicy", "changelist"): outcomes(MEMBERS),
    ("privacypolicy", "change"): outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    ("privacypolicy", "add"): outcomes(set()),
    ("privacypolicy", "delete"): outcomes(set()),
    ("privacypolicy", "reveal"): outcomes({"operator"}),
    ("piiscanjob", "changelist"): outcomes(MEMBERS),
    ("piiscanjob", "change"): outcomes(ACME_READERS | TEAM | {"operator"}, {"outsider"}),
    ("piiscanjob", "add"): outcomes(set()),
}


def sign_in(client: Any, cast: Any, who: str) -> None:
    if who != "anonymous":
        client.force_login(cast.user(who))


def privacy_state() -> dict[str, Any]:
    return {
        "policies": list(PrivacyPolicy.objects.order_by("pk").values()),
        "jobs": list(PiiScanJob.objects.order_by("pk").values()),
        "events": AuditEvent.objects.count(),
    }


@pytest.fixture
def acme(cast) -> PrivacyPolicy:
    services.policy_for_workspace(cast.other_workspace)
    return services.policy_for_workspace(cast.workspace)


def policy_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "entities": ["EMAIL", "PHONE", "CARD"],
        "phone_regions": "US, GB",
        "default_operator": "placeholder",
        "allow_values": "",
        "allow_patterns": "",
        "test_text": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("model", "page", "who", "expected"),
    [
        pytest.param(m, p, w, e, id=f"{m}-{p}-{w}")
        for (m, p), by_who in PAGES.items()
        for w, e in by_who.items()
    ],
)
def test_privacy_page_matrix(cast, client, acme, model, page, who, expected):
    job = PiiScanJob.objects.create(workspace=cast.workspace, status="done")
    target = acme if model == "privacypolicy" else job
    args = [target.pk] if page in ("change", "delete") else []
    sign_in(client, cast, who)
    before = privacy_state()

    response = client.get(reverse(f"admin:privacy_{model}_{page}", args=args))

    assert outcome_of(response) == expected
    after = privacy_state()
    if page == "changelist":  # the policy list creates default rows lazily, nothing else
        after["policies"] = before["policies"]
    assert after == before


def test_viewers_see_the_policy_read_only(cast, client, acme):
    client.force_login(cast.user("viewer"))

    response = client.get(reverse("admin:privacy_privacypolicy_change", args=[acme.pk]))

    assert response.status_code == 200
    assert b'name="test_text"' not in response.content
    assert b"_preview" not in response.content


def test_owner_saves_the_policy_through_the_service(cast, client, acme):
    client.force_login(cast.user("owner"))
    data = policy_form(operator_email="encrypt", allow_values="support@acme.example\n")

    with recorded() as events:
        response = client.post(reverse("admin:privacy_privacypolicy_change", args=[acme.pk]), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    acme.refresh_from_db()
    assert acme.operators == {"EMAIL": "encrypt"}
    assert acme.allow_values == ["support@acme.example"]
    assert acme.updated_by == cast.user("owner")
    assert [e.action for e in events] == ["privacy_policy.update"]


def test_preview_shows_the_unsaved_policy_and_saves_nothing(cast, client, acme):
    client.force_login(cast.user("owner"))
    before = privacy_state()
    data = policy_form(
        operator_phone="hash",
        allow_values="support@acme.example",
        test_text=f"{PII_TEXT} support@acme.example",
        _preview="1",
    )

    response = client.post(reverse("admin:privacy_privacypolicy_change", args=[acme.pk]), data)

    assert response.status_code == 200
    assert privacy_state() == before
    preview = response.context["preview"]
    assert preview["text"].startswith("Call <PHONE:")
    assert "<EMAIL_1>" in preview["text"] and preview["text"].endswith("support@acme.example")
    assert [row["type"] for row in preview["findings"]] == ["PHONE", "EMAIL", "CARD"]
    table = response.content.decode().split('id="preview-findings"')[1].split("</table>")[0]
    assert EMAIL not in table and PHONE not in table
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"allow_patterns": "(unclosed"}, None),
        ({"phone_regions": "Narnia"}, None),
        ({"entities": []}, "entities"),
        ({"test_text": "x" * 20_001}, "test_text"),
    ],
)
def test_preview_of_a_bad_policy_or_text_is_a_form_error(cast, client, acme, overrides, field):
    client.force_login(cast.user("owner"))
    before = privacy_state()

    response = client.post(
        reverse("admin:privacy_privacypolicy_change", args=[acme.pk]),
        policy_form(**{"_preview": "1", "test_text": "x", **overrides}),
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors
    if field:
        assert field in form.errors
    assert response.context["preview"] is None
    assert privacy_state() == before


@pytest.mark.parametrize("who", ["admin", "viewer", "team_admin"])
def test_preview_needs_the_change_permission(cast, client, acme, who):
    client.force_login(cast.user(who))
    url = reverse("admin:privacy_privacypolicy_change", args=[acme.pk])

    response = client.post(url, policy_form(test_text=EMAIL, _preview="1"))

    expected = 200 if who == "admin" else 403
    assert response.status_code == expected


# --- re-scan ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", sorted(MEMBERS))
def test_rescan_bulk_action_matrix(cast, client, acme, who):
    client.force_login(cast.user(who))
    before = privacy_state()

    client.post(
        reverse("admin:privacy_privacypolicy_changelist"),
        {"action": "rescan_workspaces", "_selected_action": [acme.pk]},
    )

    jobs = list(PiiScanJob.objects.values_list("workspace_id", flat=True))
    if who in ("owner", "admin", "operator"):
        assert jobs == [cast.workspace.pk]
    else:
        assert jobs == []
        after = privacy_state()
        after["policies"] = before["policies"]
        assert after == before


@pytest.mark.parametrize(
    ("who", "expected"),
    [("owner", 200), ("admin", 200), ("operator", 200), ("viewer", 403), ("outsider", 403)],
)
def test_rescan_button_asks_then_queues(cast, client, acme, who, expected):
    client.force_login(cast.user(who))
    url = reverse("admin:privacy_privacypolicy_rescan_detail", args=[acme.pk])

    confirm = client.get(url)
    posted = client.post(url)

    assert confirm.status_code == expected
    assert PiiScanJob.objects.exists() is (expected == 200)
    if expected == 200:
        assert posted.url == reverse("admin:privacy_piiscanjob_changelist")


def test_scan_jobs_show_a_progress_bar(cast, client):
    PiiScanJob.objects.create(workspace=cast.workspace, status="running", total=8, processed=2)
    client.force_login(cast.user("owner"))

    response = client.get(reverse("admin:privacy_piiscanjob_changelist"))

    assert b'style="width: 25%"' in response.content
    assert b"2/8" in response.content


# --- reveal page ------------------------------------------------------------------------------


@pytest.fixture
def token(cast) -> str:
    services.privacy_policy_update(
        actor=SYSTEM, workspace=cast.workspace, operators={"EMAIL": "encrypt"}
    )
    return services.text_mask(cast.workspace, f"mail {EMAIL}").text


@pytest.mark.parametrize("who", sorted(MEMBERS | {"nobody"}))
def test_reveal_page_matrix_with_a_grant_for_the_auditor(cast, client, token, who):
    services.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("auditor")
    )
    client.force_login(cast.user(who))
    url = reverse("admin:privacy_privacypolicy_reveal")
    data = {"workspace": cast.workspace.pk, "reason": "DSAR 3", "text": token}

    with recorded() as events:
        response = client.post(url, data)

    if who in ("auditor", "operator"):
        assert response.status_code == 200
        assert response.context["revealed"] == f"mail {EMAIL}"
        assert "no-store" in response["Cache-Control"]
        assert [e.action for e in events] == ["pii.reveal"]
    else:
        assert response.status_code == 403
        assert events == []


def test_reveal_page_requires_a_reason(cast, client, token):
    client.force_login(cast.user("operator"))

    with recorded() as events:
        response = client.post(
            reverse("admin:privacy_privacypolicy_reveal"),
            {"workspace": cast.workspace.pk, "reason": "  ", "text": token},
        )

    assert response.status_code == 200
    assert response.context["revealed"] is None
    assert response.context["form"].errors
    assert events == []


def test_reveal_page_refuses_a_workspace_outside_the_grant(cast, client, token):
    services.pii_reveal_grant(
        actor=cast.user("owner"), workspace=cast.workspace, user=cast.user("auditor")
    )
    client.force_login(cast.user("auditor"))

    response = client.post(
        reverse("admin:privacy_privacypolicy_reveal"),
        {"workspace": cast.other_workspace.pk, "reason": "x", "text": token},
    )

    assert response.status_code == 200
    assert "workspace" in response.context["form"].errors
    assert response.context["revealed"] is None


def test_sidebar_shows_privacy_entries_by_permission(cast, client):
    client.force_login(cast.user("operator"))
    body = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:privacy_privacypolicy_reveal") in body
    assert reverse("admin:privacy_privacypolicy_changelist") in body

    client.force_login(cast.user("viewer"))
    body = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:privacy_privacypolicy_reveal") not in body
    assert reverse("admin:privacy_privacypolicy_changelist") in body


def test_managers_get_the_test_box_and_preview_button(cast, client, acme):
    client.force_login(cast.user("admin"))

    response = client.get(reverse("admin:privacy_privacypolicy_change", args=[acme.pk]))

    assert b'name="test_text"' in response.content
    assert b'name="_preview"' in response.content
    assert reverse("admin:privacy_privacypolicy_rescan_detail", args=[acme.pk]).encode() in (
        response.content
    )


def _queries(client: Any, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_changelists_do_not_query_per_row(cast, client):
    from tests.workspaces.factories import MembershipFactory, WorkspaceFactory

    owner = cast.user("owner")
    client.force_login(owner)
    jobs_url = reverse("admin:privacy_piiscanjob_changelist")
    policies_url = reverse("admin:privacy_privacypolicy_changelist")
    PiiScanJob.objects.create(workspace=cast.workspace, status="done", created_by=owner)
    client.get(policies_url)  # creates the default rows
    few = (_queries(client, jobs_url), _queries(client, policies_url))

    for i in range(6):
        workspace = WorkspaceFactory(slug=f"more-{i}")
        MembershipFactory(user=owner, workspace=workspace, role="owner")
        PiiScanJob.objects.create(workspace=workspace, status="done", created_by=owner)
    client.get(policies_url)

    assert (_queries(client, jobs_url), _queries(client, policies_url)) == few


def test_rescan_again_from_the_jobs_list(cast, client):
    job = PiiScanJob.objects.create(workspace=cast.workspace, status="done")
    url = reverse("admin:privacy_piiscanjob_changelist")

    client.force_login(cast.user("viewer"))
    client.post(url, {"action": "rescan_again", "_selected_action": [job.pk]})
    assert PiiScanJob.objects.count() == 1

    client.force_login(cast.user("admin"))
    client.post(url, {"action": "rescan_again", "_selected_action": [job.pk]})
    assert PiiScanJob.objects.filter(status="queued", workspace=cast.workspace).count() == 1
