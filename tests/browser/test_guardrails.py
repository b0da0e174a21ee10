"""Guardrails in a real browser: the trips page draws its per-day chart; an admin clears a
pause with a reason through the admin's own pages, and a viewer sees no button to do it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.guardrails import services
from apps.guardrails.models import KillSwitch, Trip
from tests.conftest import SYSTEM


def test_the_trips_page_draws_the_chart_and_offers_the_export(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    now = timezone.now()
    for days_ago, code in ((0, "budget_exceeded"), (0, "suppressed"), (3, "suppressed")):
        Trip.objects.create(
            workspace=cast.workspace,
            team=cast.sales,
            agent=cast.agent,
            code=code,
            rule=code,
            at=now - dt.timedelta(days=days_ago),
        )
    page = admin_login("viewer")

    page.goto(f"{live_server.url}/admin/guardrails/trip/")

    chart = page.get_by_test_id("trip-chart")
    chart.locator("canvas").wait_for()
    box = chart.locator("canvas").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    assert page.get_by_test_id("trip-export").get_attribute("href").endswith("export.csv")


def test_an_admin_clears_a_pause_and_a_viewer_cannot(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    switch = services.kill_switch_set(
        actor=SYSTEM,
        workspace=cast.workspace,
        level="agent",
        agent=cast.agent,
        reason="Bounce rate spiked",
    )
    change = f"{live_server.url}/admin/guardrails/killswitch/{switch.pk}/change/"

    viewer = admin_login("viewer")
    viewer.goto(change)
    assert "Bounce rate spiked" in viewer.content()
    assert viewer.get_by_test_id("clear-switch").count() == 0
    viewer.context.clear_cookies()

    page = admin_login("admin")
    page.goto(change)
    page.get_by_role("link", name="Clear this pause…").click()
    page.fill("#clear-reason", "List cleaned up")
    page.get_by_role("button", name="Clear the pause").click()

    page.wait_for_url(f"{live_server.url}/admin/guardrails/killswitch/")
    assert "may act again" in page.content()
    switch = KillSwitch.objects.get(pk=switch.pk)
    assert switch.cleared_at is not None and switch.clear_reason == "List cleaned up"
