"""apps.core.prepared: the hottest queries as server-side prepared statements, still seen by
Django's query log; off with DB_PREPARED_STATEMENTS=false."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.prepared import prepared_cursor

MARK = "SELECT %s::int + 40 AS prepared_probe "
UNPREPARED = "SELECT %s::int + 40 AS unprepared_probe "


def prepared_probes(name: str = "prepared_probe") -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [f"%{name} %"],
        )
        return list(cursor.fetchall())


@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection_and_logged():
    with CaptureQueriesContext(connection) as queries:
        for value in (1, 2, 3):
            with prepared_cursor() as cursor:
                cursor.execute(MARK, [value])
                assert cursor.fetchone() == (value + 40,)

    [(statement, runs)] = prepared_probes()
    assert "$1" in statement and runs == 3
    assert [q["sql"] for q in queries] == [MARK] * 3


@pytest.mark.django_db
def test_off_when_the_setting_says_so(settings):
    settings.DB_PREPARED_STATEMENTS = False

    with prepared_cursor() as cursor:
        cursor.execute(UNPREPARED, [2])
        assert cursor.fetchone() == (42,)

    assert prepared_probes("unprepared_probe") == []
