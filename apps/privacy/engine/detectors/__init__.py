"""Run the enabled detectors over a text and resolve overlapping findings.

Every detector is a generator `(text, policy) -> findings` built on module-level compiled
regexes, so no call compiles a pattern.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from apps.privacy.engine.detectors.address import detect_addresses
from apps.privacy.engine.detectors.contact import detect_emails, detect_phones
from apps.privacy.engine.detectors.financial import detect_cards, detect_ibans
from apps.privacy.engine.detectors.names import NameBackend, detect_names, require_backend
from apps.privacy.engine.detectors.national import detect_uk_ninos, detect_us_ssns
from apps.privacy.engine.detectors.network import detect_ipv4, detect_ipv6
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

__all__ = ["DETECTORS", "NameBackend", "find_entities", "resolve_overlaps"]


def find_entities(
    text: str,
    policy: MaskingPolicy,
    name_backend: NameBackend | None = None,
    protected: tuple[tuple[int, int], ...] = (),
) -> list[Finding]:
    """All findings the policy asks for, minus allow-listed values, low-confidence hits and
    anything inside `protected` spans (tokens from an earlier masking pass), without overlaps.
    Sorted by start."""
    backend = require_backend(name_backend) if EntityType.PERSON in policy.entities else None
    candidates = [
        finding
        for entity in policy.entities
        for detector in DETECTORS.get(entity, ())
        for finding in detector(text, policy)
    ]
    if backend is not None:
        candidates.extend(detect_names(text, backend))
    kept = [f for f in candidates if _keep(f, policy, protected)]
    return resolve_overlaps(kept)


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
    "4111 1111 1111 1111" is one card, not a card and a phone number inside it. Findings are
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
    ranked = sorted(cluster, key=lambda f: (-f.length, -f.confidence, f.start, f.entity_type))
    chosen: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= kept.start or kept.end <= finding.start for kept in chosen):
            chosen.append(finding)
    return chosen
