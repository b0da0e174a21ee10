"""Snapshots: written once per workspace, team and week, frozen once the week ended, audited;
the weekly job on a real worker; erasure and retention after the snapshot change nothing."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.compliance.models import RetentionRule
from apps.compliance.retention import retention_rule_enforce, retention_rules_ensure
from apps.core import clock
from apps.core.exceptions import Forbidden, NotFound, ValidationFailed
from apps.scorecards.models import WeeklyScorecard
from apps.scorecards.selectors import week_start_of
from apps.scorecards.services import scorecard_snapshot, scorecards_snapshot_week
from apps.scorecards.tasks import snapshot_week
from apps.signals.models import Outcome, Trace
from apps.workspaces.principal import Principal
from tests.scorecards.world import build_week
from tests.workspaces.factories import TeamFactory

SYSTEM = Principal.system("tests")


@pytest.mark.django_db
def test_the_weekly_job_writes_one_card_per_workspace_and_team_once(cast):
    week, _ = build_week(cast)

    first = scorecards_snapshot_week(actor=SYSTEM, week_start=week)
    again = scorecards_snapshot_week(actor=SYSTEM, week_start=week)

    # the cast's workspace (whole, sales, marketing) and the other workspace (whole)
    assert (first, again) == (4, 0)
    cards = WeeklyScorecard.objects.filter(week_start=week)
    assert cards.count() == 4 and all(card.complete for card in cards)
    whole = cards.get(workspace=cast.workspace, team=None)
    assert (whole.runs, whole.positive_outcomes, whole.guardrail_trips) == (7, 5, 4)
    assert whole.cost_per_outcome == Decimal("1.200000")
    events = AuditEvent.objects.filter(action="scorecard.snapshot")
    assert events.count() == 4
    event = events.get(object_id=str(whole.pk))
    assert event.workspace_id == cast.workspace.pk and event.after["runs"] == 7


@pytest.mark.django_db
def test_a_finished_week_is_frozen_until_an_operator_replaces_it(cast):
    week, _ = build_week(cast)
    card, wrote = scorecard_snapshot(
        actor=cast.user("owner"), workspace=cast.workspace, team=None, week_start=week
    )
    Trace.objects.filter(workspace=cast.workspace).delete()

    kept, rewrote = scorecard_snapshot(
        actor=cast.user("owner"), workspace=cast.workspace, team=None, week_start=week
    )
    replaced, _ = scorecard_snapshot(
        actor=SYSTEM, workspace=cast.workspace, team=None, week_start=week, replace=True
    )

    assert (wrote, rewrote) == (True, False)
    assert kept.pk == card.pk and kept.runs == 7
    assert replaced.pk == card.pk and replaced.runs == 0


@pytest.mark.django_db
def test_a_week_in_progress_is_redone_and_not_frozen(cast):
    week = week_start_of(clock.now())
    card, _ = scorecard_snapshot(actor=SYSTEM, workspace=cast.workspace, team=None, week_start=week)
    Trace.objects.create(
        workspace=cast.workspace,
        agent=cast.agent,
        task="t",
        status="success",
        started_at=dt.datetime.combine(week, dt.time(1), tzinfo=dt.UTC),
    )

    again, wrote = scorecard_snapshot(
        actor=SYSTEM, workspace=cast.workspace, team=None, week_start=week
    )

    assert not card.complete and wrote
    assert (card.runs, again.runs) == (0, 1)
    assert WeeklyScorecard.objects.count() == 1


@pytest.mark.django_db
def test_erasure_and_retention_after_the_snapshot_leave_the_card_unchanged(cast):
    week, _ = build_week(cast)
    scorecards_snapshot_week(actor=SYSTEM, week_start=week)
    before = {
        (card.workspace_id, card.team_id): card.as_row() | {"details": card.details}
        for card in WeeklyScorecard.objects.all()
    }
    retention_rules_ensure(cast.workspace)
    later = clock.now() + dt.timedelta(days=400)
    for target in ("signals.Outcome", "signals.Trace"):
        rule = RetentionRule.objects.get(workspace=cast.workspace, target=target)
        retention_rule_enforce(rule_id=rule.pk, now=later)
    assert not Trace.objects.filter(workspace=cast.workspace).exists()
    assert not Outcome.objects.filter(workspace=cast.workspace).exists()

    scorecards_snapshot_week(actor=SYSTEM, week_start=week)

    after = {
        (card.workspace_id, card.team_id): card.as_row() | {"details": card.details}
        for card in WeeklyScorecard.objects.all()
    }
    assert after == before
    assert after[(cast.workspace.pk, None)]["runs"] == 7
    assert after[(cast.workspace.pk, cast.sales.pk)]["runs"] == 5


@pytest.mark.django_db
def test_retention_removes_cards_past_three_years_only(cast):
    old = WeeklyScorecard.objects.create(workspace=cast.workspace, week_start=dt.date(2020, 1, 6))
    recent = WeeklyScorecard.objects.create(
        workspace=cast.workspace, week_start=week_start_of(clock.now()) - dt.timedelta(days=7)
    )
    retention_rules_ensure(cast.workspace)
    rule = RetentionRule.objects.get(workspace=cast.workspace, target="scorecards.WeeklyScorecard")

    deleted = retention_rule_enforce(rule_id=rule.pk)

    assert deleted == 1 and rule.keep_days == 156 * 7
    assert list(WeeklyScorecard.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not WeeklyScorecard.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["editor", "reviewer", "auditor", "viewer", "outsider", "agent"])
def test_only_owners_admins_and_system_snapshot(cast, who):
    actor = cast.agent if who == "agent" else cast.user(who)
    week = week_start_of(clock.now())

    with pytest.raises(NotFound):
        scorecard_snapshot(actor=actor, workspace=cast.workspace, team=None, week_start=week)

    assert not WeeklyScorecard.objects.exists()
    assert not AuditEvent.objects.filter(action="scorecard.snapshot").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["owner", "admin"])
def test_owners_and_admins_snapshot(cast, who):
    week = week_start_of(clock.now())

    card, _ = scorecard_snapshot(
        actor=cast.user(who), workspace=cast.workspace, team=cast.sales, week_start=week
    )

    assert card.team == cast.sales
    assert AuditEvent.objects.get(action="scorecard.snapshot").actor_label == who


@pytest.mark.django_db
def test_bad_weeks_and_teams_are_refused(cast):
    owner, this_week = cast.user("owner"), week_start_of(clock.now())
    elsewhere = TeamFactory(workspace=cast.other_workspace, slug="x")
    cases = [
        (ValidationFailed, {"team": None, "week_start": this_week + dt.timedelta(days=1)}),
        (ValidationFailed, {"team": None, "week_start": this_week + dt.timedelta(days=7)}),
        (NotFound, {"team": elsewhere, "week_start": this_week}),
    ]
    for error, args in cases:
        with pytest.raises(error):
            scorecard_snapshot(actor=owner, workspace=cast.workspace, **args)
    with pytest.raises(Forbidden):
        scorecards_snapshot_week(actor=owner)
    assert not WeeklyScorecard.objects.exists()


def test_the_beat_runs_the_job_on_monday_at_one_utc():
    entry = settings.CELERY_BEAT_SCHEDULE["scorecards-snapshot-week"]

    assert entry["task"] == "scorecards.snapshot_week"
    assert entry["schedule"] == crontab(minute="0", hour="1", day_of_week="1")
    assert settings.CELERY_TIMEZONE == "UTC"


def test_the_job_snapshots_on_a_real_worker(celery_worker, cast):
    week, _ = build_week(cast)

    snapshot_week.delay(week.isoformat())
    deadline = time.monotonic() + 60
    while WeeklyScorecard.objects.count() < 4 and time.monotonic() < deadline:
        time.sleep(0.2)

    card = WeeklyScorecard.objects.get(workspace=cast.workspace, team=None, week_start=week)
    assert card.runs == 7 and card.complete
    assert WeeklyScorecard.objects.filter(week_start=week).count() == 4
