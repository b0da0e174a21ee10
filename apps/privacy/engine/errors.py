"""Exceptions raised by the PII engine.

Callers (services, API views) map these to clear 4xx errors or configuration failures, so each
message says what was wrong and what to do about it.
"""


class PIIError(Exception):
    """Base class so callers can catch every engine failure in one place."""


class PIIInputError(PIIError, ValueError):
    """The text or JSON given to the engine cannot be scanned safely (bad type, too big, bad
    Unicode, too deep). A request that carries such input should be rejected with a 400."""


class PIIConfigError(PIIError):
    """The policy or keys are unusable (missing key, bad regex, names enabled without a
    backend). This is an operator mistake, not a user one."""


class PIIRevealError(PIIError):
    """An encrypted token could not be decrypted: unknown key id or tampered ciphertext."""
