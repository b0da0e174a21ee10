"""The one-click "turn this correction into a memory": POST /api/v1/feedback/{id}/memory and
the feedback admin's action. People with the editor role or higher; the memory always waits in
the review queue; the decision page and the memory page show the evidence and its links."""

from __future__ import annotations

import pytest

from apps.memories.models import MemoryItem, Status
from apps.memories.services import write_policy_for
from apps.reviews.models import ReviewRequest
from apps.signals import services
from apps.signals.models import Feedback, LearningCandidate
from tests.api_helpers import OUTSIDE, TEAM, assert_error, each, matrix
from tests.signals.conftest import stored_trace

EDITORS = ("owner", "admin", "editor", "operator")
NOT_EDITORS = ("reviewer", "auditor", "viewer")
CORRECTION = "Never promise a discount without the manager's approval."


def _feedback(agent, explanation=CORRECTION, **extra):
    trace = stored_trace(agent)
    item = {"trace": trace.pk, "kind": "end_customer", "thumbs": "down", **extra}
    if explanation:
        item["explanation"] = explanation
    result = services.feedback_ingest(actor=agent, items=[item])
    return Feedback.objects.get(pk=result.items[0]["id"])


@pytest.fixture
def feedback(cast):
    return _feedback(cast.agent)


def url(feedback_id) -> str:
    return f"/api/v1/feedback/{feedback_id}/memory"


@pytest.mark.parametrize(
    ("who", "status"),
    matrix(**each(201, *EDITORS), **each(403, *NOT_EDITORS), **each(404, *TEAM, *OUTSIDE)),
)
def test_propose_memory_permissions(client_as, cast, feedback, who, status):
    response = client_as(who).post(url(feedback.pk), {}, format="json")

    assert response.status_code == status, response.content
    if status == 201:
        body = response.json()
        memory = MemoryItem.objects.get(pk=body["memory"])
        assert body["memory_status"] == "proposed" == memory.status
        assert body["created"] is True and body["evidence_count"] == 1
        assert memory.provenance["signal_feedback"] == [feedback.pk]
        assert ReviewRequest.objects.filter(memory=memory, status="pending").exists()
    else:
        assert_error(response, status)
        assert not MemoryItem.objects.exists()
        assert LearningCandidate.objects.get().status == "collecting"


def test_the_memory_waits_for_review_even_when_the_policy_approves_people(client_as, cast):
    policy = write_policy_for(cast.workspace)
    policy.rules = {"auto_approve": [{"actor_kind": "user"}, {"actor_kind": "system"}]}
    policy.save()
    feedback = _feedback(cast.agent)

    response = client_as("editor").post(url(feedback.pk), {}, format="json")

    assert response.status_code == 201
    assert MemoryItem.objects.get().status == Status.PROPOSED


def test_asking_again_answers_the_same_memory(client_as, cast, feedback):
    first = client_as("editor").post(url(feedback.pk), {}, format="json")
    again = client_as("owner").post(url(feedback.pk), {}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["memory"] == first.json()["memory"]
    assert again.json()["created"] is False
    assert MemoryItem.objects.count() == 1


def test_after_a_rejection_the_click_proposes_anew(client_as, cast, feedback):
    first = client_as("editor").post(url(feedback.pk), {}, format="json")
    MemoryItem.objects.filter(pk=first.json()["memory"]).update(status=Status.REJECTED)

    again = client_as("editor").post(url(feedback.pk), {}, format="json")

    assert again.status_code == 201
    assert again.json()["memory"] != first.json()["memory"]
    assert MemoryItem.objects.get(pk=again.json()["memory"]).status == Status.PROPOSED


def test_the_candidate_evidence_comes_along(client_as, cast):
    """Two relayed objections (below the threshold of 3): the click proposes with both."""
    first = _feedback(cast.agent)
    _feedback(cast.agent)

    response = client_as("editor").post(url(first.pk), {}, format="json")

    assert response.json()["evidence_count"] == 2
    assert MemoryItem.objects.get().evidence_count == 2


def test_feedback_with_nothing_to_learn_is_refused(client_as, cast):
    thumbs_only = _feedback(cast.agent, explanation="")

    response = client_as("editor").post(url(thumbs_only.pk), {}, format="json")

    assert_error(response, 409)
    assert not MemoryItem.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"content": "my own text"}, {"tier": "workspace"}, [1, 2], "text"],
    ids=["unknown-field", "tier", "a-list", "a-string"],
)
def test_bad_bodies_are_refused(client_as, cast, feedback, body):
    response = client_as("editor").post(url(feedback.pk), body, format="json")

    assert_error(response, 400)
    assert not MemoryItem.objects.exists()


def test_malformed_json_is_refused(client_as, cast, feedback):
    response = client_as("editor").post(
        url(feedback.pk), b"{not json", content_type="application/json"
    )

    assert_error(response, 400)
    assert not MemoryItem.objects.exists()


@pytest.mark.parametrize("pk", ["999999", "abc", "0"])
def test_unknown_feedback_is_404(client_as, cast, pk):
    response = client_as("editor").post(f"/api/v1/feedback/{pk}/memory", {}, format="json")

    assert_error(response, 404)


def test_another_workspaces_feedback_is_404(client_as, cast):
    theirs = _feedback(cast.other_agent)

    response = client_as("editor").post(url(theirs.pk), {}, format="json")

    assert_error(response, 404)
    assert not MemoryItem.objects.exists()


def test_an_embedder_failure_is_503_and_writes_nothing(client_as, cast, monkeypatch):
    from apps.memories.embeddings import EmbeddingError

    feedback = _feedback(cast.agent)
    LearningCandidate.objects.all().delete()  # as if learning had skipped the batch

    def broken(texts):
        raise EmbeddingError("down")

    monkeypatch.setattr("apps.signals.learning.embed_texts", broken)

    response = client_as("editor").post(url(feedback.pk), {}, format="json")

    assert_error(response, 503)
    assert not MemoryItem.objects.exists() and not LearningCandidate.objects.exists()


# --- the admin ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "allowed"),
    [*[(w, True) for w in EDITORS], *[(w, False) for w in (*NOT_EDITORS, *TEAM, *OUTSIDE)]],
)
def test_admin_action_permissions(client, cast, feedback, who, allowed):
    client.force_login(cast.user(who))
    action = f"/admin/signals/feedback/{feedback.pk}/propose_memory/"

    confirm = client.get(action)
    posted = client.post(action)

    if allowed:
        assert confirm.status_code == 200
        assert b"Never promise a discount" in confirm.content
        assert posted.status_code == 302
        request = ReviewRequest.objects.get(memory__isnull=False)
        assert posted["Location"].endswith(f"/admin/reviews/reviewrequest/{request.pk}/change/")
    else:
        assert confirm.status_code in (302, 403, 404)
        assert posted.status_code in (302, 403, 404)
        assert not MemoryItem.objects.exists()


def test_feedback_page_offers_the_action_and_shows_its_candidate(client, cast, feedback):
    client.force_login(cast.user("editor"))

    page = client.get(f"/admin/signals/feedback/{feedback.pk}/change/")

    assert page.status_code == 200
    assert b"propose_memory" in page.content
    assert b'data-testid="feedback-candidate"' in page.content


def test_feedback_page_hides_the_action_from_viewers(client, cast, feedback):
    client.force_login(cast.user("viewer"))

    page = client.get(f"/admin/signals/feedback/{feedback.pk}/change/")

    assert page.status_code == 200
    assert b"propose_memory" not in page.content


def test_decision_page_shows_evidence_count_and_links(client, cast):
    traces = [stored_trace(cast.agent) for _ in range(3)]
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": t.pk, "kind": "end_customer", "explanation": CORRECTION} for t in traces],
    )
    request = ReviewRequest.objects.get(memory__isnull=False)
    client.force_login(cast.user("reviewer"))

    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert 'data-testid="evidence-count">3<' in content
    for trace in traces:
        assert f"/admin/signals/trace/{trace.pk}/change/" in content
    for feedback in Feedback.objects.all():
        assert f"/admin/signals/feedback/{feedback.pk}/change/" in content


def test_memory_page_shows_evidence_links(client, cast):
    traces = [stored_trace(cast.agent) for _ in range(3)]
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": t.pk, "kind": "end_customer", "explanation": CORRECTION} for t in traces],
    )
    memory = MemoryItem.objects.get()
    client.force_login(cast.user("owner"))

    page = client.get(f"/admin/memories/memoryitem/{memory.pk}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "Evidence (3)" in content
    assert f"/admin/signals/trace/{traces[0].pk}/change/" in content


def test_candidate_pages_are_scoped(client, cast, feedback):
    _feedback(cast.other_agent, "Globex secret objection about pricing.")
    client.force_login(cast.user("viewer"))

    listing = client.get("/admin/signals/learningcandidate/")
    mine = LearningCandidate.objects.get(workspace=cast.workspace)
    theirs = LearningCandidate.objects.get(workspace=cast.other_workspace)

    assert listing.status_code == 200
    assert b"Never promise a discount" in listing.content
    assert b"Globex secret" not in listing.content
    assert client.get(f"/admin/signals/learningcandidate/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/signals/learningcandidate/{theirs.pk}/change/").status_code in (
        302,
        404,
    )


@pytest.mark.parametrize(("who", "allowed"), [("owner", True), ("admin", True), ("editor", False)])
def test_settings_admin_changes_through_the_service(client, cast, who, allowed):
    from apps.audit.models import AuditEvent
    from apps.signals.learning import learning_settings_for

    client.force_login(cast.user(who))

    response = client.post(
        "/admin/signals/learningsettings/add/",
        {
            "workspace": cast.workspace.pk,
            "min_traces": 5,
            "min_editor_evidence": 2,
            "similarity": 0.85,
        },
    )

    row = learning_settings_for(cast.workspace)
    if allowed:
        assert response.status_code == 302, response.content[:2000]
        assert (row.min_traces, row.min_editor_evidence, row.distill) == (5, 2, False)
        assert AuditEvent.objects.filter(action="signals.learning_settings_update").exists()
    else:
        assert response.status_code in (403, 200)
        assert row.pk is None


@pytest.mark.parametrize("rows", [1, 12])
def test_candidate_list_queries_do_not_grow(client, cast, rows, django_assert_max_num_queries):
    for n in range(rows):
        _feedback(cast.agent, f"Distinct objection {n}: " + "word " * n + f"topic{n}")
    client.force_login(cast.user("viewer"))

    with django_assert_max_num_queries(8):  # 7 measured, for 1 and for 4 candidates
        page = client.get("/admin/signals/learningcandidate/")

    assert page.status_code == 200


def test_settings_list_queries(client, cast, django_assert_max_num_queries):
    from apps.signals.learning import learning_settings_update

    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, min_traces=4)
    client.force_login(cast.user("owner"))

    with django_assert_max_num_queries(14):
        page = client.get("/admin/signals/learningsettings/")

    assert page.status_code == 200 and b"acme" in page.content.lower()
