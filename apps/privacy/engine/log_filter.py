"""A logging filter that masks PII in log records before any handler writes them."""

from __future__ import annotations

import logging

from apps.privacy.engine.keys import MaskingKeys
from apps.privacy.engine.masking import text_mask
from apps.privacy.engine.policy import DEFAULT_POLICY, MaskingPolicy

MASKING_FAILED = "<log message withheld: PII masking failed>"


class PIIMaskingFilter(logging.Filter):
    """Formats the message with its args, masks the result and stores it back with no args,
    so handlers see only the masked text. Exception and stack text is masked the same way.

    A filter must never break logging: on any failure the message is replaced by a fixed
    notice (never passed through unmasked) and the record is still emitted.
    """

    def __init__(
        self,
        name: str = "",
        policy: MaskingPolicy = DEFAULT_POLICY,
        keys: MaskingKeys | None = None,
    ) -> None:
        super().__init__(name)
        self.policy = policy
        self.keys = keys

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = self._mask(record.getMessage())
        except Exception:
            record.msg = MASKING_FAILED
        record.args = None
        self._mask_exception(record)
        return True

    def _mask_exception(self, record: logging.LogRecord) -> None:
        try:
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self._mask(record.exc_text)
            if record.stack_info:
                record.stack_info = self._mask(record.stack_info)
        except Exception:
            record.exc_text = MASKING_FAILED
            record.stack_info = None

    def _mask(self, text: str) -> str:
        return text_mask(text, self.policy, self.keys).text
