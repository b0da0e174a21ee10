"""masked_chips(): masked text for people to read. Every token the engine leaves in stored text
(`<EMAIL_1>`, `<PHONE:3f9a...>`, `<ENC:EMAIL:k1:...>`, `<REDACTED>`) becomes a small labelled
chip (`email 1`, `hashed phone`, `encrypted email`, `redacted`), so the admin console shows what
was masked without filling pages with ciphertext and hashes. Display only: what is stored is
unchanged, and edit forms keep the raw text. The token grammar is the engine's own regexes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, F, Func, TextField, Value, When
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.privacy.engine.entities import EntityType
from apps.privacy.engine.keys import ENCRYPTED_TOKEN
from apps.privacy.engine.masking import MASK_TOKEN
from apps.privacy.engine.unlink import LINKABLE_TOKEN, PLACEHOLDER_TOKEN, cut_token

_KIND_TITLES = {
    "encrypted": "Encrypted {what}: the stored text holds ciphertext, not the value",
    "hashed": "Hashed {what} (keyed hash): the same value gives the same hash; no value is kept",
}


@dataclass(frozen=True)
class RevealInPlace:
    """Makes each whole encrypted token's chip a small reveal form: `url` is the reveal view
    with `{index}` for the token's position among the text's encrypted tokens (0-based). Only
    for people who may reveal (apps.privacy.services.may_reveal); the view checks again."""

    url: str
    csrf_token: str


def masked_chips(
    text: object, limit: int | None = None, reveal: RevealInPlace | None = None
) -> SafeString:
    """`text` HTML-escaped, with each masking token replaced by a labelled chip. Text without
    tokens comes back escaped and otherwise unchanged; None becomes the empty string. A hash or
    encrypted token cut short at the end (a clipped label, with or without a trailing `…`)
    is a chip as well, so no prefix of a hash or ciphertext shows. With `limit`, text longer
    than `limit` characters is clipped there and ends in `…`, never inside a token. With
    `reveal`, encrypted chips open a reason box that reveals that one value in place."""
    raw = "" if text is None else str(text)
    if limit is not None and len(raw) > limit:
        raw = clip(raw, limit)
    chip: Callable[..., str] = _span
    if reveal is not None:
        counter = iter(range(1_000_000))

        def chip(label: str, title: str, token: str = "") -> str:
            if token and ENCRYPTED_TOKEN.fullmatch(token):
                index = next(counter)
                return reveal_chip(
                    token,
                    index=index,
                    url=reveal.url.replace("{index}", str(index)),
                    csrf_token=reveal.csrf_token,
                )
            return _span(label, title)

    return mark_safe(_render(raw, escape, chip))  # noqa: S308 - parts escaped or format_html


def reveal_chip(token: str, *, index: int, url: str, csrf_token: str, error: str = "") -> str:
    """One encrypted value's chip that opens a small form (a reason and "Reveal"); htmx posts
    it to `url` and puts the answer (the value, or this chip again with `error`) in its place.
    No <form> element: chips sit inside the admin's change form, so the reason box has a name of
    its own and htmx sends only it (hx-params), not the change form around it. Never holds the
    token."""
    label, title = _chip(token)
    headers = json.dumps({"X-CSRFToken": csrf_token})
    return str(
        format_html(
            '<span class="pii-reveal inline-block align-top" data-testid="pii-reveal-{index}">'
            '<details class="inline-block"{open}>'
            '<summary class="pii-chip cursor-pointer" title="{title}. Click to reveal it.">'
            "{label}</summary>"
            '<span class="flex flex-row flex-wrap gap-2 items-center mt-1">'
            '<input type="text" name="reveal_reason_{index}" maxlength="500" required '
            'aria-label="Reason for revealing {label}" placeholder="Why do you need to see it?" '
            'class="border border-base-200 rounded-default px-2 py-1 text-sm" '
            "onkeydown=\"if(event.key==='Enter'){{event.preventDefault();"
            "this.parentNode.querySelector('button').click();}}\">"
            '<button type="button" class="bg-primary-600 text-white rounded-default px-2 py-1 '
            'text-sm" hx-post="{url}" hx-include="previous input" '
            'hx-params="reveal_reason_{index}" '
            'hx-target="closest .pii-reveal" hx-swap="outerHTML" hx-headers="{headers}">'
            "Reveal</button>"
            '<span class="text-red-600 text-sm" role="alert">{error}</span>'
            '<span class="text-xs text-base-500">Audited: you and your reason.</span>'
            "</span></details></span>",
            index=index,
            open=mark_safe(" open") if error else "",
            title=title,
            label=label,
            url=url,
            headers=headers,
            error=error,
        )
    )


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters plus `…`; a token across the cut is kept whole."""
    end = limit
    for token in MASK_TOKEN.finditer(text):
        if token.start() >= limit:
            break
        if limit < token.end():
            end = token.end()
    return f"{text[:end]}…"


def masked_labels(text: object) -> str:
    """Plain text for where no HTML goes (a page's <title>, an object's label in a header):
    each token as its label in brackets, `[encrypted email]`. Escape it as any text."""
    return _render(text, str, lambda label, title, token="": f"[{label}]")


def _render(text: object, plain: Callable[[str], str], chip: Callable[..., str]) -> str:
    raw = "" if text is None else str(text)
    if "<" not in raw:
        return plain(raw)
    parts: list[str] = []
    position = 0
    for token in MASK_TOKEN.finditer(raw):
        parts.append(plain(raw[position : token.start()]))
        parts.append(chip(*_chip(token.group(0)), token.group(0)))
        position = token.end()
    clipped = raw.removesuffix("…")
    cut = cut_token(clipped)
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
    placeholder = PLACEHOLDER_TOKEN.fullmatch(token)
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


def _span(label: str, title: str, token: str = "") -> str:
    return str(format_html('<span class="pii-chip" title="{}">{}</span>', title, label))


def shown_text_sql(field: str) -> Any:
    """A database expression of `field` as people read it: each token becomes its label's
    words (`<ENC:EMAIL:k1:...>` -> `encrypted EMAIL`, `<PHONE:3f9a...>` -> `hashed PHONE`,
    `<EMAIL_1>` -> `EMAIL 1`, `<REDACTED>` -> `redacted`; `IP_ADDRESS` -> `IP ADDRESS`), so a
    search matches what the page shows: "email 1" finds the chip, and a piece of a hash or
    ciphertext finds nothing. Case is left to the lookup (icontains).

    Cost: PostgreSQL's regexes are slow (measured ~60 µs a row with tokens against ~5 µs for a
    plain ILIKE, docs/benchmarks.md), so text without a `<` is compared as it is, and the
    patterns take any upper-case entity name instead of the engine's list of types (that list
    as an alternation measured ~140 µs a row). Text that only looks like a token, with an
    unknown type, is read as one here though the page shows it raw; tests compare this with
    masked_labels for every type."""
    rules = [
        (r"<ENC:([A-Z][A-Z_]*):[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]+>", r"encrypted \1"),
        (r"<([A-Z][A-Z_]*):[0-9a-f]{8,64}>", r"hashed \1"),
        (r"<([A-Z][A-Z_]*)_([0-9]+)>", r"\1 \2"),
    ]
    expression: Any = Func(
        F(field),
        Value("<REDACTED>"),
        Value("redacted"),
        function="replace",
        output_field=TextField(),
    )
    for pattern, replacement in rules:
        expression = Func(
            expression,
            Value(pattern),
            Value(replacement),
            Value("g"),
            function="regexp_replace",
            output_field=TextField(),
        )
    for entity in EntityType:
        if "_" in entity.value:
            expression = Func(
                expression,
                Value(entity.value),
                Value(entity.value.replace("_", " ")),
                function="replace",
                output_field=TextField(),
            )
    return Case(
        When(**{f"{field}__contains": "<"}, then=expression),
        default=F(field),
        output_field=TextField(),
    )


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
