"""masked_chips(): masked text for people to read. Every token the engine leaves in stored text
(`<EMAIL_1>`, `<PHONE:3f9a...>`, `<ENC:EMAIL:k1:...>`, `<REDACTED>`) becomes a small labelled
chip (`email 1`, `hashed phone`, `encrypted email`, `redacted`), so the admin console shows what
was masked without filling pages with ciphertext and hashes. Display only: what is stored is
unchanged, and edit forms keep the raw text. The token grammar is the engine's own regexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.privacy.engine.masking import _TOKEN
from apps.privacy.engine.unlink import _PLACEHOLDER, LINKABLE_TOKEN, _cut_token

_KIND_TITLES = {
    "encrypted": "Encrypted {what}: the stored text holds ciphertext, not the value",
    "hashed": "Hashed {what} (keyed hash): the same value gives the same hash; no value is kept",
}


def masked_chips(text: object, limit: int | None = None) -> SafeString:
    """`text` HTML-escaped, with each masking token replaced by a labelled chip. Text without
    tokens comes back escaped and otherwise unchanged; None becomes the empty string. A hash or
    encrypted token cut short at the end (a clipped label, with or without a trailing `…`)
    is a chip as well, so no prefix of a hash or ciphertext shows. With `limit`, text longer
    than `limit` characters is clipped there and ends in `…`, never inside a token."""
    raw = "" if text is None else str(text)
    if limit is not None and len(raw) > limit:
        raw = clip(raw, limit)
    return mark_safe(_render(raw, escape, _span))  # noqa: S308 - parts escaped or format_html


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters plus `…`; a token across the cut is kept whole."""
    end = limit
    for token in _TOKEN.finditer(text):
        if token.start() >= limit:
            break
        if limit < token.end():
            end = token.end()
    return f"{text[:end]}…"


def masked_labels(text: object) -> str:
    """Plain text for where no HTML goes (a page's <title>, an object's label in a header):
    each token as its label in brackets, `[encrypted email]`. Escape it as any text."""
    return _render(text, str, lambda label, title: f"[{label}]")


def _render(text: object, plain: Callable[[str], str], chip: Callable[[str, str], str]) -> str:
    raw = "" if text is None else str(text)
    if "<" not in raw:
        return plain(raw)
    parts: list[str] = []
    position = 0
    for token in _TOKEN.finditer(raw):
        parts.append(plain(raw[position : token.start()]))
        parts.append(chip(*_chip(token.group(0))))
        position = token.end()
    clipped = raw.removesuffix("…")
    cut = _cut_token(clipped)
    if cut is not None and cut.start() >= position:
        parts.append(plain(raw[position : cut.start()]))
        parts.append(chip(*_linkable_chip(cut, cut_short=True)))
        position = len(clipped)
    parts.append(plain(raw[position:]))
    return "".join(parts)


def _chip(token: str) -> tuple[str, str]:
    """The chip's label and title for one whole token."""
    linkable = LINKABLE_TOKEN.fullmatch(token)
    if linkable is not None:
        return _linkable_chip(linkable, cut_short=False)
    placeholder = _PLACEHOLDER.fullmatch(token)
    if placeholder is not None:
        what = _label(placeholder.group(1))
        title = f"Placeholder: {what} number {placeholder.group(2)} of this text"
        return f"{what} {placeholder.group(2)}", title
    return "redacted", "Redacted: the value was removed"


def _linkable_chip(token: re.Match[str], *, cut_short: bool) -> tuple[str, str]:
    kind = "encrypted" if token.group("encrypted") else "hashed"
    what = _label(token.group(kind))
    title = _KIND_TITLES[kind].format(what=what)
    if cut_short:
        title += " (cut short in this label)"
    return f"{kind} {what}", title


def _label(entity: str) -> str:
    return entity.lower().replace("_", " ")


def _span(label: str, title: str) -> str:
    return str(format_html('<span class="pii-chip" title="{}">{}</span>', title, label))


class Labelled:
    """A model instance whose `str()` shows its tokens as labels (`masked_labels`), for the
    admin's page headers and breadcrumbs, which print the object by its `str()`. Everything
    else (pk, _meta, fields) is the instance's own."""

    def __init__(self, instance: object) -> None:
        self._instance = instance

    def __getattr__(self, name: str) -> object:
        return getattr(self._instance, name)

    def __str__(self) -> str:
        return masked_labels(str(self._instance))
