"""`Authorization: Bearer stw_<prefix>_<secret>` for agents."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.core.prepared import prepared_cursor
from apps.guardrails.enforcement import PAUSED_SQL, agent_paused_error
from apps.workspaces.models import Agent, AgentToken, Team, Workspace
from apps.workspaces.services import hash_token, split_token

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class AgentTokenAuthentication(BaseAuthentication):
    """Looks the token up by its public prefix, then compares hashes in constant time.

    A hot view may set `token_joined` = (SQL expression, join clause) to read one more value
    in the same query (the agent's table is `a`); the token then carries it as
    `token.joined`. The bundle endpoint reads its ETag's revision this way, so a 304 is one
    query."""

    def authenticate(self, request: Request) -> tuple[Agent, AgentToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Bearer <token>'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = self._lookup(raw, request)
        self._check_usable(token)
        paused = getattr(token, "paused_switch_id", None)  # a kill switch covers the agent
        if paused is not None:
            raise agent_paused_error(paused)
        self._touch(token)
        return token.agent, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="steward"'

    def _lookup(self, raw: str, request: Request) -> AgentToken:
        parts = split_token(raw)
        joined = getattr(request.parser_context.get("view"), "token_joined", None)
        token = token_with_agent(parts[0], joined) if parts is not None else None
        if token is None or not constant_time_compare(token.secret_hash, hash_token(raw)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return token

    def _check_usable(self, token: AgentToken) -> None:
        refusal = token_refusal(token)
        if refusal is not None:
            raise exceptions.AuthenticationFailed(refusal)

    def _touch(self, token: AgentToken) -> None:
        token_touch(token)


def token_refusal(token: AgentToken) -> str | None:
    """Why a token that matched cannot be used (revoked, expired, agent deactivated), or None."""
    if token.revoked_at is not None:
        return "This token was revoked."
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "This token has expired."
    if not token.agent.is_active:
        return "This agent is deactivated."
    return None


def token_touch(token: AgentToken) -> None:
    """Record last use at one-minute resolution: telemetry, not a governed change."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        AgentToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def bearer_token_usable(header: str, joined: tuple[str, str] | None) -> AgentToken | None:
    """The token of an `Authorization: Bearer` header when AgentTokenAuthentication would let
    it through (it matches, is usable, no kill switch covers its agent; last use touched),
    else None: a lean view then hands the request to the full stack, which says why."""
    if not header.isascii():
        return None
    parts = header.encode().split()  # bytes, as DRF's get_authorization_header splits it
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    raw = parts[1].decode()
    split = split_token(raw)
    token = token_with_agent(split[0], joined) if split is not None else None
    if token is None or not constant_time_compare(token.secret_hash, hash_token(raw)):
        return None
    if token_refusal(token) is not None or getattr(token, "paused_switch_id", None) is not None:
        return None
    token_touch(token)
    return token


# The token, its agent, the agent's workspace and team, as select_related would load them.
_JOINED: tuple[tuple[type[models.Model], str], ...] = (
    (AgentToken, "t"),
    (Agent, "a"),
    (Workspace, "w"),
    (Team, "tm"),
)
Converters = list[tuple[int, list[Any], Any]]


@functools.cache
def _lookup_plan(
    joined: tuple[str, str] | None,
) -> tuple[str, tuple[tuple[type[models.Model], list[str], Converters], ...]]:
    """The lookup's SQL and, per model, its columns' attnames and the database converters the
    ORM would apply: built once per process. Every API call of an agent runs this lookup, and
    compiling the same four-table select_related query each time cost more than running it."""
    selected: list[str] = []
    plans = []
    for model, alias in _JOINED:
        fields = model._meta.concrete_fields
        selected += [f'{alias}."{field.column}"' for field in fields]
        plans.append((model, [field.attname for field in fields], _converters(fields, alias)))
    tables = {model: model._meta.db_table for model, _ in _JOINED}
    extra_select, extra_join = joined or ("NULL", "")
    sql = (
        f"SELECT {', '.join(selected)}, {extra_select}, "  # noqa: S608 - names from the code
        f"{PAUSED_SQL} "
        f'FROM "{tables[AgentToken]}" t '
        f'INNER JOIN "{tables[Agent]}" a ON a."id" = t."agent_id" '
        f'INNER JOIN "{tables[Workspace]}" w ON w."id" = a."workspace_id" '
        f'LEFT OUTER JOIN "{tables[Team]}" tm ON tm."id" = a."team_id" {extra_join} '
        'WHERE t."prefix" = %s LIMIT 1'
    )
    return sql, tuple(plans)


def _converters(fields: Any, alias: str) -> Converters:
    found = []
    for index, field in enumerate(fields):
        col = field.get_col(alias)
        functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if functions:
            found.append((index, functions, col))
    return found


def token_with_agent(prefix: str, joined: tuple[str, str] | None = None) -> AgentToken | None:
    """The token with this prefix, its agent, workspace and team cached on it (and the
    `joined` value as token.joined): one query."""
    sql, plans = _lookup_plan(joined)
    with prepared_cursor() as cursor:  # planned once per connection
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    instances: list[Any] = []
    start = 0
    for model, attnames, converters in plans:
        values = list(row[start : start + len(attnames)])
        start += len(attnames)
        for index, functions, col in converters:
            for function in functions:
                values[index] = function(values[index], col, connection)
        missing = values[0] is None  # the agent has no team
        instances.append(None if missing else model.from_db(connection.alias, attnames, values))
    token, agent, workspace, team = instances
    Agent.workspace.field.set_cached_value(agent, workspace)
    Agent.team.field.set_cached_value(agent, team)
    AgentToken.agent.field.set_cached_value(token, agent)
    token.joined = row[-2]
    token.paused_switch_id = row[-1]
    return cast(AgentToken, token)


class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.workspaces.authentication.AgentTokenAuthentication"
    name = "AgentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "stw_<prefix>_<secret>"}
