"""A dataset's filter: which traces it reads. Stored as given (after checking) on the version,
shown on its page in words, and applied by apps.datasets.rows.

Keys: `verified_only` (default true: human edits and outcome-verified runs only; false adds
runs approved by a thumbs-up or a rating of 4-5, and thumbs-up/thumbs-down preference pairs),
`agents` (ids of the workspace's agents), `task_kinds` (slugs), `started_from` and
`started_until` (dates, UTC, both inclusive)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from apps.core.exceptions import ValidationFailed
from apps.workspaces.models import Agent, Workspace

KEYS = ("verified_only", "agents", "task_kinds", "started_from", "started_until")
MAX_LIST = 100
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")


def _invalid(key: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"filter.{key}: {message}", fields={f"filter.{key}": [message]})


def _ids(value: Any, key: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _invalid(key, f"A list of at most {MAX_LIST} ids.")
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise _invalid(key, "Ids are integers.")
    return sorted(set(value))


def _slugs(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _invalid(key, f"A list of at most {MAX_LIST} task kinds.")
    if not all(isinstance(item, str) and SLUG.match(item) for item in value):
        raise _invalid(key, "Task kinds are slugs (a-z, 0-9, - and _).")
    return sorted(set(value))


def _date(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _invalid(key, "A date, YYYY-MM-DD.")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise _invalid(key, "A date, YYYY-MM-DD.") from None


def clean_filter(workspace: Workspace, raw: Any) -> dict[str, Any]:
    """The filter in its stored form: known keys only, agents of this workspace only (an id
    of another workspace is refused like an unknown one), dates in order."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationFailed("filter must be an object.", fields={"filter": ["An object."]})
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValidationFailed(
            f"Unknown filter keys: {', '.join(map(str, unknown))}.",
            fields={"filter": [f"Known keys: {', '.join(KEYS)}."]},
        )
    verified = raw.get("verified_only", True)
    if not isinstance(verified, bool):
        raise _invalid("verified_only", "true or false.")
    cleaned: dict[str, Any] = {"verified_only": verified}
    if raw.get("agents"):
        agents = _ids(raw["agents"], "agents")
        found = Agent.objects.filter(workspace=workspace, pk__in=agents).count()
        if found != len(agents):
            raise _invalid("agents", "Agents of this workspace only.")
        cleaned["agents"] = agents
    if raw.get("task_kinds"):
        cleaned["task_kinds"] = _slugs(raw["task_kinds"], "task_kinds")
    for key in ("started_from", "started_until"):
        if raw.get(key) not in (None, ""):
            cleaned[key] = _date(raw[key], key)
    if cleaned.get("started_from", "") > cleaned.get("started_until", "9999"):
        raise _invalid("started_until", "Not before started_from.")
    return cleaned


def describe_filter(version_filter: dict[str, Any], agent_names: dict[int, str]) -> str:
    """The filter in words, as the dataset's page shows it."""
    parts = [
        "Verified examples only (human edits and outcome-verified runs)"
        if version_filter.get("verified_only", True)
        else "Human edits, outcome-verified runs and runs approved by thumbs-up or a 4-5 "
        "rating (with thumbs-up/thumbs-down pairs for preference data)"
    ]
    agents = version_filter.get("agents") or []
    parts.append(
        "agents: " + ", ".join(f"{agent_names.get(pk, 'agent')} (#{pk})" for pk in agents)
        if agents
        else "all agents"
    )
    kinds = version_filter.get("task_kinds") or []
    parts.append("task kinds: " + ", ".join(kinds) if kinds else "all task kinds")
    since, until = version_filter.get("started_from"), version_filter.get("started_until")
    if since or until:
        parts.append(f"runs started {since or 'any time'} to {until or 'now'} (UTC, inclusive)")
    else:
        parts.append("runs of any date")
    return "; ".join(parts) + "."
