"""The contradiction rule (apps/memories/contradiction/): a conflict needs the same subject and
a contradicting claim; numbers inside names and identifiers are not claims (issue 15, item 6)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.memories import services
from apps.memories.contradiction import (
    CONFLICT,
    DISTINCT,
    DUPLICATE,
    MONTH_NAMES,
    WEEKDAY_NAMES,
    contradiction_reason,
    judge,
    read,
)
from apps.memories.models import MemoryConflict, MemoryItem, Tier
from tests.memories.helpers import actor_for, scopes_for

# --- the failure modes named in issue 15 -----------------------------------------------------

DISTINCT_FACTS = [
    pytest.param(
        "Video messages to insurance carriers got a 14.6% reply rate.",
        "Video messages to enterprise healthcare got a 1.8% reply rate.",
        id="different-segment",
    ),
    pytest.param(
        "Sarah Chen at Northwind Traders closed a $40k deal after two demos.",
        "Mark Diaz at Contoso closed an $85k deal after two demos.",
        id="different-people-companies-deal-sizes",
    ),
    pytest.param(
        "3PL warehouses reply best to cold emails sent on Tuesday.",
        "Freight brokers reply best to cold emails sent on Tuesday.",
        id="3-of-3PL-is-no-number",
    ),
    pytest.param(
        "Tier 1 accounts get a QBR every 90 days.",
        "Tier 2 accounts get a QBR every 180 days.",
        id="label-number",
    ),
    pytest.param(
        "Studio 54 Events books 40 seats for the summer conference.",
        "Area 51 Labs books 12 seats for the summer conference.",
        id="numbers-in-company-names",
    ),
    pytest.param(
        "Customers on the v2 API see 3 timeouts a week.",
        "Customers on the v3 API see 1 timeout a week.",
        id="version-identifier",
    ),
    pytest.param(
        "Ticket TKT-4521 was escalated to engineering after 3 days.",
        "Ticket TKT-4890 was escalated to engineering after 5 days.",
        id="ticket-identifier",
    ),
    pytest.param(
        "In Q3 we won 31% of deals against Gong.",
        "In Q4 we won 24% of deals against Gong.",
        id="another-quarter",
    ),
    pytest.param(
        "In 2024 Acme Robotics had 40 seats.",
        "In 2025 Acme Robotics had 65 seats.",
        id="another-year",
    ),
    pytest.param(
        "Tickets answered within 2 hours get a 95% CSAT.",
        "Tickets answered within 24 hours get an 81% CSAT.",
        id="another-condition",
    ),
    pytest.param(
        "<PERSON_1> at Globex booked 8 meetings last week.",
        "<PERSON_2> at Globex booked 3 meetings last week.",
        id="masked-people",
    ),
    pytest.param(
        "Video messages got a 3% reply rate.",
        "Video messages to insurance carriers got a 14.6% reply rate.",
        id="narrower-segment",
    ),
]


@pytest.mark.parametrize(("existing", "new"), DISTINCT_FACTS)
def test_distinct_facts_are_not_conflicts(existing, new):
    assert judge(existing, new).kind == DISTINCT
    assert contradiction_reason(existing, new) is None


# --- true conflicts are still caught ---------------------------------------------------------

CONFLICTS = [
    pytest.param(
        "Acme Robotics has 40 paid seats.",
        "Acme Robotics now has 55 seats.",
        "40 vs 55",
        id="seats",
    ),
    pytest.param(
        "Video messages to insurance carriers got a 14.6% reply rate.",
        "Insurance carriers replied to 9% of our video messages.",
        "14.6% vs 9%",
        id="same-segment-reworded",
    ),
    pytest.param(
        "Northwind Traders wants a 14-day pilot before signing the contract.",
        "Northwind Traders wants a 30-day pilot before signing the contract.",
        "14 days vs 30 days",
        id="duration",
    ),
    pytest.param(
        "Globex's budget for the rollout is $1.2M.",
        "Globex's budget for the rollout is $800k.",
        "1,200,000 USD vs 800,000 USD",
        id="amount",
    ),
    pytest.param(
        "Acme Robotics renews on March 3.",
        "Acme Robotics renews on April 10.",
        "March 3 vs April 10",
        id="date",
    ),
    pytest.param(
        "3PL warehouses reply to 11% of cold emails.",
        "3PL warehouses reply to 4% of cold emails.",
        "11% vs 4%",
        id="same-3PL-segment",
    ),
    pytest.param(
        "Route 66 Freight has 12 open support tickets.",
        "Route 66 Freight has 3 open support tickets.",
        "12 vs 3",
        id="name-with-digits-kept-out",
    ),
    pytest.param(
        "Tickets answered within 2 hours get a 95% CSAT.",
        "Tickets answered within 2 hours get an 81% CSAT.",
        "95% vs 81%",
        id="same-condition",
    ),
    pytest.param(
        "Leads scored above 80 book a demo 3x as often.",
        "Leads scored above 80 book a demo 5x as often.",
        "3x vs 5x",
        id="multiple",
    ),
    pytest.param(
        "Acme Robotics has 40 seats and 3 admins.",
        "Acme Robotics has 3 seats and 40 admins.",
        "40 vs 3",
        id="counts-bound-to-what-they-count",
    ),
]


@pytest.mark.parametrize(("existing", "new", "shown"), CONFLICTS)
def test_the_same_subject_with_another_number_is_a_conflict(existing, new, shown):
    reason = contradiction_reason(existing, new)

    assert reason == f"The numbers differ ({shown}) for the same subject."


NEGATIONS = [
    pytest.param(
        "Enterprise prospects in Germany accept a free pilot before they sign the contract.",
        "Enterprise prospects in Germany do not accept a free pilot before they sign the contract.",
        id="not",
    ),
    pytest.param(
        "Initech's legal team reviews every MSA redline.",
        "Initech's legal team doesn't review every MSA redline.",
        id="n't",
    ),
    pytest.param(
        "Contoso uses Salesforce as their CRM.",
        "Contoso no longer uses Salesforce as its CRM.",
        id="no-longer",
    ),
    pytest.param(
        "Buyers at credit unions need a security review before signing.",
        "Before signing, buyers at credit unions never need a security review.",
        id="never-reordered",
    ),
]


@pytest.mark.parametrize(("existing", "new"), NEGATIONS)
def test_the_same_subject_negated_is_a_conflict(existing, new):
    assert contradiction_reason(existing, new) == (
        "One says the opposite of the other (negation differs)."
    )
    assert contradiction_reason(new, existing) is not None


def test_a_negation_about_another_subject_is_not_a_conflict():
    assert (
        judge("Contoso uses Salesforce as their CRM.", "Globex does not use Salesforce.").kind
        == DISTINCT
    )


# --- duplicates: the same claim written differently -------------------------------------------

DUPLICATES = [
    pytest.param("We offer a 14-day free trial.", "We offer a two-week free trial.", id="weeks"),
    pytest.param(
        "Globex's budget for the rollout is $1.2M.",
        "Globex's budget for the rollout is $1,200,000.",
        id="millions",
    ),
    pytest.param("Acme Robotics pays $40k a year.", "Acme Robotics pays $40,000 a year.", id="k"),
    pytest.param(
        "3PL providers reply to 9% of cold emails.",
        "3PL providers reply to 9 percent of cold e-mails.",
        id="percent-spelled",
    ),
    pytest.param(
        "Acme Robotics' fiscal year ends on 30 June.",
        "Acme Robotics' fiscal year ends on June 30th.",
        id="date-order",
    ),
    pytest.param(
        "Trade-show leads reply best to a phone call within 24 hours.",
        "Trade-show leads reply best to a phone call within a day.",
        id="hours-as-a-day",
    ),
    pytest.param(
        "Video messages to insurance carriers got a 14.6% reply rate.",
        "Video messages sent to insurance carriers had a reply rate of 14.6%.",
        id="reworded",
    ),
    pytest.param("Hooli does not take cold calls.", "Hooli never takes cold calls.", id="neg"),
    pytest.param(
        "Stark Logistics has 12 open support tickets.",
        "Stark Logistics has 12 open tickets.",
        id="count-of-the-same-thing",
    ),
]


@pytest.mark.parametrize(("existing", "new"), DUPLICATES)
def test_the_same_claim_written_differently_is_a_duplicate(existing, new):
    assert judge(existing, new).kind == DUPLICATE
    assert contradiction_reason(existing, new) is None


# --- reading: what is a claim and what is a name ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("3PL providers reply to 9% of cold emails.", ["percent"]),
        ("Route 66 Freight has 12 seats.", ["count"]),
        ("We are SOC 2 and ISO 27001 certified, with 4 auditors.", ["count"]),
        ("GPT-4 summaries cut review time by 35%.", ["percent"]),
        ("Ticket #4521 took 3 days.", ["duration"]),
        ("7-Eleven and 3M signed in Q3.", []),
        ("A 5-step sequence for 500-employee companies.", ["count", "count"]),
        ("$40k from <PERSON_1> on 2026-03-01 at 10am.", ["money:USD", "date", "time"]),
    ],
)
def test_numbers_inside_names_and_identifiers_are_not_claims(text, kinds):
    assert [q.kind for q in read(text).quantities] == kinds


def test_a_number_inside_an_entity_value_is_a_name():
    text = "Our deal with bigcorp 360 covers 300 seats."

    assert [q.value for q in read(text).quantities] == [360.0, 300.0]
    assert [q.value for q in read(text, {"account": "BigCorp 360"}).quantities] == [300.0]


def test_different_entity_values_are_distinct_subjects():
    verdict = judge(
        "The account has 40 seats.",
        "The account has 55 seats.",
        entities={"account": "globex"},
        existing_entities={"account": "acme"},
    )

    assert verdict.kind == DISTINCT
    assert (
        judge(
            "The account has 40 seats.",
            "The account has 55 seats.",
            entities={"account": "acme"},
        ).kind
        == CONFLICT
    )


def test_the_reason_holds_numbers_and_fixed_words_only():
    """The reason is stored unmasked (apps/memories/apps.py registers it exempt)."""
    reason = contradiction_reason(
        "Sarah Chen at Northwind Traders pays $40k a year for 12 seats.",
        "Sarah Chen at Northwind Traders pays $48k a year for 12 seats.",
    )

    assert reason == "The numbers differ (40,000 USD vs 48,000 USD) for the same subject."


# --- through the write path ---------------------------------------------------------------


def _write(cast: Any, content: str) -> services.MemoryWriteResult:
    return services.memory_write(
        actor=actor_for(cast, "agent"),
        workspace=cast.workspace,
        token_scopes=scopes_for("agent"),
        content=content,
        type="learning",
        tier=Tier.PERSONAL,
        agent=cast.agent,
        confidence=0.9,
    )


@pytest.mark.django_db
def test_the_write_path_reinforces_a_restatement_with_a_name_holding_digits(cast):
    """Before: {3, 11%} vs {3, 11} 'differed' and opened a conflict."""
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.8
    policy.save()
    first = _write(cast, "3PL warehouses reply to 11% of cold emails.").item

    again = _write(cast, "3PL warehouses reply to 11 percent of cold emails.")

    assert (again.outcome, again.item.pk) == ("reinforced", first.pk)
    assert not MemoryConflict.objects.exists()
    assert MemoryItem.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("existing", "new"),
    [
        pytest.param(
            "Tier 1 accounts get a QBR every 90 days.",
            "Tier 2 accounts get a QBR every 180 days.",
            id="another-tier",
        ),
        pytest.param(
            "Video messages to insurance carriers got a 14.6% reply rate.",
            "Video messages to enterprise healthcare got a 1.8% reply rate.",
            id="another-segment",
        ),
    ],
)
def test_the_write_path_stores_a_distinct_look_alike_as_its_own_item(cast, existing, new):
    """Neither merged into the other (reinforce) nor held back as a conflict."""
    policy = services.write_policy_for(cast.workspace)
    policy.dedup_threshold = 0.3  # the hashing test embedder: make sure the two are compared
    policy.save()
    first = _write(cast, existing).item

    second = _write(cast, new)

    assert second.outcome in {"created", "proposed"}
    assert second.item.pk != first.pk
    first.refresh_from_db()
    assert first.evidence_count == 1
    assert not MemoryConflict.objects.exists()
    assert MemoryItem.objects.count() == 2


# --- properties over odd mixtures of the tokens above -------------------------------------

TOKENS = [
    "Acme",
    "Robotics'",
    "3PL",
    "Q3",
    "H2",
    "$40k",
    "$1.2M",
    "€40k",
    "40,000 dollars",
    "14.6%",
    "9 percent",
    "two-week",
    "14-day",
    "24 hours",
    "a day",
    "not",
    "doesn't",
    "never",
    "without",
    "March 3",
    "3 March",
    "June",
    "Tuesday",
    "2024",
    "10am",
    "within",
    "over",
    "Route 66",
    "SOC 2",
    "Tier",
    "2",
    "#4521",
    "<PERSON_1>",
    "<EMAIL_2>",
    "5-step",
    "3M",
    "7-Eleven",
    "twice",
    "3x",
    "sixty",
    "seats",
    "reps",
    "reply",
    "rate",
    "got",
    "insurance",
    "carriers",
    "the",
    "at",
    "is",
    ".",
    ",",
    ";",
    "(",
    ")",
    "500+",
    "1st",
    "v2.1",
    "GPT-4",
    "May",
    "may",
    "e-mail",
    "K-12",
    "'s",
    "\u2019s",
    "-",
    "$",
    "%",
    "0.5",
    ".5",
]
FIXED_REASON_WORDS = {
    "The",
    "numbers",
    "differ",
    "vs",
    "for",
    "the",
    "same",
    "subject",
    "One",
    "says",
    "opposite",
    "of",
    "other",
    "negation",
    "differs",
    "days",
    "points",
    "USD",
    "EUR",
    "GBP",
    "x",
    "am",
    "pm",
    *MONTH_NAMES,
    *WEEKDAY_NAMES,
}
words_lists = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14)


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two unrelated texts, or one text and itself with one token swapped (same subject more
    often, so conflicts come up too)."""
    first = draw(words_lists)
    if draw(st.booleans()):
        return " ".join(first), " ".join(draw(words_lists))
    second = list(first)
    second[draw(st.integers(0, len(first) - 1))] = draw(st.sampled_from(TOKENS))
    return " ".join(first), " ".join(second)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(text_pairs())
def test_any_pair_gets_one_verdict_both_ways_and_a_reason_without_its_words(pair):
    first, second = pair
    forward, backward = judge(first, second), judge(second, first)

    assert forward.kind in {DUPLICATE, CONFLICT, DISTINCT}
    assert forward.kind == backward.kind
    assert judge(first, first).kind == DUPLICATE
    reason = contradiction_reason(first, second)
    assert (reason is None) == (forward.kind != CONFLICT)
    if reason is not None:
        words = set(re.findall(r"[A-Za-z]+", reason))
        assert words <= FIXED_REASON_WORDS, words - FIXED_REASON_WORDS
