"""The pre-scan (apps/privacy/engine/detectors/__init__.py) skips detectors that cannot match a
text. It must change nothing that is detected: `detect`, `text_mask` and `json_mask` give the
same results with and without it, on texts with personal data (valid values placed side by
side, as in test_engine_adversarial.py) and without (prose, look-alikes, near misses made of
the very characters the gates look for). Derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.privacy.engine import (
    DEFAULT_POLICY,
    STRUCTURED_ENTITIES,
    EntityType,
    Finding,
    MaskingKeys,
    MaskingPolicy,
    Operator,
    detect,
    detectors,
    json_mask,
    text_mask,
)
from apps.privacy.engine.detectors import DETECTORS, GATES, _joint_gate
from tests.privacy.test_engine_adversarial import (
    LOOK_ALIKES,
    VALUES,
    _luhn_completed,
    placements,
)

PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow],
)
KEYS = MaskingKeys(hash_key=b"prescan-test-hash-key-0123456789")
POLICIES = {
    "default": DEFAULT_POLICY,
    "structured": MaskingPolicy(entities=STRUCTURED_ENTITIES),
    "email only": MaskingPolicy(entities=frozenset({EntityType.EMAIL})),
    "phones and cards, hashed": MaskingPolicy(
        entities=frozenset({EntityType.PHONE, EntityType.CARD}), default_operator=Operator.HASH
    ),
    "allow-listed": MaskingPolicy(
        allow_values=frozenset({"support@acme.example"}), allow_patterns=(r"10\.0\.0\.\d+",)
    ),
}


@contextmanager
def prescan(enabled: bool) -> Iterator[None]:
    saved = detectors.PRESCAN
    detectors.PRESCAN = enabled
    try:
        yield
    finally:
        detectors.PRESCAN = saved


# ---- texts ----------------------------------------------------------------------------------

# The characters every gate is made of, and those around them in real look-alikes.
NEAR = string.digits * 3 + " -./()+@:#,;\t\nABCDEFGHNSWXYZabcdefxyz\u00a0\u2010\u2013<>_"
PROSE = (
    "We looked at the account history and the last three calls before drafting.",
    "lead 42, step 3: took_ms 120",
    "Call me on Tuesday at 14:30",
    "crm.search",
    "Version 2.14.3 shipped; build 10.0.19045",
    "Hello,\nBest,\nBot",
    "<EMAIL_1> wrote from <PHONE_2>",
    "12 apples and 7 pears",
    "ORD-2024-118273 / INV-000123",
    "a::b ::1 fe80:",
)

# The smallest value of each kind the detectors find, in each way it can be written: a gate
# that asks for one character too many misses one of these.
_CARD14 = _luhn_completed("3600000000000")
EDGES = (
    "+683 4002",  # seven digits (Niue), the fewest a phone number has
    "+683-4002",
    "+683.4002",
    "+683\u00a04002",
    "+683\u20104002",
    "+683/4002",
    "(+683) 4002",
    "tel 030 12345",
    _CARD14,
    f"{_CARD14[:4]} {_CARD14[4:10]} {_CARD14[10:]}",
    f"{_CARD14[:4]}-{_CARD14[4:10]}-{_CARD14[10:]}",
    "NO9386011117947",  # the shortest IBAN (15)
    "NO93 8601 1117 947",
    "1.2.3.4",
    "::1",
    "a::1",
    "a@b.co",
    "078-05-1120",
    "078 05 1120",
    "SSN 078051120",
    "ss# 078051120",
    "AB123456C",
    "AB 12 34 56 C",
    "1 1st St",
    "12A Oak St",
    "12-3 Oak St",
    "12A-3 Oak St",
    "7 N Main St",
)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """Texts built from the gates' own characters and from look-alikes: the cases where a
    gate that is too strict would skip a detector that has something to find."""
    parts = draw(
        st.lists(
            st.one_of(
                st.text(NEAR, max_size=24),
                LOOK_ALIKES,
                st.sampled_from(PROSE),
                st.sampled_from(EDGES),
                VALUES.map(lambda value: value.text),
                st.text(string.digits, min_size=1, max_size=20),
            ),
            min_size=1,
            max_size=6,
        )
    )
    joiners = draw(st.lists(st.sampled_from(["", " ", "-", "/", ",", "\n", "."]), min_size=6))
    return "".join(part + joiner for part, joiner in zip(parts, joiners, strict=False))


TEXTS = st.one_of(
    placements().map(lambda case: case[0]),
    near_misses(),
    st.sampled_from(PROSE + EDGES),
    st.text(),
)


def _facts(findings: Iterable[Finding]) -> list[tuple[object, ...]]:
    """Everything a finding says, `normalized` included (it is not part of equality)."""
    return [
        (f.entity_type, f.start, f.end, f.text, f.confidence, f.detector, f.normalized)
        for f in findings
    ]


def _both(run):  # type: ignore[no-untyped-def]
    with prescan(True):
        fast = run()
    with prescan(False):
        full = run()
    return fast, full


# ---- properties -----------------------------------------------------------------------------


@PROFILE
@given(TEXTS, st.sampled_from(sorted(POLICIES)))
def test_detect_and_text_mask_are_the_same_with_and_without_the_prescan(
    text: str, policy_name: str
) -> None:
    # given a text with or without personal data, and a policy
    policy = POLICIES[policy_name]
    # when it is scanned with the pre-scan and with every detector run
    found_fast, found_full = _both(lambda: detect(text, policy))
    masked_fast, masked_full = _both(lambda: text_mask(text, policy, KEYS))
    # then the findings, the masked text and its findings are identical
    assert _facts(found_fast) == _facts(found_full)
    assert masked_fast.text == masked_full.text
    assert [m.replacement for m in masked_fast.findings] == [
        m.replacement for m in masked_full.findings
    ]
    assert _facts(m.finding for m in masked_fast.findings) == _facts(
        m.finding for m in masked_full.findings
    )
    assert masked_fast.counts == masked_full.counts


@settings(PROFILE, max_examples=150)
@given(st.lists(TEXTS, min_size=1, max_size=6), st.sampled_from(sorted(POLICIES)))
def test_json_mask_is_the_same_with_and_without_the_prescan(
    texts: list[str], policy_name: str
) -> None:
    # given a trace-shaped document whose keys and values are generated texts
    policy = POLICIES[policy_name]
    document = {
        "task": texts[0],
        "steps": [{"thought": text, "took_ms": 120} for text in texts],
        "tool_calls": [{"tool": "crm.search", "arguments": {texts[-1]: texts[0]}}],
    }
    # when it is masked with and without the pre-scan
    fast, full = _both(lambda: json_mask(document, policy, KEYS))
    # then the masked document and every finding with its path are identical
    assert fast.value == full.value
    assert fast.counts == full.counts
    assert [(f.path, f.in_key, f.item.replacement) for f in fast.findings] == [
        (f.path, f.in_key, f.item.replacement) for f in full.findings
    ]
    assert _facts(f.item.finding for f in fast.findings) == _facts(
        f.item.finding for f in full.findings
    )


def _assert_gates_hold(text: str) -> None:
    """Each detector, run on the text whatever its gate says, finds something only where its
    gate matches."""
    for detector, (first, rest) in GATES.items():
        gate_matches = re.search(first + rest, text) is not None
        found = list(detector(text, DEFAULT_POLICY))
        assert gate_matches or not found, (detector.__name__, text, _facts(found))


@PROFILE
@given(TEXTS)
def test_every_detector_finds_nothing_where_its_gate_does_not_match(text: str) -> None:
    _assert_gates_hold(text)


@PROFILE
@given(TEXTS)
def test_the_joint_gate_matches_where_one_of_the_gates_does(text: str) -> None:
    # given the default policy's joint gate
    joint = _joint_gate(DEFAULT_POLICY.entities)
    assert joint is not None
    # when it searches a text
    hit = joint.search(text)
    # then it matches iff some gate does, at the leftmost position any gate matches
    starts = [
        found.start()
        for first, rest in GATES.values()
        if (found := re.search(first + rest, text)) is not None
    ]
    assert (hit.start() if hit else None) == (min(starts) if starts else None)


@pytest.mark.parametrize("text", EDGES)
def test_the_smallest_values_are_found_with_and_without_the_prescan(text: str) -> None:
    # when the smallest value of a kind is scanned alone
    fast, full = _both(lambda: detect(text))
    # then it is found both ways, and the gate of the detector that found it matches it
    assert len(fast) == 1
    assert _facts(fast) == _facts(full)
    _assert_gates_hold(text)


# ---- what the pre-scan skips ----------------------------------------------------------------


def test_every_detector_of_every_entity_has_a_gate() -> None:
    detectors_in_use = {d for entity in EntityType for d in DETECTORS.get(entity, ())}
    assert detectors_in_use == set(GATES)
    assert _joint_gate(DEFAULT_POLICY.entities) is not None


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every detector wrapped to record its name when it runs, with the same gate."""
    names: list[str] = []
    spied: dict[EntityType, tuple[detectors.Detector, ...]] = {}
    gates: dict[detectors.Detector, detectors.Gate] = {}
    for entity, found in DETECTORS.items():
        wrapped = []
        for inner in found:

            def run(
                text: str, policy: MaskingPolicy, inner: detectors.Detector = inner
            ) -> Iterator[Finding]:
                names.append(inner.__name__)
                return inner(text, policy)

            gates[run] = GATES[inner]
            wrapped.append(run)
        spied[entity] = tuple(wrapped)
    patterns = {d: re.compile(first + rest) for d, (first, rest) in gates.items()}
    monkeypatch.setattr(detectors, "DETECTORS", spied)
    monkeypatch.setattr(detectors, "GATES", gates)
    monkeypatch.setattr(detectors, "_GATE_PATTERNS", patterns)
    _joint_gate.cache_clear()
    yield names
    _joint_gate.cache_clear()


@pytest.mark.parametrize(
    "text",
    [
        "We looked at the account history and the last three calls before drafting.",
        "lead 4217, step 3: took_ms",
        "thought",
        "crm.search",
        "Meeting on Tuesday at 14:30",
        "",
    ],
)
def test_clean_text_runs_no_detector(text: str, ran: list[str]) -> None:
    # when a text with nothing any gate looks for is scanned
    findings = detect(text)
    # then nothing was found, and no detector ran
    assert findings == []
    assert ran == []


def test_a_phone_number_runs_only_the_detectors_whose_gate_matches(ran: list[str]) -> None:
    # when a text with a phone number and nothing else is scanned
    findings = detect("Call me on +44 20 7946 0958.")
    # then the number is found, and the e-mail, IP and NI number detectors never ran
    assert [(f.entity_type, f.text) for f in findings] == [(EntityType.PHONE, "+44 20 7946 0958")]
    assert "detect_phones" in ran
    assert not {"detect_emails", "detect_ipv4", "detect_ipv6", "detect_uk_ninos"} & set(ran)


def test_without_the_prescan_every_detector_runs(ran: list[str]) -> None:
    # when a clean text is scanned with the pre-scan off
    with prescan(False):
        detect("thought")
    # then every enabled detector ran
    enabled = [d.__name__ for e in DEFAULT_POLICY.entities for d in DETECTORS.get(e, ())]
    assert sorted(ran) == sorted(enabled)
