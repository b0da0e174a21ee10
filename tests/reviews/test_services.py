"""Review decisions as services: what each does to the memory and the request, the audit
trail, the four-eyes rule, who may decide (denied cases change nothing), and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import Conflict, Forbidden, ValidationFailed
from apps.memories.models import MemoryItem, MemoryVersion, Status
from apps.memories.services import memory_approve, memory_forget, memory_update, memory_write
from apps.reviews import services
from apps.reviews.models import EditPair, ReviewRequest
from tests.conftest import SYSTEM
from tests.reviews.conftest import AGENT_SCOPES, propose, propose_conflict, state

pytestmark = pytest.mark.django_db


def fresh(request: ReviewRequest) -> ReviewRequest:
    return ReviewRequest.objects.select_related("memory").get(pk=request.pk)


def actions_since(mark: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", flat=True)
    )


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- intake ------------------------------------------------------------------------------------


def test_an_unsure_team_proposal_opens_one_request_for_the_sales_reviewers(crew):
    # when
    request = propose(crew, "Logistics prospects want a reference call first")

    # then
    assert (request.kind, request.tier, request.team_id) == ("memory", "team", crew.sales.pk)
    assert request.requested_by_agent == crew.agent
    assert request.memory.status == Status.PROPOSED
    assert request.status == "pending" and request.decision == ""


def test_an_auto_approved_write_opens_no_request(crew):
    # when: personal tier, confident: the default policy approves it
    result = memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content="I book best on Tuesdays",
        type="learning",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    )

    # then
    assert result.outcome == "created"
    assert not ReviewRequest.objects.exists()


def test_a_contradiction_opens_a_high_priority_conflict_request(crew):
    # when
    request = propose_conflict(crew)

    # then
    assert request.kind == "conflict"
    assert request.priority == 2
    assert request.conflict is not None
    assert request.conflict.existing.status == Status.APPROVED


# --- decisions ---------------------------------------------------------------------------------


def test_approve_lets_the_memory_in_and_records_who_and_why(crew):
    # given
    request = propose(crew, "Trade-show leads reply best to a call within a day")
    mark = last_event_id()

    # when
    services.review_approve(actor=crew.user("reviewer"), request=request, reason="matches data")

    # then
    request = fresh(request)
    assert request.memory.status == Status.APPROVED
    assert (request.status, request.decision) == ("decided", "approved")
    assert request.decided_by == crew.user("reviewer") and request.decided_at is not None
    assert request.reason == "matches data"
    assert actions_since(mark) == ["review.approve", "memory.approve"]


def test_reject_needs_a_reason_and_keeps_the_memory_out(crew):
    # given
    request = propose(crew, "Always discount 30 percent")
    before = state()

    # when / then: no reason, nothing happens
    with pytest.raises(ValidationFailed):
        services.review_reject(actor=crew.user("reviewer"), request=request, reason="  ")
    assert state() == before

    services.review_reject(actor=crew.user("reviewer"), request=request, reason="Against policy")
    request = fresh(request)
    assert request.memory.status == Status.REJECTED
    assert (request.decision, request.reason) == ("rejected", "Against policy")


def test_edit_and_approve_keeps_the_diff_and_the_pair_for_datasets(crew):
    # given
    request = propose(crew, "Call trade show leads within 48 hours")

    # when
    services.review_edit_approve(
        actor=crew.user("reviewer"),
        request=request,
        content="Call trade-show leads within 24 hours",
        reason="tighter",
    )

    # then
    request = fresh(request)
    assert request.decision == "edited"
    assert request.memory.status == Status.APPROVED
    assert request.memory.content == "Call trade-show leads within 24 hours"
    assert request.memory.version == 2
    pair = EditPair.objects.get(request=request)
    assert (pair.original, pair.edited) == (
        "Call trade show leads within 48 hours",
        "Call trade-show leads within 24 hours",
    )
    assert (pair.from_version, pair.to_version) == (1, 2)
    assert "-Call trade show leads within 48 hours" in pair.diff
    assert "+Call trade-show leads within 24 hours" in pair.diff
    assert pair.edited_by == crew.user("reviewer")


def test_an_agents_edit_of_an_approved_memory_is_queued_and_rejecting_it_restores_it(crew):
    # given: an approved team memory, then SDR Bot rewrites it (back to proposed)
    item = propose(crew, "Lead with the payback period").memory
    memory_approve(actor=SYSTEM, item=item)
    memory_update(
        actor=crew.agent, item=item, content="Lead with a discount", token_scopes=AGENT_SCOPES
    )
    request = ReviewRequest.objects.get(memory=item, status="pending")
    assert (request.kind, request.details["base_version"]) == ("edit", 1)

    # when
    services.review_reject(actor=crew.user("reviewer"), request=request, reason="Off-brand")

    # then: the approved text is back, as a new version, and still approved
    item.refresh_from_db()
    assert (item.status, item.content, item.version) == (
        "approved",
        "Lead with the payback period",
        3,
    )


def test_expire_takes_the_memory_out_now(crew):
    request = propose(crew, "Q3 promo code SPRING is valid")

    services.review_expire(actor=crew.user("reviewer"), request=request, reason="promo ended")

    request = fresh(request)
    assert (request.decision, request.memory.status) == ("expired", Status.EXPIRED)


def test_request_changes_leaves_it_proposed_and_the_agents_next_edit_reopens_it(crew):
    # given
    request = propose(crew, "Mention our ISO certificate")
    services.review_request_changes(
        actor=crew.user("reviewer"), request=request, reason="Which ISO standard?"
    )
    request = fresh(request)
    assert (request.decision, request.memory.status) == ("changes_requested", Status.PROPOSED)

    # when
    memory_update(
        actor=crew.agent,
        item=request.memory,
        content="Mention our ISO 9001 certificate",
        token_scopes=AGENT_SCOPES,
    )

    # then
    reopened = ReviewRequest.objects.get(memory=request.memory, status="pending")
    assert reopened.kind == "edit" and reopened.details["base_status"] == "proposed"


def test_merge_settles_a_conflict_with_one_text_citing_both(crew):
    # given
    request = propose_conflict(crew)
    existing = request.conflict.existing

    # when
    services.review_merge(
        actor=crew.user("reviewer"),
        request=request,
        content="Northwind wants a pilot (14 days, 30 if legal is involved) before signing",
    )

    # then
    request = fresh(request)
    existing.refresh_from_db()
    assert request.decision == "merged"
    assert request.memory.status == Status.APPROVED
    assert existing.status == Status.SUPERSEDED
    assert list(request.memory.parents.values_list("pk", flat=True)) == [existing.pk]
    assert EditPair.objects.filter(request=request).count() == 1
    assert request.conflict.status == "resolved"


def test_merge_is_only_for_conflicts(crew):
    request = propose(crew, "Some learning")
    before = state()
    with pytest.raises(ValidationFailed):
        services.review_merge(actor=crew.user("reviewer"), request=request, content="x")
    assert state() == before


# --- promotion ---------------------------------------------------------------------------------


def _approved_personal(crew: Any, content: str = "Northwind prefers Tuesday calls") -> MemoryItem:
    result = memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content=content,
        type="preference",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    )
    return result.item


def test_a_promotion_to_the_team_creates_a_team_memory_citing_the_original(crew):
    # given
    item = _approved_personal(crew)
    request = services.review_promotion_request(
        actor=crew.user("editor"), item=item, tier="team", reason="everyone should know"
    )
    assert (request.kind, request.team_id, request.tier) == ("promotion", crew.sales.pk, "team")

    # when: a reviewer of Sales decides it
    services.review_approve(actor=crew.user("sales_reviewer"), request=request)

    # then
    item.refresh_from_db()
    promoted = MemoryItem.objects.get(parents=item)
    assert (promoted.tier, promoted.team, promoted.status) == ("team", crew.sales, "approved")
    assert promoted.content == item.content
    assert item.status == Status.SUPERSEDED
    assert fresh(request).decision == "promoted"


def test_promotion_needs_the_reviewer_role_where_it_lands(crew):
    # given: personal -> workspace is for the workspace's reviewers
    item = _approved_personal(crew)
    request = services.review_promotion_request(
        actor=crew.user("editor"), item=item, tier="workspace"
    )
    before = state()

    # when / then
    for who in ("sales_reviewer", "mkt_reviewer", "team_admin", "editor"):
        with pytest.raises(Forbidden):
            services.review_approve(actor=crew.user(who), request=request)
        assert state() == before
    services.review_approve(actor=crew.user("reviewer"), request=request)
    assert MemoryItem.objects.get(parents=item).tier == "workspace"


def test_review_promote_approves_and_lifts_in_one_decision(crew):
    request = propose(crew, "Logistics buyers want references", tier="personal")

    services.review_promote(actor=crew.user("reviewer"), request=request, tier="team")

    request = fresh(request)
    assert request.decision == "promoted"
    assert request.memory.status == Status.SUPERSEDED
    assert MemoryItem.objects.get(parents=request.memory).tier == "team"


@pytest.mark.parametrize(
    ("tier", "error"),
    [("personal", ValidationFailed), ("galaxy", ValidationFailed), (3, ValidationFailed)],
)
def test_promotion_to_a_tier_that_is_not_higher_is_refused(crew, tier, error):
    item = _approved_personal(crew)
    before = state()
    with pytest.raises(error):
        services.review_promotion_request(actor=crew.user("editor"), item=item, tier=tier)
    assert state() == before


def test_a_second_promotion_request_while_one_waits_is_a_conflict(crew):
    item = _approved_personal(crew)
    services.review_promotion_request(actor=crew.user("editor"), item=item, tier="team")
    before = state()
    with pytest.raises(Conflict):
        services.review_promotion_request(actor=crew.user("editor"), item=item, tier="team")
    assert state() == before


def test_a_proposed_memory_cannot_be_put_up_for_promotion(crew):
    request = propose(crew, "Unsure personal thing", tier="personal")
    before = state()
    with pytest.raises(Conflict):
        services.review_promotion_request(
            actor=crew.user("editor"), item=request.memory, tier="team"
        )
    assert state() == before


@pytest.mark.parametrize(
    ("who", "scopes", "allowed"),
    [
        ("director", ["director"], True),
        ("director", [], False),  # no director scope
        ("mkt_director", ["director"], False),  # another team's director
        ("self", AGENT_SCOPES, False),  # the agent itself, no director scope
    ],
)
def test_a_director_agent_requests_promotions_for_its_own_teams_agents(crew, who, scopes, allowed):
    from tests.workspaces.factories import AgentFactory

    team = crew.sales if who == "director" else crew.marketing
    actor = crew.agent if who == "self" else AgentFactory(workspace=crew.workspace, team=team)
    item = _approved_personal(crew)
    before = state()

    def call() -> Any:
        return services.review_promotion_request(
            actor=actor, item=item, tier="team", token_scopes=scopes
        )

    if allowed:
        assert call().requested_by_agent == actor
    else:
        with pytest.raises(Forbidden):
            call()
        assert state() == before


# --- four eyes ---------------------------------------------------------------------------------


def test_four_eyes_who_edited_a_workspace_proposal_may_not_approve_it(crew):
    # given: a workspace-tier proposal the reviewer corrects
    request = propose(crew, "Our fiscal year ends in June", tier="workspace")
    services.review_edit(actor=crew.user("reviewer"), request=request, content="FY ends 30 June")
    before = state()

    # when / then
    with pytest.raises(Forbidden, match="Four-eyes"):
        services.review_approve(actor=crew.user("reviewer"), request=request)
    assert state() == before
    services.review_approve(actor=crew.user("reviewer2"), request=request)
    assert fresh(request).memory.status == Status.APPROVED


def test_four_eyes_refuses_edit_and_approve_on_the_workspace_tier_and_writes_nothing(crew):
    request = propose(crew, "Our fiscal year ends in June", tier="workspace")
    before = state()
    with pytest.raises(Forbidden):
        services.review_edit_approve(
            actor=crew.user("reviewer"), request=request, content="FY ends 30 June"
        )
    assert state() == before


def test_four_eyes_who_requested_a_promotion_may_not_approve_it(crew):
    item = _approved_personal(crew)
    request = services.review_promotion_request(
        actor=crew.user("admin"), item=item, tier="workspace"
    )
    before = state()
    with pytest.raises(Forbidden):
        services.review_approve(actor=crew.user("admin"), request=request)
    assert state() == before
    services.review_approve(actor=crew.user("reviewer"), request=request)


def test_four_eyes_does_not_bind_the_team_tier_by_default_and_can_be_switched(crew):
    request = propose(crew, "Sales says ask for budget early")
    services.review_edit_approve(
        actor=crew.user("reviewer"), request=request, content="Ask for budget early"
    )
    assert fresh(request).decision == "edited"

    services.review_settings_update(
        actor=crew.user("owner"), workspace=crew.workspace, four_eyes_tiers=[]
    )
    request = propose(crew, "Company-wide: fiscal year ends in June", tier="workspace")
    services.review_edit_approve(
        actor=crew.user("reviewer"), request=request, content="FY ends 30 June"
    )
    assert fresh(request).decision == "edited"


def test_a_person_editing_a_waiting_item_in_the_memory_admin_counts_as_its_editor(crew):
    request = propose(crew, "Workspace: lead with ROI", tier="workspace")
    memory_update(actor=crew.user("admin"), item=request.memory, content="Lead with ROI, always")
    with pytest.raises(Forbidden):
        services.review_approve(actor=crew.user("admin"), request=request)


# --- who may decide ----------------------------------------------------------------------------

DECISIONS = {
    "approve": lambda actor, r: services.review_approve(actor=actor, request=r),
    "reject": lambda actor, r: services.review_reject(actor=actor, request=r, reason="no"),
    "expire": lambda actor, r: services.review_expire(actor=actor, request=r),
    "request_changes": lambda actor, r: services.review_request_changes(
        actor=actor, request=r, reason="why?"
    ),
    "edit": lambda actor, r: services.review_edit(actor=actor, request=r, content="edited text"),
    "edit_approve": lambda actor, r: services.review_edit_approve(
        actor=actor, request=r, content="edited"
    ),
    "promote": lambda actor, r: services.review_promote(actor=actor, request=r, tier="workspace"),
}
# a Sales team proposal (promote: a Sales agent's personal one, to the workspace tier)
MAY_DECIDE = {"owner", "admin", "reviewer", "team_admin", "operator", "sales_reviewer"}
MAY_PROMOTE_TO_WORKSPACE = {"owner", "admin", "reviewer", "operator"}
EVERYONE = [
    "owner",
    "admin",
    "reviewer",
    "editor",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "outsider",
    "nobody",
    "operator",
    "sales_reviewer",
    "mkt_reviewer",
    "agent",
    "other_agent",
]


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("who", EVERYONE)
def test_permission_matrix_for_every_decision(crew, decision, who):
    # given
    tier = "personal" if decision == "promote" else "team"
    request = propose(crew, "Prospects in logistics ask for a reference", tier=tier)
    actor = {"agent": crew.agent, "other_agent": crew.other_agent}.get(who) or crew.user(who)
    allowed = MAY_PROMOTE_TO_WORKSPACE if decision == "promote" else MAY_DECIDE
    before = state()

    # when / then
    if who in allowed:
        DECISIONS[decision](actor, request)
        assert state() != before
    else:
        with pytest.raises(Forbidden):
            DECISIONS[decision](actor, request)
        assert state() == before


# --- races and stale decisions -----------------------------------------------------------------


def test_a_request_already_decided_says_who_decided_and_changes_nothing(crew):
    request = propose(crew, "Something to decide")
    services.review_approve(actor=crew.user("reviewer"), request=request)
    before = state()

    with pytest.raises(Conflict, match=r"already decided .*by reviewer"):
        services.review_reject(actor=crew.user("admin"), request=request, reason="late")
    assert state() == before


def test_deciding_the_memory_elsewhere_closes_its_request(crew):
    request = propose(crew, "Decided in the memory admin")

    memory_approve(actor=crew.user("admin"), item=request.memory, reason="from the list")

    request = fresh(request)
    assert (request.status, request.decision, request.decided_by) == (
        "decided",
        "approved",
        crew.user("admin"),
    )


def test_forgetting_the_memory_withdraws_its_request(crew):
    request = propose(crew, "Will be forgotten")
    memory_forget(actor=crew.user("admin"), item=request.memory, reason="dup")
    assert fresh(request).decision == "withdrawn"


def test_unknown_request_id_is_not_found(crew):
    from apps.core.exceptions import NotFound

    with pytest.raises(NotFound):
        services.review_approve(actor=crew.user("reviewer"), request=987654)


@pytest.mark.parametrize("content", ["", "   ", None, 42, "x" * 5000])
def test_bad_edit_content_is_refused_and_nothing_changes(crew, content):
    request = propose(crew, "Edit me")
    before = state()
    with pytest.raises(ValidationFailed):
        services.review_edit_approve(actor=crew.user("reviewer"), request=request, content=content)
    assert state() == before
    assert MemoryVersion.objects.filter(item=request.memory).count() == 1


@pytest.mark.parametrize("reason", [None, 7, "x" * 2001])
def test_bad_reasons_are_refused(crew, reason):
    request = propose(crew, "Reject me")
    before = state()
    with pytest.raises(ValidationFailed):
        services.review_reject(actor=crew.user("reviewer"), request=request, reason=reason)
    assert state() == before


def test_reasons_are_stored_masked(crew):
    request = propose(crew, "Reject me")
    services.review_reject(
        actor=crew.user("reviewer"), request=request, reason="ask jane.doe@example.com first"
    )
    assert "jane.doe@example.com" not in fresh(request).reason


def test_assign_only_to_someone_who_may_decide(crew):
    request = propose(crew, "Assign me")
    services.review_assign(
        actor=crew.user("reviewer"), request=request, assignee=crew.user("sales_reviewer")
    )
    assert fresh(request).assignee == crew.user("sales_reviewer")
    before = state()
    with pytest.raises(ValidationFailed):
        services.review_assign(
            actor=crew.user("reviewer"), request=request, assignee=crew.user("mkt_reviewer")
        )
    assert state() == before


@pytest.mark.parametrize(
    "kwargs",
    [{"sla_hours": 0}, {"sla_hours": "12"}, {"sla_hours": True}, {"four_eyes_tiers": ["moon"]}],
)
def test_bad_settings_are_refused(crew, kwargs):
    before = state()
    with pytest.raises(ValidationFailed):
        services.review_settings_update(
            actor=crew.user("owner"), workspace=crew.workspace, **kwargs
        )
    assert state() == before


def test_only_managers_change_review_settings(crew):
    with pytest.raises(Forbidden):
        services.review_settings_update(
            actor=crew.user("reviewer"), workspace=crew.workspace, sla_hours=4
        )
