"""Learning candidates: feedback aggregated by meaning, proposed once the evidence suffices.

Thresholds (defaults): 3 independent traces, or 1 piece from a person with the editor role.
Agent-only evidence never auto-approves, whatever the write policy says."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.memories.models import MemoryItem, Status, Tier
from apps.memories.services import write_policy_for
from apps.reviews.models import ReviewRequest
from apps.signals import services
from apps.signals.learning import (
    evidence_of,
    feedback_learn,
    learning_settings_for,
    learning_settings_update,
)
from apps.signals.models import (
    CandidateEvidence,
    CandidateStatus,
    Feedback,
    LearningCandidate,
)
from tests.conftest import SYSTEM
from tests.signals.conftest import stored_trace

OBJECTION = "The customer says the e-mail is too long; keep the first touch under five sentences."


def relay(agent, trace, explanation=OBJECTION, **extra):
    """An end customer's feedback relayed by the agent that ran the trace."""
    item = {"trace": trace.pk, "kind": "end_customer", "explanation": explanation, **extra}
    result = services.feedback_ingest(actor=agent, items=[item])
    assert result.items[0]["status"] == "created", result.items
    return Feedback.objects.get(pk=result.items[0]["id"])


def test_one_relayed_correction_proposes_nothing(cast):
    relay(cast.agent, stored_trace(cast.agent), thumbs="down")

    candidate = LearningCandidate.objects.get()
    assert candidate.evidence_count == 1
    assert candidate.status == CandidateStatus.COLLECTING
    assert candidate.memory is None
    assert not MemoryItem.objects.exists()


def test_three_consistent_corrections_propose_one_candidate_with_count_3(cast):
    traces = [stored_trace(cast.agent) for _ in range(3)]
    for trace in traces:
        relay(cast.agent, trace, thumbs="down")

    candidate = LearningCandidate.objects.get()
    assert candidate.evidence_count == 3
    assert candidate.status == CandidateStatus.PROPOSED
    memory = MemoryItem.objects.get()
    assert candidate.memory == memory
    assert memory.evidence_count == 3
    assert memory.type.key == "correction"
    assert memory.source == "signal"
    assert memory.content == OBJECTION
    assert sorted(memory.provenance["signal_traces"]) == sorted(t.pk for t in traces)
    assert len(memory.provenance["signal_feedback"]) == 3
    assert memory.provenance["learning_candidate"] == [candidate.pk]
    # one agent's runs: its personal tier
    assert (memory.tier, memory.agent) == (Tier.PERSONAL, cast.agent)
    assert ReviewRequest.objects.filter(memory=memory, status="pending").count() == 1


def test_three_in_one_batch_propose_one_candidate(cast):
    traces = [stored_trace(cast.agent) for _ in range(3)]
    items = [{"trace": t.pk, "kind": "end_customer", "explanation": OBJECTION} for t in traces]

    services.feedback_ingest(actor=cast.agent, items=items)

    candidate = LearningCandidate.objects.get()
    assert (candidate.evidence_count, candidate.status) == (3, CandidateStatus.PROPOSED)
    assert MemoryItem.objects.get().evidence_count == 3


def test_repeats_on_one_trace_are_not_independent(cast):
    trace = stored_trace(cast.agent)
    for _ in range(3):
        relay(cast.agent, trace)

    candidate = LearningCandidate.objects.get()
    assert candidate.evidence_count == 1
    assert candidate.evidence.count() == 3
    assert not MemoryItem.objects.exists()


def test_different_objections_make_different_candidates(cast):
    relay(cast.agent, stored_trace(cast.agent))
    relay(cast.agent, stored_trace(cast.agent), "Never mention competitor pricing in a reply.")

    assert LearningCandidate.objects.count() == 2


def test_one_from_an_editor_proposes(cast):
    trace = stored_trace(cast.agent)

    services.feedback_ingest(
        actor=cast.user("editor"),
        workspace=cast.workspace.pk,
        items=[{"trace": trace.pk, "explanation": OBJECTION, "thumbs": "down"}],
    )

    candidate = LearningCandidate.objects.get()
    assert (candidate.editor_count, candidate.person_verified) == (1, True)
    assert candidate.status == CandidateStatus.PROPOSED
    assert MemoryItem.objects.get().evidence_count == 1


def test_a_system_writer_is_not_a_person(cast):
    """Feedback the system posts as `user` names nobody: it verifies nothing."""
    services.feedback_ingest(
        actor=SYSTEM,
        workspace=cast.workspace.pk,
        items=[{"trace": stored_trace(cast.agent).pk, "explanation": OBJECTION}],
    )

    candidate = LearningCandidate.objects.get()
    assert (candidate.editor_count, candidate.person_verified) == (0, False)
    assert candidate.status == CandidateStatus.COLLECTING


def test_agent_only_evidence_is_never_auto_approved(cast):
    """Even with a write policy that approves every signal write at once."""
    policy = write_policy_for(cast.workspace)
    policy.rules = {"auto_approve": [{"source": "signal"}]}
    policy.save()
    for _ in range(3):
        relay(cast.agent, stored_trace(cast.agent))

    memory = MemoryItem.objects.get()
    assert memory.status == Status.PROPOSED
    assert LearningCandidate.objects.get().person_verified is False


def test_person_verified_evidence_follows_the_write_policy(cast):
    policy = write_policy_for(cast.workspace)
    policy.rules = {"auto_approve": [{"source": "signal"}]}
    policy.save()

    services.feedback_ingest(
        actor=cast.user("editor"),
        workspace=cast.workspace.pk,
        items=[{"trace": stored_trace(cast.agent).pk, "explanation": OBJECTION}],
    )

    assert MemoryItem.objects.get().status == Status.APPROVED


def test_thresholds_are_per_workspace(cast):
    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, min_traces=2)
    for _ in range(2):
        relay(cast.agent, stored_trace(cast.agent))

    assert LearningCandidate.objects.get().status == CandidateStatus.PROPOSED


def test_evidence_after_the_proposal_adds_to_the_memory(cast):
    for _ in range(3):
        relay(cast.agent, stored_trace(cast.agent))
    memory = MemoryItem.objects.get()

    fourth = relay(cast.agent, stored_trace(cast.agent))

    memory.refresh_from_db()
    assert MemoryItem.objects.count() == 1
    assert memory.evidence_count == 4
    assert fourth.pk in memory.provenance["signal_feedback"]
    assert LearningCandidate.objects.get().evidence_count == 4


def test_a_rejected_memory_is_not_proposed_again(cast):
    for _ in range(3):
        relay(cast.agent, stored_trace(cast.agent))
    MemoryItem.objects.update(status=Status.REJECTED)

    relay(cast.agent, stored_trace(cast.agent))

    assert MemoryItem.objects.count() == 1
    assert LearningCandidate.objects.get().evidence_count == 4


def test_runs_of_several_teams_give_a_workspace_memory(cast):
    from tests.workspaces.factories import AgentFactory

    other = AgentFactory(workspace=cast.workspace, team=cast.marketing, slug="mkt-bot")
    relay(cast.agent, stored_trace(cast.agent))
    relay(other, stored_trace(other))
    relay(other, stored_trace(other))

    assert MemoryItem.objects.get().tier == Tier.WORKSPACE


def test_thumbs_or_a_rating_alone_teach_nothing(cast):
    services.feedback_ingest(
        actor=cast.agent, items=[{"trace": stored_trace(cast.agent).pk, "thumbs": "down"}]
    )

    assert not LearningCandidate.objects.exists()


def test_an_edit_is_a_correction_from_its_added_lines(cast):
    trace = stored_trace(cast.agent)
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": trace.pk, "edited_output": "Hello,\nwe help teams like yours.\n"}],
    )

    candidate = LearningCandidate.objects.get()
    assert candidate.memory_type == "correction"
    assert candidate.content == "Leave out: Best, / SDR Bot"


def test_an_edit_that_adds_lines_says_what_to_write(cast):
    trace = stored_trace(cast.agent)
    edited = "Hello,\nwe help teams like yours.\nBook a call: Tuesday?\nBest,\nSDR Bot\n"
    services.feedback_ingest(actor=cast.agent, items=[{"trace": trace.pk, "edited_output": edited}])

    feedback = Feedback.objects.get()
    assert feedback.diff.count("\n+Book a call") == 1  # the diff stored at ingestion
    assert LearningCandidate.objects.get().content == "Write it as: Book a call: Tuesday?"


def test_a_positive_explanation_is_a_preference(cast):
    feedback = relay(
        cast.agent, stored_trace(cast.agent), "Loved the short subject line.", thumbs="up"
    )

    assert evidence_of(feedback) == ("preference", "Loved the short subject line.")


def test_personal_data_in_explanations_is_masked_in_the_candidate(cast):
    relay(cast.agent, stored_trace(cast.agent), "Never write to jane.doe@example.com again.")

    assert "jane.doe@example.com" not in LearningCandidate.objects.get().content


def test_workspaces_never_share_candidates(cast):
    relay(cast.agent, stored_trace(cast.agent))
    relay(cast.other_agent, stored_trace(cast.other_agent))

    assert {c.workspace_id for c in LearningCandidate.objects.all()} == {
        cast.workspace.pk,
        cast.other_workspace.pk,
    }


def test_an_embedder_failure_keeps_the_feedback(cast, monkeypatch):
    from apps.memories.embeddings import EmbeddingError

    def broken(texts):
        raise EmbeddingError("down")

    monkeypatch.setattr("apps.signals.learning.embed_texts", broken)
    trace = stored_trace(cast.agent)

    result = services.feedback_ingest(
        actor=cast.agent, items=[{"trace": trace.pk, "explanation": OBJECTION}]
    )

    assert result.count("created") == 1
    assert not LearningCandidate.objects.exists()


def test_feedback_counted_once(cast):
    feedback = relay(cast.agent, stored_trace(cast.agent))

    again = feedback_learn(actor=SYSTEM, workspace=cast.workspace, feedback=[feedback])

    assert again.pieces == 0
    assert CandidateEvidence.objects.count() == 1


def test_learning_is_audited(cast):
    relay(cast.agent, stored_trace(cast.agent))
    candidate = LearningCandidate.objects.get()

    event = AuditEvent.objects.filter(action="signals.feedback_learn").get()
    assert event.after["candidates"] == [candidate.pk]


def test_every_learning_change_is_audited(cast):
    """Under the audit reconciler: candidates, their evidence, the proposed memory and its
    review request, a reinforcement, the one-click and the thresholds."""
    from apps.signals.learning import feedback_memory_propose
    from tests.audit.reconciling import reconcile

    traces = [stored_trace(cast.agent) for _ in range(4)]
    lone = relay(cast.agent, stored_trace(cast.agent), "Never attach the price list unasked.")

    def mutate() -> None:
        for trace in traces:
            relay(cast.agent, trace)
        feedback_memory_propose(actor=cast.user("editor"), feedback=lone)
        learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, min_traces=5)

    result = reconcile(mutate)

    assert result.missing == []
    assert result.count("signals.learningcandidate") == 2
    assert result.count("signals.candidateevidence") == 4
    assert result.count("memories.memoryitem") == 2


def test_learning_queries_do_not_grow_with_the_batch(cast, django_assert_max_num_queries):
    traces = [stored_trace(cast.agent) for _ in range(30)]
    items = [
        {"trace": t.pk, "kind": "end_customer", "explanation": f"Objection number {n} alone."}
        for n, t in enumerate(traces)
    ]
    with django_assert_max_num_queries(25):
        services.feedback_ingest(actor=cast.agent, items=items)

    assert CandidateEvidence.objects.count() == 30


# --- settings ---------------------------------------------------------------------------------


def test_defaults_without_a_row(cast):
    row = learning_settings_for(cast.workspace)
    assert (row.min_traces, row.min_editor_evidence, row.distill) == (3, 1, False)


@pytest.mark.parametrize("who", ["editor", "reviewer", "viewer", "outsider"])
def test_only_admins_change_the_thresholds(cast, who):
    from apps.core.exceptions import Forbidden

    with pytest.raises(Forbidden):
        learning_settings_update(actor=cast.user(who), workspace=cast.workspace, min_traces=1)
    assert learning_settings_for(cast.workspace).pk is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"min_traces": 0}, "min_traces"),
        ({"min_traces": "3"}, "min_traces"),
        ({"min_traces": True}, "min_traces"),
        ({"min_editor_evidence": 1001}, "min_editor_evidence"),
        ({"similarity": 0.2}, "similarity"),
        ({"similarity": "high"}, "similarity"),
        ({"distill": "yes"}, "distill"),
    ],
)
def test_bad_thresholds_are_refused(cast, values, field):
    from apps.core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, **values)
    assert field in refused.value.fields
    assert learning_settings_for(cast.workspace).pk is None


def test_changing_the_thresholds_is_audited(cast):
    learning_settings_update(
        actor=cast.user("admin"), workspace=cast.workspace, min_traces=5, reason="noisy"
    )

    event = AuditEvent.objects.get(action="signals.learning_settings_update")
    assert (event.before["min_traces"], event.after["min_traces"]) == (3, 5)
