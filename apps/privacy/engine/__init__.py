"""Steward's PII engine: detect personal data in text and JSON and mask it before storage.

Pure Python, no Django: services pass the workspace's policy and keys in. Entry points:
`text_mask`, `json_mask`, `detect`, `reveal`, `json_reveal`, `Masker` (several strings with one
placeholder numbering) and `PIIMaskingFilter` for logs. Findings hold raw values: keep them in
memory, never persist or log them.
"""

from apps.privacy.engine.detectors import NameBackend
from apps.privacy.engine.entities import EntityType, Finding, MaskedFinding
from apps.privacy.engine.errors import PIIConfigError, PIIError, PIIInputError, PIIRevealError
from apps.privacy.engine.json_walk import JsonFinding, JsonMaskResult, json_mask, json_reveal
from apps.privacy.engine.keys import (
    EncryptionKey,
    MaskingKeys,
    generate_secret,
    keyed_hash_token,
)
from apps.privacy.engine.log_filter import PIIMaskingFilter
from apps.privacy.engine.masking import (
    Masker,
    MaskResult,
    detect,
    reveal,
    text_mask,
    typed_placeholders,
)
from apps.privacy.engine.policy import (
    DEFAULT_ENTITIES,
    DEFAULT_POLICY,
    STRUCTURED_ENTITIES,
    MaskingPolicy,
    Operator,
)

__all__ = [
    "DEFAULT_ENTITIES",
    "DEFAULT_POLICY",
    "STRUCTURED_ENTITIES",
    "EncryptionKey",
    "EntityType",
    "Finding",
    "JsonFinding",
    "JsonMaskResult",
    "MaskResult",
    "MaskedFinding",
    "Masker",
    "MaskingKeys",
    "MaskingPolicy",
    "NameBackend",
    "Operator",
    "PIIConfigError",
    "PIIError",
    "PIIInputError",
    "PIIMaskingFilter",
    "PIIRevealError",
    "detect",
    "generate_secret",
    "json_mask",
    "json_reveal",
    "keyed_hash_token",
    "reveal",
    "text_mask",
    "typed_placeholders",
]
