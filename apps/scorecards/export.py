"""The weeks as CSV, streamed (one line per week): the same columns the admin's table and the
API show, from the same stored snapshots."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from apps.scorecards.models import NUMBER_FIELDS, WeeklyScorecard

CSV_COLUMNS = ("week_start", "team", "complete", *NUMBER_FIELDS, "experiments")


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def experiments_cell(card: WeeklyScorecard) -> str:
    """`key: difference [low, high] decision` for each experiment, `; `-separated."""
    parts = []
    for row in (card.details or {}).get("experiments", []):
        interval = row.get("always_valid_interval") or []
        shown = f"[{csv_value(interval[0])}, {csv_value(interval[1])}]" if interval else ""
        parts.append(
            f"{row['key']}: {csv_value(row.get('difference'))} {shown} {row.get('decision') or ''}"
        )
    return "; ".join(part.strip() for part in parts)


def card_cells(card: WeeklyScorecard) -> list[str]:
    team = card.team.slug if card.team_id and card.team else ""
    numbers = [csv_value(getattr(card, name)) for name in NUMBER_FIELDS]
    return [
        card.week_start.isoformat(),
        team,
        str(card.complete).lower(),
        *numbers,
        experiments_cell(card),
    ]


def csv_lines(cards: Iterable[WeeklyScorecard]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for card in cards:
        writer.writerow(card_cells(card))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def csv_response(cards: Iterable[WeeklyScorecard], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(cards), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
