"""unlink_tokens(): turn the keyed tokens of a JSON-shaped document into placeholders, for text
that is kept for good and can never be scrubbed (the append-only audit trail).

A hash token `<EMAIL:3f9a...>` equals the token of the same address in every other row and an
encrypted token `<ENC:EMAIL:k1:...>` decrypts to the address: either lets whoever holds the
document find the data subject. Each becomes a placeholder of its type, `<EMAIL_n>`, numbered
within the one document, not a bare `<EMAIL>`: a reader of an audit event still sees whether
`before` and `after` hold the same address or another one, the result stays in the engine's
token grammar (re-scans leave it alone), and a number means nothing outside its document.
The same token keeps one number; with `keys`, so does the same encrypted value (its tokens
differ, the nonce is random). Numbers start above the highest placeholder of the type already
in the document, so an unlinked token never poses as an earlier placeholder. Placeholders,
`<REDACTED>` and any other angle-bracket text stay as they are.

A token cut short at the very end of a string (`#5 Call <PHONE:3f9a1c` — labels such as a
memory's `str()` clip its masked content) still carries a prefix of the hash or ciphertext, so
it becomes a placeholder as well: the number of the whole token it starts, when that token is
elsewhere in the document, else a number of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from apps.privacy.engine.entities import EntityType
from apps.privacy.engine.errors import PIIRevealError
from apps.privacy.engine.json_walk import JsonPath, JsonValue, JsonWalker
from apps.privacy.engine.keys import ENCRYPTED_TOKEN, MaskingKeys, decrypt_token

_TYPES = "|".join(entity.value for entity in EntityType)
LINKABLE_TOKEN = re.compile(
    rf"<(?:ENC:(?P<encrypted>{_TYPES}):[A-Za-z0-9_-]{{1,16}}:[A-Za-z0-9_-]+"
    rf"|(?P<hashed>{_TYPES}):[0-9a-f]{{8,64}})>"
)
_CUT_TOKEN = re.compile(
    rf"<(?:ENC:(?P<encrypted>{_TYPES})(?::[A-Za-z0-9_-]*){{0,2}}|(?P<hashed>{_TYPES}):[0-9a-f]+)"
)
PLACEHOLDER_TOKEN = re.compile(rf"<({_TYPES})_([0-9]+)>")
_MAX_DEPTH = 200


def unlink_tokens(value: JsonValue, keys: MaskingKeys | None = None) -> JsonValue:
    """`value` with every hash and encrypted token (in strings and dict keys, at any depth)
    replaced by a numbered placeholder. Returns `value` itself when it holds no such token,
    which one pass over its strings decides (`'<' in text` first), so the usual document
    costs no copy."""
    with_brackets = [text for text in _strings(value) if "<" in text]
    if not any(LINKABLE_TOKEN.search(text) or cut_token(text) for text in with_brackets):
        return value
    whole = [match.group(0) for text in with_brackets for match in LINKABLE_TOKEN.finditer(text)]
    unlinker = _Unlinker(_highest_placeholders(with_brackets), whole, keys)
    return JsonWalker(unlinker.text, _MAX_DEPTH, True).walk(value, (), 0)


def _strings(value: object) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def cut_token(text: str) -> re.Match[str] | None:
    """A token cut short at the end of `text` (no closing `>` after its last `<`)."""
    start = text.rfind("<")
    if start == -1 or ">" in text[start:]:
        return None
    return _CUT_TOKEN.fullmatch(text, start)


def _highest_placeholders(texts: list[str]) -> Counter[str]:
    highest: Counter[str] = Counter()
    for text in texts:
        for match in PLACEHOLDER_TOKEN.finditer(text):
            highest[match.group(1)] = max(highest[match.group(1)], int(match.group(2)))
    return highest


class _Unlinker:
    def __init__(self, taken: Counter[str], whole: list[str], keys: MaskingKeys | None) -> None:
        self.last = taken
        self.whole = whole
        self.keys = keys
        self.numbers: dict[tuple[str, str], int] = {}

    def text(self, text: str, path: JsonPath, in_key: bool) -> str:
        if "<" not in text:
            return text
        text = LINKABLE_TOKEN.sub(self._placeholder, text)
        cut = cut_token(text)
        if cut is None:
            return text
        started = next((t for t in self.whole if t.startswith(cut.group(0))), None)
        token = LINKABLE_TOKEN.fullmatch(started) if started else None
        return text[: cut.start()] + self._placeholder(token or cut)

    def _placeholder(self, token: re.Match[str]) -> str:
        entity = token.group("encrypted") or token.group("hashed")
        identity = (entity, self._identity(token))
        number = self.numbers.get(identity)
        if number is None:
            self.last[entity] += 1
            number = self.numbers[identity] = self.last[entity]
        return f"<{entity}_{number}>"

    def _identity(self, token: re.Match[str]) -> str:
        """What makes two tokens the same value: the token itself, or for an encrypted token
        whose key is at hand its plaintext (kept in memory for this one call only)."""
        if token.group("encrypted") is None or self.keys is None:
            return token.group(0)
        full = ENCRYPTED_TOKEN.fullmatch(token.group(0))
        if full is None:
            return token.group(0)
        try:
            return "\x00" + decrypt_token(full, self.keys).casefold()
        except PIIRevealError:
            return token.group(0)
