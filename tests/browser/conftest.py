"""Browser tests: Playwright drives Debian's Chromium against Django's live server.

No browser is downloaded (`playwright install` is never run): pytest-playwright launches
/usr/bin/chromium, which `make test` installs with apt-get. Every test here is marked
`browser` (deselect with `-m 'not browser'`), runs on a transactional database (the live
server's thread reads committed rows) and signs in through the real admin login form.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread for the rest of the session; Django
# refuses ORM calls from a thread with a running loop unless told it is safe (it is: the loop
# only talks to Chromium). Process-wide, so subprocesses that run production checks must drop
# it (tests/core/test_settings.py does).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw"  # tests/workspaces/factories.py: UserFactory's default password
TIMEOUT_MS = 15_000
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/browser carries the `browser` marker, so it can be deselected."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: `make test` installs it, or "
            "`apt-get install -y chromium` as root; deselect them with -m 'not browser'.",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture
def page(page: Any) -> Any:
    """Fail in seconds, not Playwright's default 30 s, when something is not on the page."""
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    return page


@pytest.fixture
def admin_login(page: Any, live_server: Any, cast: Any) -> Callable[[str], Any]:
    """`admin_login("reviewer")` signs that member of the cast in through the admin's login
    form and returns the Playwright page, on the dashboard."""

    def login(who: str) -> Any:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("input[name=username]", cast.user(who).get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("form#login-form button[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    return login
