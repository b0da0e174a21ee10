"""Mask (or reveal) every string in a JSON-shaped value: trace steps, tool-call arguments.

Dict keys are masked too (`mask_json_keys`, on by default): payloads keyed by e-mail address or
phone number exist, and raw PII must not reach disk through a key. Numbers are left alone even
when they look like phone or card numbers: a JSON number is a quantity, and a card number
stored as a number has already lost its formatting; mask such fields upstream as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from apps.privacy.engine.detectors import NameBackend
from apps.privacy.engine.entities import EntityType, MaskedFinding
from apps.privacy.engine.errors import PIIInputError
from apps.privacy.engine.keys import MaskingKeys
from apps.privacy.engine.masking import REVEAL_MAX_TEXT_BYTES, Masker, reveal
from apps.privacy.engine.policy import DEFAULT_POLICY, MaskingPolicy

JsonValue = str | int | float | bool | None | dict[str, "JsonValue"] | list["JsonValue"]
JsonPath = tuple[str | int, ...]
_SCALARS = (int, float, bool, type(None))
_PRINTABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z_]{0,40}[0-9]{0,3}")


# Strings at most this long are remembered as clean by json_mask(clean=...).
CLEAN_MEMO_CHARS = 200


@dataclass(frozen=True)
class JsonFinding:
    """Where a finding sits: `path` to the value, `in_key` when it was found in a dict key.
    The path holds the raw keys (which may be PII): like findings, keep it in memory only."""

    path: JsonPath
    in_key: bool
    item: MaskedFinding


@dataclass(frozen=True)
class JsonMaskResult:
    value: JsonValue
    findings: tuple[JsonFinding, ...]
    counts: dict[EntityType, int]


def json_mask(
    value: object,
    policy: MaskingPolicy = DEFAULT_POLICY,
    keys: MaskingKeys | None = None,
    *,
    name_backend: NameBackend | None = None,
    clean: set[str] | None = None,
) -> JsonMaskResult:
    """Mask a nested dict/list; placeholders are numbered once for the whole document, so the
    same e-mail in a tool call's arguments and in its output gets the same `<EMAIL_n>`.

    `clean`: short strings (<= CLEAN_MEMO_CHARS) already found to hold nothing under this same
    policy, shared by a caller masking many documents (the audit trail's bulk recorder: the
    same keys and values recur in every event). A string with no finding masks to itself and
    leaves no state behind, so skipping it changes nothing; strings found clean are added."""
    masker = Masker(policy, keys, name_backend)
    found: list[JsonFinding] = []

    def mask_string(text: str, path: JsonPath, in_key: bool) -> str:
        if clean is not None and text in clean:
            return text
        masked, items = masker.mask(text)
        found.extend(JsonFinding(path, in_key, item) for item in items)
        if clean is not None and not items and len(text) <= CLEAN_MEMO_CHARS and masked == text:
            clean.add(text)
        return masked

    walker = JsonWalker(mask_string, policy.max_json_depth, policy.mask_json_keys)
    result = walker.walk(value, (), 0)
    counts: dict[EntityType, int] = {}
    for entry in found:
        entity = entry.item.finding.entity_type
        counts[entity] = counts.get(entity, 0) + 1
    return JsonMaskResult(result, tuple(found), counts)


def json_reveal(value: object, keys: MaskingKeys, *, max_depth: int = 32) -> JsonValue:
    """Decrypt every `<ENC:...>` token in a nested value (keys included)."""

    def reveal_string(text: str, path: JsonPath, in_key: bool) -> str:
        return reveal(text, keys, max_text_bytes=REVEAL_MAX_TEXT_BYTES)

    return JsonWalker(reveal_string, max_depth, True).walk(value, (), 0)


class JsonWalker:
    """Depth-limited copy of a JSON value with a function applied to every string."""

    def __init__(
        self, on_string: Callable[[str, JsonPath, bool], str], max_depth: int, keys: bool
    ) -> None:
        self.on_string = on_string
        self.max_depth = max_depth
        self.keys = keys

    def walk(self, value: object, path: JsonPath, depth: int) -> JsonValue:
        if isinstance(value, str):
            return self._string(value, path, False)
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, dict | list | tuple):
            if depth >= self.max_depth:
                raise PIIInputError(
                    f"JSON is nested deeper than {self.max_depth} levels at {_format(path)}"
                )
            if isinstance(value, dict):
                return self._walk_dict(value, path, depth + 1)
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(value)]
        raise PIIInputError(f"unsupported type {type(value).__name__} at {_format(path)}")

    def _walk_dict(self, value: dict[object, object], path: JsonPath, depth: int) -> JsonValue:
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                kind = type(key).__name__
                raise PIIInputError(f"dict key of type {kind} at {_format(path)} is not a string")
            child = (*path, key)
            new_key = self._string(key, child, True) if self.keys else key
            result[_unique(new_key, result)] = self.walk(item, child, depth)
        return result

    def _string(self, text: str, path: JsonPath, in_key: bool) -> str:
        try:
            return self.on_string(text, path, in_key)
        except PIIInputError as exc:
            where = f"key at {_format(path)}" if in_key else _format(path)
            raise PIIInputError(f"{exc} (in {where})") from None


def _unique(key: str, taken: dict[str, JsonValue]) -> str:
    """Two keys can mask to one (both redacted): suffix later ones rather than drop data."""
    if key not in taken:
        return key
    number = 2
    while f"{key}#{number}" in taken:
        number += 1
    return f"{key}#{number}"


def _format(path: JsonPath) -> str:
    """A JSONPath for error messages. Keys that could hold PII print as `?`: error messages
    end up in logs and API responses."""
    return "$" + "".join(_format_part(part) for part in path)


def _format_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if _PRINTABLE_KEY.fullmatch(part) else ".?"
