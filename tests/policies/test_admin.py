"""Policies in the admin: lists per kind with labels, the detail page (versions, diff, label
history), its actions for each role (denied cases change nothing), read-only versions, and the
review queue's policy-version decision page with the diff and the author."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages

from apps.audit.models import AuditEvent
from apps.policies import services
from apps.policies.models import Artifact, ArtifactVersion, Label
from tests.api_helpers import WHO
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, in_production, state, version

PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
ARTIFACT_URL = "/admin/policies/artifact/{}/change/"


@pytest.fixture
def prompt(crew) -> Any:
    art = artifact(crew, "greeting", kind="prompt")
    v1 = version(art, "Hi {{ name }}.", variables=["name"], actor=crew.user("editor"))
    v2 = version(art, "Hello {{ name }}, good day.", variables=["name"], actor=crew.user("editor"))
    in_production(art, v1)
    in_production(art, v2)
    return art


def test_each_kind_has_its_list_with_labels(crew, client, prompt, django_assert_max_num_queries):
    for n in range(5):
        pack = artifact(crew, f"pack-{n}")
        in_production(pack, version(pack, f"Pack {n}."))
    client.force_login(crew.user("viewer"))

    with django_assert_max_num_queries(25):
        packs = client.get("/admin/policies/policypack/")
    prompts = client.get("/admin/policies/prompt/")

    assert packs.status_code == prompts.status_code == 200
    assert b"pack-4" in packs.content and b"greeting" not in packs.content
    assert b"greeting" in prompts.content and b"production \xe2\x86\x92 v2" in prompts.content


def test_the_detail_page_shows_versions_diff_and_label_history(crew, client, prompt):
    client.force_login(crew.user("auditor"))

    page = client.get(ARTIFACT_URL.format(prompt.pk), {"a": 1, "b": 2})

    assert page.status_code == 200
    assert [v.number for v in page.context["versions"]] == [2, 1]
    assert page.context["diff"]["parts"]
    history = [(e.label, e.to_version.number) for e in page.context["history"]]
    assert history == [("production", 2), ("production", 1)]
    assert b'data-testid="label-history"' in page.content
    assert b'data-testid="new-version"' not in page.content  # auditors read


def _post(client: Any, art: Any, **data: Any) -> Any:
    return client.post(ARTIFACT_URL.format(art.pk), data)


ACTIONS = {
    "new_version": lambda art: {"op": "new_version", "content": '{"template": "Yo."}'},
    "staging": lambda art: {
        "op": "move",
        "label": "staging",
        "version": art.versions.get(number=1).pk,
    },
    "propose": lambda art: {
        "op": "move",
        "label": "production",
        "version": art.versions.get(number=1).pk,
    },
    "rollback": lambda art: {
        "op": "rollback",
        "label": "production",
        "version": art.versions.get(number=1).pk,
    },
}
ALLOWED = {
    "new_version": {"owner", "admin", "editor", "operator"},
    "staging": {"owner", "admin", "editor", "operator"},
    "propose": {"owner", "admin", "editor", "operator"},
    "rollback": {"owner", "admin", "reviewer", "operator"},
}


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("op", list(ACTIONS))
def test_admin_action_matrix(crew, client, prompt, who, op):
    client.force_login(crew.user(who))
    before = state()

    response = _post(client, prompt, **ACTIONS[op](prompt))

    if who in ALLOWED[op]:
        assert response.status_code == 302
        assert state() != before
        notes = [str(m) for m in get_messages(response.wsgi_request)]
        assert not any("Nothing was changed" in n for n in notes), notes
    else:
        assert response.status_code in (302, 403, 404)
        assert state() == before


def test_propose_to_production_opens_a_request_and_rollback_is_one_action(crew, client, prompt):
    client.force_login(crew.user("editor"))
    v3 = version(prompt, "Hey {{ name }}.", variables=["name"])
    _post(client, prompt, op="move", label="production", version=v3.pk)
    client.force_login(crew.user("reviewer"))

    _post(
        client, prompt, op="rollback", label="production", version=prompt.versions.get(number=1).pk
    )

    assert Label.objects.get(artifact=prompt, name="production").version.number == 1


def test_the_admin_refuses_to_change_a_saved_version(crew, client, prompt):
    saved = prompt.versions.get(number=1)
    client.force_login(crew.user("owner"))
    before = state()

    page = client.get(f"/admin/policies/artifactversion/{saved.pk}/change/")
    posted = client.post(
        f"/admin/policies/artifactversion/{saved.pk}/change/", {"message": "rewritten"}
    )
    deleted = client.post(f"/admin/policies/artifactversion/{saved.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200 and b'name="content"' not in page.content
    assert posted.status_code == 403 and deleted.status_code == 403
    assert state() == before
    assert ArtifactVersion.objects.get(pk=saved.pk).message == saved.message


def test_the_review_queue_shows_a_policy_request_with_diff_and_author(crew, client, prompt):
    v3 = version(prompt, "Hey {{ name }}, quick one.", variables=["name"], actor=crew.user("admin"))
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=prompt, label="production", version=v3
    ).request
    client.force_login(crew.user("reviewer"))

    listing = client.get("/admin/reviews/reviewrequest/")
    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")

    assert b"greeting v3 -&gt; production" in listing.content
    assert page.status_code == 200
    assert page.context["decisions"] == ["approve", "reject", "request_changes"]
    assert page.context["diff"]["old_label"] == "production now: v2"
    assert b'data-testid="version-author"' in page.content and b"admin" in page.content
    assert b"Approve &amp; move" in page.content


def test_approving_from_the_decision_page_moves_production(crew, client, prompt):
    v3 = version(prompt, "Hey {{ name }}.", variables=["name"])
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=prompt, label="production", version=v3
    ).request
    client.force_login(crew.user("reviewer"))

    client.post(f"/admin/reviews/reviewrequest/{request.pk}/change/", {"decision": "approve"})

    assert Label.objects.get(artifact=prompt, name="production").version == v3


def test_the_author_is_refused_on_the_decision_page_under_four_eyes(crew, client, prompt):
    v3 = version(prompt, "Hey {{ name }}.", variables=["name"], actor=crew.user("admin"))
    request = services.policy_label_move(
        actor=SYSTEM, artifact=prompt, label="production", version=v3
    ).request
    client.force_login(crew.user("admin"))
    before = state()

    response = client.post(
        f"/admin/reviews/reviewrequest/{request.pk}/change/", {"decision": "approve"}
    )

    assert any("Four-eyes" in str(m) for m in get_messages(response.wsgi_request))
    assert state() == before


@pytest.mark.parametrize(
    ("who", "allowed"), [("editor", True), ("viewer", False), ("reviewer", False)]
)
def test_creating_an_artifact_from_the_admin_goes_through_the_service(crew, client, who, allowed):
    client.force_login(crew.user(who))
    before = state()
    form = {
        "workspace": crew.workspace.pk,
        "kind": "prompt",
        "name": "welcome",
        "level": "workspace",
    }

    response = client.post("/admin/policies/prompt/add/", form)

    if allowed:
        assert response.status_code == 302, response.content[:500]
        created = Artifact.objects.get(name="welcome")
        assert created.kind == "prompt"
        assert AuditEvent.objects.filter(action="policy.artifact_create").count() == 1
    else:
        assert response.status_code == 403
        assert state() == before


def test_a_request_whose_artifact_was_deleted_still_opens_and_cannot_be_approved(crew, client):
    art = artifact(crew, "gone", kind="prompt")
    request = services.policy_label_move(
        actor=crew.user("editor"), artifact=art, label="production", version=version(art, "Hi.")
    ).request
    art.delete()
    client.force_login(crew.user("reviewer"))

    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")
    posted = client.post(
        f"/admin/reviews/reviewrequest/{request.pk}/change/", {"decision": "approve"}
    )

    assert page.status_code == 200 and b"is gone" in page.content
    assert any("gone" in str(m) for m in get_messages(posted.wsgi_request))
    request.refresh_from_db()
    assert request.status == "pending"


# --- removing an unprotected label ---------------------------------------------------------------

REMOVE_URL = "/admin/policies/artifact/{}/remove-label/"
MAY_REMOVE = {"owner", "admin", "editor", "operator"}


def _with_staging(crew: Any, art: Any) -> Any:
    services.policy_label_move(
        actor=crew.user("editor"),
        artifact=art,
        label="staging",
        version=art.versions.get(number=1),
    )
    return art


@pytest.mark.parametrize("who", PEOPLE)
def test_remove_label_matrix(crew, client, prompt, who):
    # given: staging (unprotected) and production on the prompt
    _with_staging(crew, prompt)
    client.force_login(crew.user(who))
    before = state()

    # when: the page, the confirm page, the removal
    page = client.get(ARTIFACT_URL.format(prompt.pk))
    confirm = client.get(REMOVE_URL.format(prompt.pk), {"label": "staging"})
    response = client.post(REMOVE_URL.format(prompt.pk), {"label": "staging", "reason": "done"})

    # then
    if who in MAY_REMOVE:
        assert b'data-testid="remove-label"' in page.content
        assert confirm.status_code == 200 and b"Remove the label" in confirm.content
        assert response.status_code == 302
        assert not Label.objects.filter(artifact=prompt, name="staging").exists()
        assert Label.objects.filter(artifact=prompt, name="production").exists()
        event = AuditEvent.objects.get(action="policy.label_remove")
        assert event.actor_id == str(crew.user(who).pk) and event.reason == "done"
    else:
        assert page.status_code in (200, 302, 403, 404)
        assert b'data-testid="remove-label"' not in page.content
        assert confirm.status_code in (302, 403, 404)
        assert response.status_code in (302, 403, 404)
        assert state() == before


def test_only_unprotected_labels_offer_removal_and_production_is_refused(crew, client, prompt):
    _with_staging(crew, prompt)
    client.force_login(crew.user("editor"))
    before = state()

    page = client.get(ARTIFACT_URL.format(prompt.pk))
    confirm = client.get(REMOVE_URL.format(prompt.pk), {"label": "production"})
    response = client.post(REMOVE_URL.format(prompt.pk), {"label": "production"})

    assert page.content.count(b'data-testid="remove-label"') == 1
    assert b"?label=staging" in page.content and b"?label=production" not in page.content
    assert b"is protected" in confirm.content and b"Remove the label" not in confirm.content
    assert response.status_code == 302
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Nothing was changed" in n and "protected" in n for n in notes), notes
    assert state() == before


def test_removing_a_label_the_artifact_lacks_changes_nothing(crew, client, prompt):
    client.force_login(crew.user("editor"))
    before = state()

    confirm = client.get(REMOVE_URL.format(prompt.pk), {"label": "staging"})
    response = client.post(REMOVE_URL.format(prompt.pk), {"label": "staging"})

    assert b"nothing to remove" in confirm.content
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Nothing was changed" in n for n in notes), notes
    assert state() == before


def test_a_removal_is_in_the_label_history_of_the_page(crew, client, prompt):
    _with_staging(crew, prompt)
    client.force_login(crew.user("editor"))

    client.post(REMOVE_URL.format(prompt.pk), {"label": "staging", "reason": "test over"})
    page = client.get(ARTIFACT_URL.format(prompt.pk))

    newest = page.context["history"][0]
    assert (newest.label, newest.how, newest.to_version, newest.reason) == (
        "staging",
        "removed",
        None,
        "test over",
    )
