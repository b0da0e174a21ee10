"""Run the enabled detectors over a text and resolve overlapping findings.

Every detector is a generator `(text, policy) -> findings` built on module-level compiled
regexes, so no call compiles a pattern.

Pre-scan: most strings that reach the engine (trace steps, tool names, JSON keys, memory
text) hold no personal data, and running nine detectors over each one cost more than the rest
of the write. Each detector has a gate (`GATES`): a pattern that every text the detector can
find anything in contains, derived from the detector's own pattern by dropping its
look-arounds, labels and optional parts (a phone window's seven separated digits, an
e-mail's "@"). One search of all enabled gates together, compiled once per set of entities,
rules out a clean text; otherwise only the detectors whose gate matches run. A gate may let
through texts its detector then finds nothing in, never the reverse, so what is detected does
not change (tests/privacy/test_engine_prescan.py checks that on generated texts).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from functools import lru_cache

from apps.privacy.engine.detectors.address import ADDRESS_GATE, detect_addresses
from apps.privacy.engine.detectors.contact import (
    EMAIL_GATE,
    PHONE_GATE,
    detect_emails,
    detect_phones,
)
from apps.privacy.engine.detectors.financial import (
    CARD_GATE,
    IBAN_GATE,
    detect_cards,
    detect_ibans,
)
from apps.privacy.engine.detectors.names import NameBackend, detect_names, require_backend
from apps.privacy.engine.detectors.national import (
    NINO_GATE,
    SSN_GATE,
    detect_uk_ninos,
    detect_us_ssns,
)
from apps.privacy.engine.detectors.network import (
    IPV4_GATE,
    IPV6_GATE,
    detect_ipv4,
    detect_ipv6,
)
from apps.privacy.engine.entities import EntityType, Finding
from apps.privacy.engine.policy import MaskingPolicy

Detector = Callable[[str, MaskingPolicy], Iterator[Finding]]

DETECTORS: dict[EntityType, tuple[Detector, ...]] = {
    EntityType.EMAIL: (detect_emails,),
    EntityType.PHONE: (detect_phones,),
    EntityType.CARD: (detect_cards,),
    EntityType.IBAN: (detect_ibans,),
    EntityType.IP_ADDRESS: (detect_ipv4, detect_ipv6),
    EntityType.US_SSN: (detect_us_ssns,),
    EntityType.UK_NINO: (detect_uk_ninos,),
    EntityType.ADDRESS: (detect_addresses,),
}

# Each detector's gate (module docstring): (first, rest), a pattern for one character and one
# for what follows it, that together match somewhere in every text the detector can find
# anything in. Neither part has flags; `first` is a literal or a character class. A detector
# without a gate always runs, and then no text is ruled out as a whole.
Gate = tuple[str, str]
GATES: dict[Detector, Gate] = {
    detect_emails: EMAIL_GATE,
    detect_phones: PHONE_GATE,
    detect_cards: CARD_GATE,
    detect_ibans: IBAN_GATE,
    detect_ipv4: IPV4_GATE,
    detect_ipv6: IPV6_GATE,
    detect_us_ssns: SSN_GATE,
    detect_uk_ninos: NINO_GATE,
    detect_addresses: ADDRESS_GATE,
}
_GATE_PATTERNS = {detector: re.compile(first + rest) for detector, (first, rest) in GATES.items()}
# Off only to check and measure the pre-scan against running every detector
# (tests/privacy/test_engine_prescan.py, bench/pii/interleave.py --prescan).
PRESCAN = True

# Rescans after blanking out findings: each one can uncover a value hidden by a neighbour.
_MAX_RESCANS = 3
_BLANK = "\x00"
_VALIDATED = frozenset({"card_luhn", "iban_mod97", "us_ssn", "uk_nino"})
_DIGIT = re.compile(r"[0-9]")
_NEAR = 3  # characters either side of a finding looked at for a neighbouring digit

__all__ = ["DETECTORS", "GATES", "NameBackend", "find_entities", "resolve_overlaps"]


def find_entities(
    text: str,
    policy: MaskingPolicy,
    name_backend: NameBackend | None = None,
    protected: tuple[tuple[int, int], ...] = (),
) -> list[Finding]:
    """All findings the policy asks for, minus allow-listed values, low-confidence hits and
    anything inside `protected` spans (tokens from an earlier masking pass), without overlaps.
    Sorted by start.

    Values written side by side ("123-45-6789 4111 1111 1111 1111") can hide each other: a
    detector that refuses a candidate because more digits follow it cannot know that those
    digits are the next value. So when a finding has digits right next to it, the text is
    scanned again with every finding blanked out, until nothing new turns up."""
    backend = require_backend(name_backend) if EntityType.PERSON in policy.entities else None
    candidates = _candidates(text, policy)
    if backend is not None:
        candidates.extend(detect_names(text, backend))
    if not candidates:
        return []
    kept = [f for f in candidates if _keep(f, policy, protected)]
    found = resolve_overlaps(kept)
    hidden = _partly_hidden(kept, found)
    for _ in range(_MAX_RESCANS):
        if not hidden and not _has_digit_neighbour(text, found):
            break
        blanked = _blank(text, found)
        fresh = resolve_overlaps(
            [f for f in _candidates(blanked, policy) if _is_new(f) and _keep(f, policy, protected)]
        )
        if not fresh:
            break
        found, hidden = resolve_overlaps(found + fresh), False
    return found


def _partly_hidden(candidates: list[Finding], found: list[Finding]) -> bool:
    """Whether overlap resolution dropped a candidate that stuck out of the finding it lost
    to: what stuck out may be a value of its own ("+49 30 6564841/5155 4087 5804 7390")."""
    if len(candidates) == len(found):
        return False
    chosen = {id(finding) for finding in found}
    starts = [finding.start for finding in found]
    for candidate in candidates:
        if id(candidate) in chosen:
            continue
        index = bisect.bisect_right(starts, candidate.start) - 1
        if index < 0 or found[index].end < candidate.end:
            return True
    return False


def _candidates(text: str, policy: MaskingPolicy) -> list[Finding]:
    """Every enabled detector's findings, in the policy's entity order. With the pre-scan, a
    text that no enabled gate matches has none, and a detector runs only where its gate
    matches: at or after the first position the joint search matched, since no gate can
    match earlier than the leftmost match of all of them together."""
    if not PRESCAN:
        return [
            finding
            for entity in policy.entities
            for detector in DETECTORS.get(entity, ())
            for finding in detector(text, policy)
        ]
    joint = _joint_gate(policy.entities)
    first = 0
    if joint is not None:
        hit = joint.search(text)
        if hit is None:
            return []
        first = hit.start()
    found: list[Finding] = []
    for entity in policy.entities:
        for detector in DETECTORS.get(entity, ()):
            gate = _GATE_PATTERNS.get(detector)
            if gate is None or gate.search(text, first) is not None:
                found.extend(detector(text, policy))
    return found


@lru_cache(maxsize=64)
def _joint_gate(entities: frozenset[EntityType]) -> re.Pattern[str] | None:
    """The enabled detectors' gates as one pattern, None if one of them has no gate. It
    starts with the set of all first characters, so the regex engine skips to the next such
    character instead of trying every gate at every position (five times faster on prose
    than the gates joined by "|"), then checks the rests that go with the character it
    found: `(?:[0-9]|@)(?:(?<=[0-9])(?:rest|rest)|(?<=@))`. It matches at exactly the
    positions where one of the gates does."""
    rests: dict[str, list[str]] = {}
    for entity in sorted(entities):
        for detector in DETECTORS.get(entity, ()):
            gate = GATES.get(detector)
            if gate is None:
                return None
            rests.setdefault(gate[0], [])
            if gate[1] not in rests[gate[0]]:
                rests[gate[0]].append(gate[1])
    if not rests:
        return None
    firsts = "|".join(rests)
    checks = "|".join(f"(?<={first})(?:{'|'.join(rest)})" for first, rest in rests.items())
    return re.compile(f"(?:{firsts})(?:{checks})")


def _has_digit_neighbour(text: str, findings: list[Finding]) -> bool:
    return any(
        _DIGIT.search(text, max(0, f.start - _NEAR), f.start) is not None
        or _DIGIT.search(text, f.end, f.end + _NEAR) is not None
        for f in findings
    )


def _blank(text: str, findings: list[Finding]) -> str:
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor : finding.start])
        parts.append(_BLANK * finding.length)
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def _is_new(finding: Finding) -> bool:
    """Outside every earlier finding (those are blanked out), so its text is the original's."""
    return _BLANK not in finding.text


def _keep(finding: Finding, policy: MaskingPolicy, protected: tuple[tuple[int, int], ...]) -> bool:
    if finding.confidence < policy.min_confidence or policy.is_allowed(finding.text):
        return False
    return not _overlaps_any(protected, finding.start, finding.end)


def _overlaps_any(spans: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    """`spans` are sorted and disjoint (regex matches), so one bisection answers."""
    index = bisect.bisect_left(spans, (end, end))
    return index > 0 and spans[index - 1][1] > start


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the longest finding where spans overlap, the more confident one on equal length:
    "4111 1111 1111 1111" is one card, not a card and a phone number inside it. Findings checked
    by a checksum or allocation rule (cards, IBANs, SSNs, NI numbers) come first: a phone
    number that ran on into a card's first group loses to the card, and find_entities' rescan
    finds the phone number again. Findings are
    split into clusters of mutually reachable overlaps first, so the work stays O(n log n)
    even for a megabyte of text full of PII."""
    chosen: list[Finding] = []
    for cluster in _clusters(sorted(findings, key=lambda f: (f.start, f.end))):
        chosen.extend(_best_in(cluster) if len(cluster) > 1 else cluster)
    chosen.sort(key=lambda f: f.start)
    return chosen


def _clusters(ordered: list[Finding]) -> list[list[Finding]]:
    clusters: list[list[Finding]] = []
    reach = -1
    for finding in ordered:
        if finding.start >= reach:
            clusters.append([])
        clusters[-1].append(finding)
        reach = max(reach, finding.end)
    return clusters


def _best_in(cluster: list[Finding]) -> list[Finding]:
    ranked = sorted(
        cluster,
        key=lambda f: (f.detector not in _VALIDATED, -f.length, -f.confidence, f.start),
    )
    chosen: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= kept.start or kept.end <= finding.start for kept in chosen):
            chosen.append(finding)
    return chosen
