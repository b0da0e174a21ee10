"""GET /api/v1/scorecards and /api/v1/scorecards/csv: the permission matrix, bad input, query
counts, and the CSV holding the same numbers as the JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.scorecards.models import NUMBER_FIELDS, WeeklyScorecard
from tests.api_helpers import OUTSIDE, READERS, TEAM, assert_error, each, matrix
from tests.workspaces.factories import TeamFactory

BASE = "/api/v1/scorecards"
MEMBERS = ("owner", "admin", *READERS, "operator")
MONDAY = dt.date(2026, 10, 5)


def card(workspace: Any, week: int, team: Any = None, **numbers: Any) -> WeeklyScorecard:
    defaults = {
        "runs": 10 + week,
        "successes": 8,
        "escalations": 1,
        "success_rate": 0.8,
        "escalation_rate": 0.1,
        "cost": Decimal("12.5"),
        "positive_outcomes": 4,
        "cost_per_outcome": Decimal("3.125"),
        "memories_net": -2,
        "review_open_age_median_hours": 30.25,
        "guardrail_trips": week,
        "complete": True,
        "details": {
            "experiments": [
                {
                    "key": "subject-lines",
                    "difference": 0.02,
                    "always_valid_interval": [-0.01, 0.05],
                    "decision": "inconclusive",
                }
            ]
        },
    }
    return WeeklyScorecard.objects.create(
        workspace=workspace,
        team=team,
        week_start=MONDAY + dt.timedelta(weeks=week),
        **{**defaults, **numbers},
    )


@pytest.fixture
def cards(cast: Any) -> None:
    for week in range(3):
        card(cast.workspace, week)
    card(cast.workspace, 0, team=cast.sales, runs=5)
    card(cast.other_workspace, 0, runs=99)


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *MEMBERS), **each(404, *TEAM, *OUTSIDE))
)
def test_the_workspace_weeks(client_as, cast, cards, who, status):
    response = client_as(who).get(BASE, {"workspace": cast.workspace.pk})

    assert response.status_code == status
    if status == 200:
        weeks = response.json()
        assert [row["week_start"] for row in weeks] == ["2026-10-05", "2026-10-12", "2026-10-19"]
        assert {row["team"] for row in weeks} == {None}
        assert weeks[0]["runs"] == 10 and weeks[0]["cost_per_outcome"] == "3.125000"
    elif status == 404:
        assert_error(response, 404)


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *MEMBERS, *TEAM), **each(404, *OUTSIDE))
)
def test_a_team_weeks(client_as, cast, cards, who, status):
    response = client_as(who).get(BASE, {"workspace": cast.workspace.pk, "team": cast.sales.pk})

    assert response.status_code == status
    if status == 200:
        assert [(row["team"], row["runs"]) for row in response.json()] == [(cast.sales.pk, 5)]


@pytest.mark.parametrize(
    ("who", "status"), matrix(**each(200, *MEMBERS), **each(404, *TEAM, *OUTSIDE))
)
def test_the_csv(client_as, cast, cards, who, status):
    response = client_as(who).get(f"{BASE}/csv", {"workspace": cast.workspace.pk})

    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "text/csv"
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [row["week_start"] for row in rows] == ["2026-10-05", "2026-10-12", "2026-10-19"]


def test_the_csv_holds_the_same_numbers_as_the_json(client_as, cast, cards):
    client = client_as("viewer")
    query = {"workspace": cast.workspace.pk}

    weeks = client.get(BASE, query).json()
    body = b"".join(client.get(f"{BASE}/csv", query).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))

    assert len(rows) == len(weeks) == 3
    for row, week in zip(rows, weeks, strict=True):
        assert row["week_start"] == week["week_start"]
        for name in NUMBER_FIELDS:
            expected = week[name]
            if expected is None:
                assert row[name] == ""
            else:
                assert Decimal(row[name]) == Decimal(str(expected)), name
        assert row["experiments"] == "subject-lines: 0.02 [-0.01, 0.05] inconclusive"


def test_the_other_workspace_stays_out(client_as, cast, cards):
    response = client_as("outsider").get(BASE, {"workspace": cast.other_workspace.pk})

    assert [row["runs"] for row in response.json()] == [99]


def test_weeks_limits_to_the_latest(client_as, cast, cards):
    response = client_as("owner").get(BASE, {"workspace": cast.workspace.pk, "weeks": 2})

    assert [row["week_start"] for row in response.json()] == ["2026-10-12", "2026-10-19"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"workspace": "acme"}, 400),
        ({"workspace": "0"}, 400),
        ({"workspace": "1.5"}, 400),
        ({"workspace": str(2**64)}, 400),
        ({"workspace": "{ws}", "team": "sales"}, 400),
        ({"workspace": "{ws}", "weeks": "0"}, 400),
        ({"workspace": "{ws}", "weeks": "100000"}, 400),
        ({"workspace": "999999"}, 404),
        ({"workspace": "{ws}", "team": "999999"}, 404),
        ({"workspace": "{ws}", "team": "{their_team}"}, 404),
        ({"workspace": "{theirs}"}, 404),
    ],
)
def test_bad_input(client_as, cast, cards, query, status):
    their_team = TeamFactory(workspace=cast.other_workspace, slug="them")
    names = {
        "ws": cast.workspace.pk,
        "theirs": cast.other_workspace.pk,
        "their_team": their_team.pk,
    }
    filled = {key: value.format(**names) for key, value in query.items()}

    for path in (BASE, f"{BASE}/csv"):
        assert_error(client_as("owner").get(path, filled), status)


def test_writes_are_not_allowed(client_as, cast, cards):
    response = client_as("owner").post(BASE, {"workspace": cast.workspace.pk}, format="json")

    assert response.status_code == 405
    assert WeeklyScorecard.objects.count() == 5


def _queries(client: Any, query: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(BASE, query).status_code == 200
    return len(captured)


def test_the_list_reads_a_fixed_number_of_queries(client_as, cast, django_assert_num_queries):
    client = client_as("viewer")
    card(cast.workspace, 0)
    query = {"workspace": cast.workspace.pk}
    few = _queries(client, query)
    for week in range(1, 12):
        card(cast.workspace, week)

    with django_assert_num_queries(few):
        assert len(client.get(BASE, query).json()) == 12
    assert few <= 4
