"""Server-side prepared statements for the few hottest queries (the agent token lookup, the
guardrail check's one statement).

Django sends every query with client-side binding, so PostgreSQL parses and plans it on every
call; for the token lookup (four tables, two subqueries) planning cost more than running it.
`prepared_cursor()` is a Django cursor (health check, execute wrappers, query capture in
tests, Server-Timing) whose statements psycopg prepares on the server the first time a
connection runs them and reuses afterwards. Only queries sent through it are prepared:
Django's own cursors stay client-side, because psycopg never prepares on those.

Prepared statements live on one server connection: behind PgBouncer in transaction pooling
mode they need PgBouncer 1.21+ with `max_prepared_statements` set; otherwise set
DB_PREPARED_STATEMENTS=false and these queries run as Django's do.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

# psycopg prepares only when the connection's threshold is set; the Django default (None)
# turns preparing off. This cursor class asks for it on every statement, so the threshold
# only needs to be a number (this one is never reached by counting).
NEVER_BY_COUNT = 2**31 - 1


class _Sent:
    """What Django's query log reads (`cursor._query.query`): psycopg records it only for
    statements it does not prepare."""

    __slots__ = ("params", "query")

    def __init__(self, query: bytes) -> None:
        self.query, self.params = query, None


class PreparingCursor(psycopg.Cursor[Any]):
    """psycopg's server-side binding cursor, preparing every statement it runs."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        result = super().execute(query, params, **kwargs)
        if self._query is None:
            self._query = _Sent(query.encode() if isinstance(query, str) else query)  # type: ignore[assignment]
        return result


def prepared_cursor() -> Any:
    """A Django cursor (use it in a `with`) whose statements are prepared on the server."""
    cursor = connection.cursor()
    if not getattr(settings, "DB_PREPARED_STATEMENTS", True):
        return cursor
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = NEVER_BY_COUNT
    cursor.cursor.close()
    cursor.cursor = PreparingCursor(raw)
    return cursor
