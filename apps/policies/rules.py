"""Machine-checkable rules of a policy pack: validated when a version is saved, evaluated by
POST /api/v1/policies/check against a draft.

    {
      "forbidden_terms": ["guaranteed returns", ...],          whole words, any case
      "forbidden_patterns": ["\\b\\d{2}% off forever\\b", ...],  Python regex, any case
      "required_phrases": {"email": ["Acme GmbH, Berlin"], "*": [...]},  per channel, "*" all
      "max_discount_percent": 20,
      "allowed_regions": ["EU", "UK"],
      "allowed_languages": ["en", "de"],
      "max_length": {"sms": 160, "linkedin": 300},
      "require_unsubscribe_link": true                         email: a link and "unsubscribe"
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apps.core.exceptions import ValidationFailed

CHANNELS = ("email", "linkedin", "sms", "ads", "call_script")
RULE_TYPES = (
    "forbidden_terms",
    "forbidden_patterns",
    "required_phrases",
    "max_discount_percent",
    "allowed_regions",
    "allowed_languages",
    "max_length",
    "require_unsubscribe_link",
)
MAX_ITEMS = 200
MAX_PATTERN = 300
LINK = re.compile(r"https?://\S+|\{\{\s*unsubscribe_url\s*\}\}", re.IGNORECASE)
UNSUBSCRIBE = re.compile(r"unsubscribe|opt[ -]?out", re.IGNORECASE)
# Nested quantifiers ((a+)+, (a*)*, (.*)*) backtrack exponentially; refused when saved.
NESTED_QUANTIFIER = re.compile(r"\([^)]*[+*][^)]*\)[+*{]")


def _refuse(rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"content.rules.{rule}: {message}", fields={f"content.rules.{rule}": [message]}
    )


def _strings(rule: str, value: object, *, upper: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _refuse(rule, "must be a list of non-empty strings.")
    if len(value) > MAX_ITEMS:
        raise _refuse(rule, f"has at most {MAX_ITEMS} entries.")
    return [v.strip().upper() if upper else v.strip() for v in value]


def _channel(rule: str, channel: object, *, star: bool) -> str:
    if channel == "*" and star:
        return "*"
    if channel not in CHANNELS:
        raise _refuse(rule, f"unknown channel {channel!r}; use {', '.join(CHANNELS)}.")
    return str(channel)


def _patterns(value: object) -> list[str]:
    patterns = _strings("forbidden_patterns", value)
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN:
            raise _refuse("forbidden_patterns", f"a pattern has at most {MAX_PATTERN} characters.")
        if NESTED_QUANTIFIER.search(pattern):
            raise _refuse("forbidden_patterns", f"{pattern!r} nests quantifiers (slow); simplify.")
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise _refuse("forbidden_patterns", f"invalid regex {pattern!r}: {exc}.") from None
    return patterns


def _per_channel_phrases(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise _refuse("required_phrases", "must map a channel (or *) to a list of phrases.")
    return {
        _channel("required_phrases", channel, star=True): _strings("required_phrases", phrases)
        for channel, phrases in value.items()
    }


def _per_channel_lengths(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        raise _refuse("max_length", "must map a channel to a number of characters.")
    lengths = {}
    for channel, limit in value.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _refuse("max_length", f"{channel}: a positive whole number.")
        lengths[_channel("max_length", channel, star=False)] = limit
    return lengths


def _percent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise _refuse("max_discount_percent", "a number from 0 to 100.")
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _refuse("require_unsubscribe_link", "true or false.")
    return value


CHECKS: dict[str, Any] = {
    "forbidden_terms": lambda v: _strings("forbidden_terms", v),
    "forbidden_patterns": _patterns,
    "required_phrases": _per_channel_phrases,
    "max_discount_percent": _percent,
    "allowed_regions": lambda v: _strings("allowed_regions", v, upper=True),
    "allowed_languages": lambda v: [s.lower() for s in _strings("allowed_languages", v)],
    "max_length": _per_channel_lengths,
    "require_unsubscribe_link": _flag,
}


def rules_checked(rules: object) -> dict[str, Any]:
    """The rules as stored, or ValidationFailed naming the rule to fix (unknown rule type,
    unknown channel, invalid regex, wrong type)."""
    if not isinstance(rules, dict):
        raise _refuse("(root)", "rules must be an object.")
    unknown = sorted(set(rules) - set(RULE_TYPES))
    if unknown:
        raise _refuse(unknown[0], f"unknown rule type; use {', '.join(RULE_TYPES)}.")
    return {name: CHECKS[name](value) for name, value in rules.items()}


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    text: str
    channel: str
    region: str = ""
    language: str = ""
    discount_percent: float | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    span: tuple[int, int] | None = None


def _term_spans(text: str, terms: list[str]) -> list[Finding]:
    found = []
    for term in terms:
        pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
        for match in pattern.finditer(text):
            found.append(
                Finding(
                    "forbidden_terms", f"Forbidden term {term!r}.", (match.start(), match.end())
                )
            )
    return found


def _pattern_spans(text: str, patterns: list[str]) -> list[Finding]:
    found = []
    for pattern in patterns:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            if match.end() > match.start():
                found.append(
                    Finding(
                        "forbidden_patterns",
                        f"Matches forbidden pattern {pattern!r}.",
                        (match.start(), match.end()),
                    )
                )
    return found


def _required(draft: Draft, phrases: dict[str, list[str]]) -> list[Finding]:
    wanted = [*phrases.get("*", []), *phrases.get(draft.channel, [])]
    lowered = draft.text.lower()
    return [
        Finding("required_phrases", f"Missing required phrase {phrase!r} for {draft.channel}.")
        for phrase in wanted
        if phrase.lower() not in lowered
    ]


def evaluate(rules: dict[str, Any], draft: Draft) -> list[Finding]:
    """Every violation of `rules` by `draft`, with the offending span where there is one."""
    found: list[Finding] = []
    found += _term_spans(draft.text, rules.get("forbidden_terms", []))
    found += _pattern_spans(draft.text, rules.get("forbidden_patterns", []))
    found += _required(draft, rules.get("required_phrases", {}))
    limit = rules.get("max_discount_percent")
    if limit is not None and draft.discount_percent is not None and draft.discount_percent > limit:
        found.append(
            Finding(
                "max_discount_percent",
                f"Discount {draft.discount_percent:g}% is over the maximum of {limit:g}%.",
            )
        )
    regions = rules.get("allowed_regions")
    if regions and draft.region and draft.region.upper() not in regions:
        found.append(
            Finding("allowed_regions", f"Region {draft.region} is not one of {', '.join(regions)}.")
        )
    languages = rules.get("allowed_languages")
    if languages and draft.language and draft.language.lower() not in languages:
        found.append(
            Finding(
                "allowed_languages",
                f"Language {draft.language} is not one of {', '.join(languages)}.",
            )
        )
    length = rules.get("max_length", {}).get(draft.channel)
    if length is not None and len(draft.text) > length:
        found.append(
            Finding(
                "max_length",
                f"{len(draft.text)} characters; {draft.channel} allows {length}.",
                (length, len(draft.text)),
            )
        )
    linked = LINK.search(draft.text) and UNSUBSCRIBE.search(draft.text)
    if rules.get("require_unsubscribe_link") and draft.channel == "email" and not linked:
        found.append(Finding("require_unsubscribe_link", "Email needs an unsubscribe link."))
    return found
