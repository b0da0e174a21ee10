"""Ingestion: batches answer item by item, outcomes count once per key, references stay inside
the workspace, edits get their diff, and nothing personal is stored in the clear."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.memories.models import ContextAssembly
from apps.signals import services
from apps.signals.models import Feedback, Outcome, Trace
from tests.api_helpers import assert_error, audit_mark, audit_since
from tests.conftest import SYSTEM
from tests.signals.conftest import EMAIL, PHONE, outcome_item, stored_trace, trace_item


@pytest.fixture
def agent_api(client_as):
    return client_as("agent")


# --- outcomes: idempotency ------------------------------------------------------------------


def test_the_same_outcome_twice_is_stored_once(cast, agent_api):
    trace = stored_trace(cast.agent)
    body = outcome_item("evt-1", trace=trace.pk)

    first = agent_api.post("/api/v1/outcomes", body, format="json")
    second = agent_api.post("/api/v1/outcomes", body, format="json")

    assert first.status_code == 201, first.content
    assert second.status_code == 200, second.content
    assert second.json() == {"index": 0, "status": "existing", "id": first.json()["id"]}
    assert Outcome.objects.filter(workspace=cast.workspace).count() == 1


def test_a_repeated_key_inside_one_batch_and_across_batches_counts_once(cast, agent_api):
    trace = stored_trace(cast.agent)
    items = [
        outcome_item("a", trace=trace.pk),
        outcome_item("b", trace=trace.pk, kind="meeting_booked"),
        outcome_item("a", trace=trace.pk),
    ]

    first = agent_api.post("/api/v1/outcomes/batch", {"items": items}, format="json").json()
    again = agent_api.post("/api/v1/outcomes/batch", {"items": items}, format="json").json()

    assert [i["status"] for i in first["items"]] == ["created", "created", "existing"]
    assert first["items"][0]["id"] == first["items"][2]["id"]
    assert (first["created"], first["existing"], first["rejected"]) == (2, 1, 0)
    assert [i["status"] for i in again["items"]] == ["existing"] * 3
    assert [i["id"] for i in again["items"]] == [i["id"] for i in first["items"]]
    assert Outcome.objects.count() == 2


def test_the_same_key_in_two_workspaces_is_two_events(cast, client_as):
    mine = stored_trace(cast.agent)
    theirs = stored_trace(cast.other_agent)

    client_as("agent").post("/api/v1/outcomes", outcome_item("k", trace=mine.pk), format="json")
    response = client_as("other_agent").post(
        "/api/v1/outcomes", outcome_item("k", trace=theirs.pk), format="json"
    )

    assert response.status_code == 201
    assert Outcome.objects.count() == 2


def test_the_key_is_stored_as_a_digest(cast):
    services.outcomes_ingest(
        actor=cast.agent, items=[outcome_item(f"order-{EMAIL}", contact=EMAIL)]
    )

    stored = Outcome.objects.get()
    assert EMAIL not in stored.idempotency_key and len(stored.idempotency_key) == 64


# --- per-item rejection ---------------------------------------------------------------------


def test_foreign_and_unknown_traces_are_rejected_per_item(cast, agent_api):
    mine = stored_trace(cast.agent)
    theirs = stored_trace(cast.other_agent)
    items = [
        outcome_item("1", trace=mine.pk),
        outcome_item("2", trace=theirs.pk),
        outcome_item("3", trace=999_999_999),
        outcome_item("4", trace=mine.pk, kind="positive_reply"),
    ]

    body = agent_api.post("/api/v1/outcomes/batch", {"items": items}, format="json").json()

    assert [i["status"] for i in body["items"]] == ["created", "rejected", "rejected", "created"]
    for rejected in body["items"][1:3]:
        assert rejected["code"] == "unknown_trace"
        assert set(rejected["fields"]) == {"trace"}
    # another workspace's trace and a trace that never existed read the same
    assert body["items"][1]["message"].replace(str(theirs.pk), "N") == body["items"][2][
        "message"
    ].replace("999999999", "N")
    assert Outcome.objects.filter(trace=theirs).count() == 0
    assert Outcome.objects.filter(trace=mine).count() == 2


def test_a_batch_with_one_bad_item_stores_the_others_for_each_endpoint(cast, agent_api):
    trace = stored_trace(cast.agent)
    cases = {
        "traces": [trace_item(), trace_item(status="lost"), trace_item(task="Second")],
        "feedback": [
            {"trace": trace.pk, "thumbs": "up"},
            {"trace": trace.pk, "rating": 9},
            {"trace": trace.pk, "explanation": "Too long."},
        ],
        "outcomes": [
            outcome_item("x", trace=trace.pk),
            outcome_item("y", trace=trace.pk, kind="spend", amount=12.5),
            outcome_item("z", contact="lead-42"),
        ],
    }
    bad_field = {"traces": "status", "feedback": "rating", "outcomes": "currency"}
    before = {"traces": Trace.objects.count(), "feedback": 0, "outcomes": 0}
    model = {"traces": Trace, "feedback": Feedback, "outcomes": Outcome}

    for kind, items in cases.items():
        mark = audit_mark()
        response = agent_api.post(f"/api/v1/{kind}/batch", {"items": items}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["created"], body["rejected"]) == (2, 1), body
        assert body["items"][1] == {
            "index": 1,
            "status": "rejected",
            "code": "invalid",
            "message": body["items"][1]["message"],
            "fields": {bad_field[kind]: body["items"][1]["fields"][bad_field[kind]]},
        }
        created = [body["items"][0]["id"], body["items"][2]["id"]]
        assert model[kind].objects.filter(pk__in=created).count() == 2
        assert model[kind].objects.count() == before[kind] + 2
        events = audit_since(mark)
        learned = ["signals.feedback_learn"] if kind == "feedback" else []  # the explanation
        assert [e.action for e in events] == [f"signals.{kind}_ingest", *learned]
        assert events[0].after["created"] == 2 and events[0].after["rejected"] == 1


def test_a_batch_that_stores_nothing_writes_no_audit(cast, agent_api):
    mark = audit_mark()
    response = agent_api.post(
        "/api/v1/feedback/batch", {"items": [{"trace": 1, "thumbs": "up"}]}, format="json"
    )

    assert response.json()["rejected"] == 1
    assert audit_since(mark) == []


def test_an_agent_gives_feedback_only_on_its_own_traces(cast, client_as):
    from tests.workspaces.factories import AgentFactory

    colleague = AgentFactory(workspace=cast.workspace, slug="colleague")
    theirs = stored_trace(colleague)

    response = client_as("agent").post(
        "/api/v1/feedback", {"trace": theirs.pk, "thumbs": "down"}, format="json"
    )

    assert_error(response, 404)
    assert not Feedback.objects.exists()


def test_context_assembly_and_policy_versions_must_be_the_workspaces(cast, agent_api):
    from tests.policies.conftest import artifact, version

    mine = ContextAssembly.objects.create(
        workspace=cast.workspace, agent=cast.agent, task_text="t", k=5, strategy="exact"
    )
    theirs = ContextAssembly.objects.create(
        workspace=cast.other_workspace, agent=cast.other_agent, task_text="t", k=5, strategy="exact"
    )
    v1 = version(artifact(cast, "voice"), "Write plainly.")
    items = [
        trace_item(context_assembly=mine.pk, policy_versions=[v1.pk]),
        trace_item(context_assembly=theirs.pk),
        trace_item(policy_versions=[v1.pk, 999_999]),
    ]

    body = agent_api.post("/api/v1/traces/batch", {"items": items}, format="json").json()

    assert [i["status"] for i in body["items"]] == ["created", "rejected", "rejected"]
    assert [i.get("code") for i in body["items"][1:]] == ["unknown_reference"] * 2
    stored = Trace.objects.get(pk=body["items"][0]["id"])
    assert stored.context_assembly_id == mine.pk
    assert stored.policy_versions == [
        {"id": v1.pk, "artifact": "voice", "kind": "policy_pack", "version": v1.number}
    ]


def test_late_events_are_normal(cast, agent_api):
    trace = stored_trace(cast.agent)
    body = outcome_item("late", trace=trace.pk, occurred_at="2020-01-02T03:04:05Z")

    response = agent_api.post("/api/v1/outcomes", body, format="json")

    assert response.status_code == 201
    assert Outcome.objects.get().occurred_at.year == 2020


def test_every_outcome_kind_with_what_it_needs(cast):
    trace = stored_trace(cast.agent)
    items = [
        outcome_item("1", trace=trace.pk, kind="stage_move", from_stage="lead", to_stage="sql"),
        outcome_item("2", trace=trace.pk, kind="spend", amount="12.3456", currency="eur"),
        outcome_item("3", trace=trace.pk, kind="custom", custom_kind="demo_requested"),
        outcome_item("4", account="Initech", experiment_unit="lead-42", kind="unsubscribe"),
        outcome_item("5", trace=trace.pk, kind="stage_move"),
        outcome_item("6", trace=trace.pk, kind="custom"),
        outcome_item("7", kind="bounce"),
    ]

    result = services.outcomes_ingest(actor=cast.agent, items=items)

    assert [i["status"] for i in result.items] == ["created"] * 4 + ["rejected"] * 3
    wrong = [set(i["fields"]) for i in result.items[4:]]
    assert wrong == [{"to_stage"}, {"custom_kind"}, {"trace"}]
    spend = Outcome.objects.get(kind="spend")
    assert (str(spend.amount), spend.currency) == ("12.3456", "EUR")
    unsubscribed = Outcome.objects.get(kind="unsubscribe")
    assert unsubscribed.account_hash == services.subject_hash("account", " initech ")
    assert unsubscribed.experiment_unit_hash == services.subject_hash("unit", "lead-42")


# --- feedback: diff -------------------------------------------------------------------------


def test_an_edit_is_stored_with_its_diff(cast, agent_api):
    trace = stored_trace(cast.agent, output="Hello,\nwe help teams like yours.\nBest,\n")
    edited = "Hi Anna,\nwe help sales teams like yours.\nBest,\n"

    response = agent_api.post(
        "/api/v1/feedback",
        {"trace": trace.pk, "kind": "verifier", "edited_output": edited},
        format="json",
    )

    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert feedback.diff == (
        "--- output\n+++ edited\n@@ -1,3 +1,3 @@\n"
        "-Hello,\n-we help teams like yours.\n+Hi Anna,\n+we help sales teams like yours.\n"
        " Best,\n"
    )
    assert (feedback.kind, feedback.reported_by_agent_id) == ("verifier", cast.agent.pk)


def test_diff_of_identical_texts_is_empty_and_a_missing_newline_still_ends_lines():
    assert services.edit_diff("same\n", "same\n") == ""
    assert services.edit_diff("a", "b") == "--- output\n+++ edited\n@@ -1 +1 @@\n-a\n+b\n"


def test_a_person_gives_feedback_with_their_name_on_it(cast, client_as):
    trace = stored_trace(cast.agent)

    response = client_as("editor").post(
        "/api/v1/feedback",
        {"trace": trace.pk, "rating": 2, "thumbs": "down", "workspace": cast.workspace.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert (feedback.kind, feedback.given_by, feedback.thumbs, feedback.rating) == (
        "user",
        cast.user("editor"),
        -1,
        2,
    )


def test_an_agent_cannot_claim_a_persons_feedback(cast, agent_api):
    trace = stored_trace(cast.agent)

    response = agent_api.post(
        "/api/v1/feedback", {"trace": trace.pk, "kind": "user", "thumbs": "up"}, format="json"
    )

    assert_error(response, 403)
    assert not Feedback.objects.exists()


# --- no raw PII at rest ---------------------------------------------------------------------


def test_no_raw_personal_data_is_stored_from_any_field(cast, client_as):
    pii = f"{EMAIL} {PHONE}"
    trace_id = (
        client_as("agent")
        .post(
            "/api/v1/traces",
            trace_item(
                task=f"Write to {EMAIL}",
                steps=[{"thought": f"call {PHONE}", EMAIL: "a key"}],
                tool_calls=[{"tool": "mail.send", "arguments": {"to": EMAIL}}],
                output=f"Dear Jane ({EMAIL}),",
                experiment_assignments={"subject_line": f"variant for {EMAIL}"},
            ),
            format="json",
        )
        .json()["id"]
    )
    client_as("agent").post(
        "/api/v1/feedback",
        {"trace": trace_id, "explanation": f"Customer {pii} said no", "edited_output": pii},
        format="json",
    )
    client_as("editor").post(
        "/api/v1/outcomes",
        outcome_item(
            f"evt-{EMAIL}",
            trace=trace_id,
            contact=EMAIL,
            account=PHONE,
            experiment_unit=EMAIL,
            workspace=cast.workspace.pk,
        ),
        format="json",
    )
    assert Feedback.objects.count() == 1 and Outcome.objects.count() == 1

    with connection.cursor() as cursor:
        for table in ("signals_trace", "signals_feedback", "signals_outcome"):
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608
            for (text,) in cursor.fetchall():
                for raw in (EMAIL, PHONE, "7946 0958"):
                    assert raw not in text, (table, raw, text)
    events = AuditEvent.objects.filter(action__startswith="signals.")
    assert EMAIL not in json.dumps([e.after for e in events])


# --- system writes (demo, benchmarks) -------------------------------------------------------


def test_the_system_posts_traces_for_a_named_agent_of_the_workspace(cast):
    result = services.traces_ingest(
        actor=SYSTEM,
        workspace=cast.workspace,
        items=[trace_item(agent=cast.agent.pk), trace_item(agent=cast.other_agent.pk)],
    )

    assert [i["status"] for i in result.items] == ["created", "rejected"]
    assert Trace.objects.get().agent == cast.agent


def test_people_do_not_post_traces(cast, client_as):
    response = client_as("owner").post(
        "/api/v1/traces", {**trace_item(), "workspace": cast.workspace.pk}, format="json"
    )

    assert_error(response, 403)
    assert not Trace.objects.exists()


def test_json_is_masked_in_every_trace_of_a_batch_with_numbering_per_trace(cast):
    items = [
        trace_item(steps=[{"note": "no contact yet"}], tool_calls=[]),
        trace_item(steps=[{"note": f"mail {EMAIL}", "cc": PHONE}], tool_calls=[{"note": EMAIL}]),
        trace_item(steps=[{"note": PHONE}, {"note": EMAIL}], tool_calls=[]),
    ]

    result = services.traces_ingest(actor=cast.agent, items=items)

    stored = [Trace.objects.get(pk=i["id"]) for i in result.items]
    assert stored[0].steps == [{"note": "no contact yet"}]
    assert stored[1].steps == [{"note": "mail <EMAIL_1>", "cc": "<PHONE_1>"}]
    assert stored[1].tool_calls == [{"note": "<EMAIL_1>"}]
    assert stored[2].steps == [{"note": "<PHONE_1>"}, {"note": "<EMAIL_1>"}]


def test_json_nested_too_deep_is_rejected_not_a_server_error(cast, agent_api):
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]

    body = agent_api.post(
        "/api/v1/traces/batch", {"items": [trace_item(steps=[deep]), trace_item()]}, format="json"
    ).json()

    assert [i["status"] for i in body["items"]] == ["rejected", "created"]
    assert set(body["items"][0]["fields"]) == {"steps"}


def test_a_trace_keeps_its_task_kind(agent_api):
    response = agent_api.post(
        "/api/v1/traces", trace_item(task_kind="follow_up_email"), format="json"
    )
    assert response.status_code == 201, response.content
    trace = Trace.objects.get()
    assert trace.task_kind == "follow_up_email"
    assert agent_api.get(f"/api/v1/traces/{trace.pk}").json()["task_kind"] == "follow_up_email"
