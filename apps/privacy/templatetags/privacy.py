"""`{% load privacy %}{{ value|pii_chips }}`: masked text with its tokens shown as chips."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from apps.privacy.display import masked_chips

register = template.Library()


@register.filter
def pii_chips(value: object, limit: int | None = None) -> SafeString:
    """`{{ text|pii_chips }}`, or `{{ text|pii_chips:140 }}` to clip (never inside a token)."""
    return masked_chips(value, int(limit) if limit is not None else None)
