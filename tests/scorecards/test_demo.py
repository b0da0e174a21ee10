"""The demo: eight complete weeks of scorecard for each demo workspace and team, computed from
rows written through the services (the weeks before the demo month included); seeding twice
adds nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from apps.core import clock
from apps.core.demo import seed_demo
from apps.scorecards.models import WeeklyScorecard
from apps.scorecards.selectors import scorecard_compute, week_start_of
from apps.signals.models import Trace

pytestmark = pytest.mark.django_db
DAYS = 2  # the month's first days (the rest is other tests'); the weeks before it are ours


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_eight_weeks_of_scorecard_from_real_rows():
    seed_demo(month_days=DAYS)
    first = WeeklyScorecard.objects.count()

    seed_demo(month_days=DAYS)

    assert WeeklyScorecard.objects.count() == first == 2 * 3 * 8
    this_week = week_start_of(clock.now())
    for slug in ("acme", "globex"):
        cards = WeeklyScorecard.objects.filter(workspace__slug=slug, team=None).order_by(
            "week_start"
        )
        weeks = [card.week_start for card in cards]
        assert weeks == [this_week - dt.timedelta(weeks=back) for back in range(8, 0, -1)]
        assert all(card.complete for card in cards)
        # the early weeks come from the history the scorecards demo wrote
        assert cards[0].runs > 0 and cards[0].positive_outcomes > 0
        assert cards[0].memories_created > 0 and cards[1].memories_approved > 0
        # stored numbers are what the rows say
        recomputed = scorecard_compute(cards[1].workspace, None, cards[1].week_start)
        assert recomputed["runs"] == cards[1].runs
        assert recomputed["memories_approved"] == cards[1].memories_approved
        # the history's proposals were all decided before the month: its queue is its own
        early = WeeklyScorecard.objects.get(workspace__slug=slug, team=None, week_start=weeks[1])
        assert early.reviews_decided > 0
        teams = WeeklyScorecard.objects.filter(workspace__slug=slug, team__isnull=False)
        assert teams.count() == 16 and sum(card.runs for card in teams) > 0
    assert Trace.objects.filter(task_kind="lead_follow_up").exists()


@override_settings(STEWARD_ALLOW_DEMO=True)
def test_a_demo_without_its_month_still_has_eight_weeks_of_cards():
    seed_demo(month_days=0)

    assert WeeklyScorecard.objects.count() == 48
    assert not Trace.objects.filter(task_kind="lead_follow_up").exists()
