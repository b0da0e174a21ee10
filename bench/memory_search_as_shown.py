"""The memory changelist's search "as shown" (apps/memories/admin.py get_search_results,
apps/privacy/display.py shown_text_sql) against a plain ILIKE, on generated rows (no table is
written): `python manage.py shell < bench/memory_search_as_shown.py`.

Prints seconds per million rows for words that match nothing, match text, match a label's
entity name, and can only come from a label ("encrypted"), with every row or one row in ten
holding tokens. Full scans (count(*)): the changelist reads one page (LIMIT 51), so a word
that matches many rows stops early there.
"""

from __future__ import annotations

import time

from django.db import connection

from apps.memories.admin import _label_only_word
from apps.memories.models import MemoryItem
from apps.privacy.display import shown_text_sql

ROWS = 200_000
WORDS = ("renewal", "called", "email", "encrypted")
WITH_TOKENS = (
    "'Customer <ENC:EMAIL:k1:3qLGk9ZrAbCdEfGhIjKlMnOpQrStUv> asked about pricing ' || i"
    " || ' and <PHONE_2> called'"
)
WITHOUT = "'Customer asked about pricing for plan ' || i || ' and called back'"


def shown_sql() -> tuple[str, list[object]]:
    """The search expression as Django compiles it, over a column `c`."""
    query = MemoryItem.objects.annotate(s=shown_text_sql("content")).values("s").query
    sql, params = query.sql_with_params()
    expression = sql.split("SELECT ", 1)[1].rsplit(" AS ", 1)[0]
    return expression.replace('"memories_memoryitem"."content"', "c"), list(params)


def rows(every: int) -> str:
    """ROWS generated texts, one in `every` holding tokens."""
    return (
        f"SELECT count(*) FROM (SELECT CASE WHEN mod(i, {every}) = 0 THEN {WITH_TOKENS} "  # noqa: S608 - constants
        f"ELSE {WITHOUT} END AS c FROM generate_series(1, {ROWS}) i) t WHERE "
    )


def timed(cursor: object, sql: str, params: list[object]) -> tuple[float, int]:
    start = time.perf_counter()
    cursor.execute(sql, params)  # type: ignore[attr-defined]
    found = cursor.fetchone()[0]  # type: ignore[attr-defined]
    return time.perf_counter() - start, found


def main() -> None:
    expression, params = shown_sql()
    per_million = 1_000_000 / ROWS
    with connection.cursor() as cursor:
        for every, label in ((1, "all rows with tokens"), (10, "1 in 10 with tokens")):
            for word in WORDS:
                pattern = f"%{word}%"
                candidates = (
                    "(c ILIKE %s OR c LIKE '%%<%%')" if _label_only_word(word) else ("(c ILIKE %s)")
                )
                plain = timed(cursor, rows(every) + "c ILIKE %s", [pattern])
                shown = timed(
                    cursor,
                    rows(every) + f"{candidates} AND ({expression}) ILIKE %s",
                    [pattern, *params, pattern],
                )
                print(
                    f"{label}, {word!r}: plain {plain[0] * per_million:.1f} s/1M "
                    f"({plain[1]} rows); as shown {shown[0] * per_million:.1f} s/1M "
                    f"({shown[1]} rows)"
                )


main()
