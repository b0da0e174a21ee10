"""Every rule type finds its violation (with the offending span where there is one) and passes
clean text; bad rule definitions are refused when saved."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ValidationFailed
from apps.policies.rules import Draft, evaluate, rules_checked

CLEAN = "Hello from Acme GmbH. Unsubscribe: https://acme.test/unsubscribe"


def rules(**given):
    return rules_checked(given)


@pytest.mark.parametrize(
    ("rule", "value", "draft", "span_text"),
    [
        (
            "forbidden_terms",
            ["guaranteed"],
            Draft("Results GUARANTEED today", "email"),
            "GUARANTEED",
        ),
        ("forbidden_patterns", [r"\b\d+% off\b"], Draft("Now 50% off all plans", "ads"), "50% off"),
        ("required_phrases", {"email": ["Acme GmbH"]}, Draft("Hi there", "email"), None),
        ("required_phrases", {"*": ["Terms apply"]}, Draft("Hi there", "sms"), None),
        ("max_discount_percent", 20, Draft("Deal", "ads", discount_percent=25), None),
        ("allowed_regions", ["EU"], Draft("Hi", "email", region="US"), None),
        ("allowed_languages", ["de"], Draft("Hi", "email", language="en"), None),
        ("max_length", {"sms": 10}, Draft("This is far too long", "sms"), "r too long"),
        ("require_unsubscribe_link", True, Draft("Hi, buy now", "email"), None),
    ],
)
def test_each_rule_type_finds_its_violation(rule, value, draft, span_text):
    found = evaluate(rules(**{rule: value}), draft)

    assert [f.rule for f in found] == [rule]
    if span_text is not None:
        start, end = found[0].span
        assert draft.text[start:end] == span_text


@pytest.mark.parametrize(
    ("rule", "value", "draft"),
    [
        ("forbidden_terms", ["guaranteed"], Draft("Results are likely, not guaranteedly", "email")),
        ("forbidden_patterns", [r"\b\d+% off\b"], Draft("Plans from 20 EUR", "ads")),
        ("required_phrases", {"email": ["Acme GmbH"]}, Draft(CLEAN, "email")),
        ("required_phrases", {"email": ["Acme GmbH"]}, Draft("Hi", "sms")),
        ("max_discount_percent", 20, Draft("Deal", "ads", discount_percent=20)),
        ("allowed_regions", ["EU"], Draft("Hi", "email", region="eu")),
        ("allowed_languages", ["de"], Draft("Hallo", "email", language="DE")),
        ("max_length", {"sms": 10}, Draft("Short", "sms")),
        ("max_length", {"sms": 10}, Draft("Long text on email is fine", "email")),
        ("require_unsubscribe_link", True, Draft(CLEAN, "email")),
        ("require_unsubscribe_link", True, Draft("Hi {{ unsubscribe_url }} unsubscribe", "email")),
        ("require_unsubscribe_link", True, Draft("No link needed on sms", "sms")),
    ],
)
def test_clean_text_passes_each_rule(rule, value, draft):
    assert evaluate(rules(**{rule: value}), draft) == []


def test_every_violation_is_reported_not_only_the_first():
    checked = rules(forbidden_terms=["free", "guaranteed"], max_length={"email": 20})

    found = evaluate(checked, Draft("Free and guaranteed, free again", "email"))

    assert sorted(f.rule for f in found) == ["forbidden_terms"] * 3 + ["max_length"]


@pytest.mark.parametrize(
    "bad",
    [
        {"forbidden_patterns": ["[unclosed"]},
        {"forbidden_patterns": ["(.*)*x"]},
        {"forbidden_patterns": ["x" * 400]},
        {"forbidden_terms": "guaranteed"},
        {"forbidden_terms": [""]},
        {"required_phrases": {"fax": ["x"]}},
        {"required_phrases": ["x"]},
        {"max_length": {"email": 0}},
        {"max_length": {"telegram": 10}},
        {"max_discount_percent": 120},
        {"max_discount_percent": True},
        {"require_unsubscribe_link": "yes"},
        {"allowed_regions": [1]},
        {"no_such_rule": 1},
        [],
    ],
)
def test_bad_rule_definitions_are_refused(bad):
    with pytest.raises(ValidationFailed):
        rules_checked(bad)
