"""A trace's page in a real browser: a viewer reads the run (steps, the tool calls' table, the
memories it was given) and follows a memory's link to its page and back to the run."""

from __future__ import annotations

from typing import Any

from tests.signals.test_trace_page import run  # noqa: F401 - the fixture


def test_a_viewer_reads_a_run_and_follows_its_memory(
    admin_login: Any,
    cast: Any,
    live_server: Any,
    run: Any,  # noqa: F811
) -> None:
    page = admin_login("viewer")
    trace = run["trace"]

    page.goto(f"{live_server.url}/admin/signals/trace/{trace.pk}/change/")

    assert page.get_by_text("Step 3").is_visible()
    assert page.locator("td code", has_text="calendar.book").is_visible()
    assert page.get_by_text("error: slot taken").is_visible()
    memory = run["memories"][0]
    page.click(f'a[href="/admin/memories/memoryitem/{memory.pk}/change/"]')
    page.wait_for_url(f"{live_server.url}/admin/memories/memoryitem/{memory.pk}/change/")
    page.click(f'a[href="/admin/signals/trace/{trace.pk}/change/"]')
    page.wait_for_url(f"{live_server.url}/admin/signals/trace/{trace.pk}/change/")
