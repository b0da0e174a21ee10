"""The scorecard in the admin: the page per workspace with its team selector, charts (unfold's
Chart.js components) and the table of the weeks, for members only; the CSV with the page's
numbers; "Snapshot this week now" for owners and admins (others see no button and are
refused, nothing changes); the snapshot list and its query count."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.scorecards.admin import TABLE_COLUMNS
from apps.scorecards.models import WeeklyScorecard
from tests.api_helpers import WHO
from tests.scorecards.test_api import card

PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
MEMBERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")
SNAPSHOTTERS = ("owner", "admin", "operator")
ADMIN = "/admin/scorecards/weeklyscorecard"


@pytest.fixture
def staff(cast: Any) -> Any:
    for who in PEOPLE:
        user = cast.user(who)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    for week in range(3):
        card(cast.workspace, week)
    card(cast.workspace, 0, team=cast.sales, runs=5)
    card(cast.other_workspace, 0, runs=99)
    return cast


def page_url(cast: Any, suffix: str = "") -> str:
    return f"{ADMIN}/workspace/{cast.workspace.pk}/{suffix}"


@pytest.mark.parametrize("who", PEOPLE)
def test_the_page_shows_charts_and_weeks_to_members(client, staff, who):
    client.force_login(staff.user(who))

    page = client.get(page_url(staff))

    if who in MEMBERS:
        assert page.status_code == 200
        html = page.content.decode()
        for key in ("success", "escalations", "cost", "memories", "reviews", "trips"):
            assert f'data-testid="chart-{key}"' in html
        assert html.count('<canvas class="chart"') == 6
        assert 'data-testid="week-2026-10-19"' in html and "<svg" not in html.split("chart-")[1]
        assert ("Snapshot this week now" in html) is (who in SNAPSHOTTERS)
    else:
        assert page.status_code in (302, 403, 404)


def test_the_charts_hold_the_weeks(client, staff):
    client.force_login(staff.user("viewer"))

    html = client.get(page_url(staff)).content.decode()

    raw = re.search(
        r'data-testid="chart-trips">\s*<div[^>]*>\s*<canvas[^>]*data-value="([^"]+)"', html
    )
    assert raw is not None
    data = json.loads(raw.group(1).replace("&quot;", '"'))
    assert data["labels"] == ["2026-10-05", "2026-10-12", "2026-10-19"]
    assert data["datasets"][0]["data"] == [0, 1, 2]


@pytest.mark.parametrize("who", ["team_admin", "team_viewer"])
def test_team_members_see_their_team_only(client, staff, who):
    client.force_login(staff.user(who))

    theirs = client.get(page_url(staff) + f"?team={staff.sales.pk}")
    whole = client.get(page_url(staff))
    other = client.get(page_url(staff) + f"?team={staff.marketing.pk}")

    assert theirs.status_code == 200 and b'data-testid="week-2026-10-05"' in theirs.content
    assert whole.status_code == 404 and other.status_code == 404


@pytest.mark.parametrize("team", ["abc", "99999999", "-1", "1" * 30, "{their_team}"])
def test_a_bad_team_is_a_404(client, staff, team):
    from tests.workspaces.factories import TeamFactory

    their_team = TeamFactory(workspace=staff.other_workspace, slug="them")
    client.force_login(staff.user("owner"))

    for suffix in ("", "csv/"):
        response = client.get(
            page_url(staff, suffix), {"team": team.format(their_team=their_team.pk)}
        )
        assert response.status_code == 404


def test_another_workspace_is_a_404(client, staff):
    client.force_login(staff.user("owner"))

    assert client.get(f"{ADMIN}/workspace/{staff.other_workspace.pk}/").status_code == 404
    assert client.get(f"{ADMIN}/workspace/999999/").status_code == 404


def test_the_csv_holds_the_page_numbers(client, staff):
    client.force_login(staff.user("viewer"))

    html = client.get(page_url(staff)).content.decode()
    response = client.get(page_url(staff, "csv/"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert response["Content-Type"] == "text/csv" and len(rows) == 3
    for row in rows:
        block = html.split(f'data-testid="week-{row["week_start"]}">')[1].split("</tr>")[0]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", block, flags=re.S)[1 : 1 + len(TABLE_COLUMNS)]
        for (field, _), cell in zip(TABLE_COLUMNS, cells, strict=True):
            if field.endswith("_rate"):
                assert cell == f"{100 * float(row[field]):.1f}%", field
            else:
                assert cell == (row[field] or "-"), field


@pytest.mark.parametrize("who", PEOPLE)
def test_snapshot_this_week_now(client, staff, who):
    client.force_login(staff.user(who))
    before = WeeklyScorecard.objects.count()

    response = client.post(page_url(staff, "snapshot/"), {"team": str(staff.sales.pk)})

    made = WeeklyScorecard.objects.count() - before
    events = AuditEvent.objects.filter(action="scorecard.snapshot")
    if who in SNAPSHOTTERS:
        assert response.status_code == 302 and made == 1
        assert events.get().workspace_id == staff.workspace.pk
        assert WeeklyScorecard.objects.filter(team=staff.sales, complete=False).count() == 1
    else:
        assert response.status_code in (302, 403, 404)
        assert made == 0 and not events.exists()


def test_snapshot_needs_a_post(client, staff):
    client.force_login(staff.user("owner"))

    assert client.get(page_url(staff, "snapshot/")).status_code == 404
    assert WeeklyScorecard.objects.count() == 5


def test_the_list_reads_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for week in range(3, 20):
        card(staff.workspace, week)
    client.force_login(staff.user("viewer"))
    client.get(f"{ADMIN}/")

    with django_assert_max_num_queries(12):
        page = client.get(f"{ADMIN}/")

    assert page.status_code == 200 and b"Open the scorecard" in page.content


def test_the_page_reads_a_fixed_number_of_queries(client, staff, django_assert_max_num_queries):
    for week in range(3, 20):
        card(staff.workspace, week)
    client.force_login(staff.user("owner"))
    client.get(page_url(staff))

    with django_assert_max_num_queries(14):
        page = client.get(page_url(staff))

    assert page.status_code == 200 and page.content.count(b'data-testid="week-') == 20
