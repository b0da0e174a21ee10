"""What a version's content must look like, per kind, checked when the version is saved (never
at check time): a policy pack's rules compile, a prompt declares the variables it uses, a
skill's JSON Schemas are schemas. `canonical` and `content_hash` make equal content hash alike.

    policy_pack: {"text": str, "rules": {...}}  (rules: apps.policies.rules.RULE_TYPES)
    prompt:      {"template": str, "variables": [name, ...]}   ({{ name }} placeholders)
    skill:       {"description": str, "input_schema": {...}, "output_schema": {...},
                  "allowed_tools": [str, ...], "max_steps": int}
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apps.core.exceptions import ValidationFailed
from apps.policies.models import ArtifactKind
from apps.policies.rules import rules_checked

MAX_CONTENT_BYTES = 64 * 1024
MAX_TEXT = 20_000
PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


def canonical(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: Any) -> str:
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"content.{field}: {message}", fields={f"content.{field}": [message]})


def _allowed_keys(content: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise _refuse(unknown[0], f"unknown key; use {', '.join(sorted(allowed))}.")


def _text(content: dict[str, Any], key: str, *, required: bool) -> str:
    value = content.get(key, "")
    if not isinstance(value, str):
        raise _refuse(key, "must be text.")
    if required and not value.strip():
        raise _refuse(key, "is required.")
    if len(value) > MAX_TEXT:
        raise _refuse(key, f"has at most {MAX_TEXT} characters.")
    return value


def _policy_pack(content: dict[str, Any]) -> dict[str, Any]:
    _allowed_keys(content, {"text", "rules"})
    text = _text(content, "text", required=False)
    rules = rules_checked(content.get("rules", {}))
    if not text.strip() and not rules:
        raise _refuse("text", "a pack needs text or rules.")
    return {"text": text, "rules": rules}


def _prompt(content: dict[str, Any]) -> dict[str, Any]:
    _allowed_keys(content, {"template", "variables"})
    template = _text(content, "template", required=True)
    variables = content.get("variables", [])
    if not isinstance(variables, list) or not all(
        isinstance(v, str) and NAME.match(v) for v in variables
    ):
        raise _refuse("variables", "must be a list of names (letters, digits, _).")
    used = set(PLACEHOLDER.findall(template))
    undeclared = sorted(used - set(variables))
    if undeclared:
        raise _refuse("variables", f"the template uses undeclared {', '.join(undeclared)}.")
    return {"template": template, "variables": sorted(set(variables))}


def _schema(content: dict[str, Any], key: str) -> dict[str, Any]:
    schema = content.get(key, {"type": "object"})
    if not isinstance(schema, dict):
        raise _refuse(key, "must be a JSON Schema object.")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise _refuse(key, f"not a valid JSON Schema at {path}: {exc.message}") from None
    return schema


def _skill(content: dict[str, Any]) -> dict[str, Any]:
    _allowed_keys(
        content, {"description", "input_schema", "output_schema", "allowed_tools", "max_steps"}
    )
    tools = content.get("allowed_tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
        raise _refuse("allowed_tools", "must be a list of tool names.")
    steps = content.get("max_steps", 10)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise _refuse("max_steps", "must be a whole number from 1 to 1000.")
    return {
        "description": _text(content, "description", required=True),
        "input_schema": _schema(content, "input_schema"),
        "output_schema": _schema(content, "output_schema"),
        "allowed_tools": sorted(set(tools)),
        "max_steps": steps,
    }


CHECKERS = {
    ArtifactKind.POLICY_PACK: _policy_pack,
    ArtifactKind.PROMPT: _prompt,
    ArtifactKind.SKILL: _skill,
}


def content_checked(kind: str, content: object) -> dict[str, Any]:
    """The content as stored (normalised), or ValidationFailed naming the field to fix."""
    if not isinstance(content, dict):
        raise ValidationFailed("content must be a JSON object.", fields={"content": ["Object."]})
    if len(canonical(content).encode()) > MAX_CONTENT_BYTES:
        raise ValidationFailed(
            f"content has at most {MAX_CONTENT_BYTES} bytes.", fields={"content": ["Too big."]}
        )
    return CHECKERS[ArtifactKind(kind)](content)
