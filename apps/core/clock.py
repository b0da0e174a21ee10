"""Steward's clock: what services and model defaults take as "now".

`now()` is Django's `timezone.now()` unless a caller froze the clock with `frozen_at(when)`;
inside that block (this thread or task only: a context variable) it is `when`. The demo seed
uses it to write a month of history through the real services, so every row, every review
request and every audit event carries the backdated time, and the audit chain hashes that
time (no row is rewritten afterwards, nothing bypasses the audit).

Services call `clock.now()` where they stamp a time. Model fields whose default is
`timezone.now`, and `auto_now` / `auto_now_add` fields, read the same clock once
`install_model_clock()` has run (CoreConfig.ready): it swaps the field's resolved default and
its pre_save on the field objects at start-up rather than in the models, so migrations keep
naming `django.utils.timezone.now` and nothing changes outside `frozen_at`.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.utils import timezone

_frozen: ContextVar[dt.datetime | None] = ContextVar("steward_clock_frozen", default=None)


def now() -> dt.datetime:
    """The current time, or the frozen one inside `frozen_at`."""
    frozen = _frozen.get()
    return frozen if frozen is not None else timezone.now()


def is_frozen() -> bool:
    return _frozen.get() is not None


@contextmanager
def frozen_at(when: dt.datetime) -> Iterator[dt.datetime]:
    """Make `now()` return `when` inside the block (an aware datetime; nesting restores)."""
    if timezone.is_naive(when):
        raise ValueError("frozen_at needs an aware datetime.")
    token = _frozen.set(when)
    try:
        yield when
    finally:
        _frozen.reset(token)


def _clocked_pre_save(field: Any, model_instance: Any, add: bool) -> Any:
    if field.auto_now or (field.auto_now_add and add):
        value = now()
        setattr(model_instance, field.attname, value)
        return value
    return type(field).pre_save(field, model_instance, add)


def install_model_clock() -> int:
    """Point every installed model's `timezone.now` defaults and auto_now(_add) datetime fields
    at `now()`; returns how many fields read the clock. Idempotent."""
    from django.apps import apps
    from django.db import models

    swapped = 0
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.local_fields:
            if not isinstance(field, models.DateTimeField):
                continue
            if field.has_default() and field.default is timezone.now:
                field.__dict__["_get_default"] = now  # Field._get_default is a cached_property
                swapped += 1
            elif field.auto_now or field.auto_now_add:
                field.pre_save = types.MethodType(_clocked_pre_save, field)  # type: ignore[method-assign]
                swapped += 1
    return swapped
