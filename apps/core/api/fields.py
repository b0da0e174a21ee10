"""Strict JSON scalars for API input, shared by every app's serializers: JSON types are checked,
never coerced ("5" is not 5, 1 is not "1")."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return str(super().to_internal_value(data))


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"not_a_number": "Must be a JSON number."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number")
        try:
            infinite = math.isinf(data)
        except OverflowError:  # an integer of ~309 digits or more: DRF's own message
            self.fail("overflow")
        if infinite:
            self.fail("not_a_number")
        return float(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"not_an_integer": "Must be a JSON integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return int(super().to_internal_value(data))
