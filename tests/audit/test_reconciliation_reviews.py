"""Completeness for the review queue: every decision service, the admin's bulk decisions and
decision page, the intake that memory services drive (proposals, conflicts, edits) and the
queue's own settings leave no changed row without an audit event naming it or its subject."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.memories import services as memories
from apps.memories.models import ConflictStatus, MemoryConflict, MemoryItem, Status
from apps.reviews import services
from apps.reviews.models import ReviewRequest
from tests.audit.reconciling import reconcile
from tests.conftest import SYSTEM
from tests.reviews.conftest import AGENT_SCOPES, propose, propose_conflict
from tests.workspaces.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

REQUEST = "reviews.reviewrequest"
MEMORY = "memories.memoryitem"
VERSION = "memories.memoryversion"
PAIR = "reviews.editpair"
CONFLICT = "memories.memoryconflict"
PARENTS = "memories.memoryitem_parents"


@pytest.fixture
def crew(cast: Any) -> Any:
    """The shared cast plus a Sales reviewer and a second workspace reviewer (as in
    tests/reviews/conftest.py)."""
    cast.users["sales_reviewer"] = UserFactory(username="sales_reviewer", is_staff=True)
    MembershipFactory(
        user=cast.users["sales_reviewer"],
        workspace=cast.workspace,
        team=cast.sales,
        role="reviewer",
    )
    cast.users["reviewer2"] = UserFactory(username="reviewer2", is_staff=True)
    MembershipFactory(user=cast.users["reviewer2"], workspace=cast.workspace, role="reviewer")
    return cast


def decided(request: ReviewRequest) -> str:
    return ReviewRequest.objects.get(pk=request.pk).decision


def test_a_proposal_opens_its_request_under_the_memory_write_event(crew):
    result = reconcile(lambda: propose(crew, "Logistics buyers ask for references first"))

    assert result.missing == []
    assert (result.count(REQUEST), result.count(MEMORY)) == (1, 1)


def test_a_conflict_opens_under_the_write_of_its_newcomer(crew):
    old = "Enterprise prospects in Germany expect a 14 day free pilot before they sign."
    policy = memories.write_policy_for(crew.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    memories.memory_approve(actor=SYSTEM, item=propose(crew, old).memory)

    result = reconcile(lambda: propose(crew, old.replace("14", "30")))

    assert result.missing == []
    assert (result.count(CONFLICT), result.count(REQUEST)) == (1, 1)


@pytest.mark.parametrize("decision", ["approve", "reject", "expire"])
def test_resolving_a_conflict_through_the_memory_services_is_audited(crew, decision):
    request = propose_conflict(crew)
    item = request.memory
    service = {
        "approve": memories.memory_approve,
        "reject": memories.memory_reject,
        "expire": memories.memory_expire,
    }[decision]

    result = reconcile(lambda: service(actor=crew.user("reviewer"), item=item, reason="settled"))

    assert result.missing == []
    assert MemoryConflict.objects.get(pk=request.conflict_id).status == ConflictStatus.RESOLVED
    assert (result.count(CONFLICT), result.count(REQUEST)) == (1, 1)
    assert result.count(MEMORY) == (2 if decision == "approve" else 1)  # + the superseded one


def test_approve_is_audited(crew):
    request = propose(crew, "Call trade show leads within 48 hours")

    result = reconcile(
        lambda: services.review_approve(actor=crew.user("reviewer"), request=request)
    )

    assert result.missing == []
    assert decided(request) == "approved" and result.count(MEMORY) == 1


def test_approving_a_conflict_supersedes_the_old_memory_on_record(crew):
    request = propose_conflict(crew)

    result = reconcile(
        lambda: services.review_approve(actor=crew.user("reviewer"), request=request)
    )

    assert result.missing == []
    assert MemoryItem.objects.get(pk=request.conflict.existing_id).status == Status.SUPERSEDED
    assert (result.count(MEMORY), result.count(CONFLICT), result.count(REQUEST)) == (2, 1, 1)


def test_edit_and_edit_approve_are_audited(crew):
    first = propose(crew, "Send the price list after the first call")
    second = propose(crew, "Offer a pilot to every logistics prospect")

    def mutate() -> None:
        services.review_edit(
            actor=crew.user("reviewer"), request=first, content="Send prices after call one"
        )
        services.review_edit_approve(
            actor=crew.user("reviewer"), request=second, content="Offer logistics a pilot"
        )

    result = reconcile(mutate)

    assert result.missing == []
    assert (decided(first), decided(second)) == ("", "edited")
    assert (result.count(PAIR), result.count(VERSION), result.count(REQUEST)) == (2, 2, 2)


def test_reject_is_audited_and_so_is_the_restore_of_an_agents_rejected_edit(crew):
    proposal = propose(crew, "Quote list prices only")
    item = propose(crew, "Lead with the payback period").memory
    memories.memory_approve(actor=SYSTEM, item=item)
    memories.memory_update(
        actor=crew.agent, item=item, content="Lead with a discount", token_scopes=AGENT_SCOPES
    )
    edit = ReviewRequest.objects.get(memory=item, status="pending")

    def mutate() -> None:
        services.review_reject(actor=crew.user("reviewer"), request=proposal, reason="No")
        services.review_reject(actor=crew.user("reviewer"), request=edit, reason="Off-brand")

    result = reconcile(mutate)

    assert result.missing == []
    item.refresh_from_db()
    assert (item.status, item.content) == (Status.APPROVED, "Lead with the payback period")
    assert (result.count(REQUEST), result.count(MEMORY), result.count(VERSION)) == (2, 2, 1)


def test_expire_and_request_changes_are_audited(crew):
    expiring = propose(crew, "Promo code SPRING is valid")
    sent_back = propose(crew, "Mention our ISO certificate")

    def mutate() -> None:
        services.review_expire(actor=crew.user("reviewer"), request=expiring, reason="ended")
        services.review_request_changes(
            actor=crew.user("reviewer"), request=sent_back, reason="Which ISO standard?"
        )

    result = reconcile(mutate)

    assert result.missing == []
    assert (decided(expiring), decided(sent_back)) == ("expired", "changes_requested")
    assert (result.count(REQUEST), result.count(MEMORY)) == (2, 1)


def test_promote_and_a_promotion_request_are_audited(crew):
    proposal = propose(crew, "Logistics buyers want references", tier="personal")
    approved = memories.memory_write(
        actor=crew.agent,
        workspace=crew.workspace,
        content="Northwind prefers Tuesday calls",
        type="preference",
        agent=crew.agent,
        confidence=0.95,
        token_scopes=AGENT_SCOPES,
    ).item

    def mutate() -> None:
        services.review_promote(actor=crew.user("reviewer"), request=proposal, tier="team")
        asked = services.review_promotion_request(
            actor=crew.user("editor"), item=approved, tier="team", reason="all of Sales"
        )
        services.review_approve(actor=crew.user("sales_reviewer"), request=asked)

    result = reconcile(mutate)

    assert result.missing == []
    assert decided(proposal) == "promoted"
    assert MemoryItem.objects.filter(parents__in=[proposal.memory_id, approved.pk]).count() == 2
    assert (result.count(MEMORY), result.count(PARENTS), result.count(REQUEST)) == (4, 2, 2)


def test_merge_is_audited(crew):
    request = propose_conflict(crew)

    result = reconcile(
        lambda: services.review_merge(
            actor=crew.user("reviewer"),
            request=request,
            content="A pilot before signing: 14 days, 30 if legal is involved",
        )
    )

    assert result.missing == []
    assert decided(request) == "merged"
    assert (result.count(PARENTS), result.count(PAIR), result.count(CONFLICT)) == (1, 1, 1)
    assert result.count(MEMORY) == 2  # the newcomer approved, the old one superseded


def test_assign_and_settings_are_audited(crew):
    request = propose(crew, "Follow up within two days")

    def mutate() -> None:
        services.review_assign(
            actor=crew.user("reviewer"), request=request, assignee=crew.user("reviewer2")
        )
        services.review_settings_update(
            actor=crew.user("owner"), workspace=crew.workspace, sla_hours=12
        )

    result = reconcile(mutate)

    assert result.missing == []
    assert (result.count(REQUEST), result.count("reviews.reviewsettings")) == (1, 1)


def test_deciding_or_forgetting_the_memory_elsewhere_closes_its_request_on_record(crew):
    approved_elsewhere = propose(crew, "Demo the dashboard first")
    forgotten = propose(crew, "Ask for the budget owner")

    def mutate() -> None:
        memories.memory_approve(actor=crew.user("reviewer"), item=approved_elsewhere.memory)
        memories.memory_forget(actor=crew.user("owner"), item=forgotten.memory, reason="wrong")

    result = reconcile(mutate)

    assert result.missing == []
    assert (decided(approved_elsewhere), decided(forgotten)) == ("approved", "withdrawn")
    assert result.count(REQUEST) == 2


@pytest.mark.parametrize(
    ("action", "reason", "decision"),
    [
        ("approve_selected", "", "approved"),
        ("reject_selected", "Not our pitch", "rejected"),
        ("expire_selected", "", "expired"),
    ],
)
def test_the_admins_bulk_decisions_are_audited(crew, client, action, reason, decision):
    waiting = [propose(crew, f"Bulk note {n} on objections in retail") for n in range(3)]
    client.force_login(crew.user("reviewer"))
    url = reverse("admin:reviews_reviewrequest_changelist")
    selected = [r.pk for r in waiting]

    def mutate() -> None:
        page = client.post(url, {"action": action, "_selected_action": selected})
        assert page.status_code == 200  # the confirmation page; nothing decided yet
        done = client.post(
            url,
            {"action": action, "_selected_action": selected, "confirm": "yes", "reason": reason},
        )
        assert done.status_code == 302

    result = reconcile(mutate)

    assert result.missing == []
    assert [decided(r) for r in waiting] == [decision] * 3
    assert (result.count(REQUEST), result.count(MEMORY)) == (3, 3)


def test_the_admins_decision_page_is_audited(crew, client):
    request = propose(crew, "Mention the SOC 2 report early")
    client.force_login(crew.user("reviewer"))
    url = reverse("admin:reviews_reviewrequest_change", args=[request.pk])

    def mutate() -> Any:
        response = client.post(url, {"decision": "edit_approve", "content": "Mention SOC 2 early"})
        assert response.status_code == 302

    result = reconcile(mutate)

    assert result.missing == []
    assert decided(request) == "edited"
    assert (result.count(REQUEST), result.count(PAIR), result.count(VERSION)) == (1, 1, 1)
