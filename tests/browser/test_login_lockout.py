"""The sign-in lockout as a person meets it in Chromium: after LOGIN_FAILURE_LIMIT wrong
passwords the admin's styled lockout page, and the right password is refused too."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from tests.browser.conftest import PASSWORD


def submit(page: Any, live_server: Any, password: str) -> Any:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", password)
    with page.expect_navigation() as navigation:
        page.click("form#login-form button[type=submit]")
    return navigation.value


def test_a_locked_out_person_sees_the_styled_lockout_page_even_with_the_right_password(
    page: Any, live_server: Any, cast: Any
) -> None:
    # given
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert submit(page, live_server, f"wrong-{n}").status == 200

    # when
    locking = submit(page, live_server, "wrong-last")
    right = submit(page, live_server, PASSWORD)

    # then: 429 both times, on the admin's own sign-in layout, saying what to do
    assert locking.status == 429 and right.status == 429
    notice = page.locator("#login-locked")
    assert f"locked for {settings.LOGIN_LOCKOUT_MINUTES} minutes" in notice.inner_text()
    assert "operator" in notice.inner_text()
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Times" not in font
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
