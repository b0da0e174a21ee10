"""The browser infrastructure itself: Chromium starts, the live server serves the admin with
its styles, and the login form signs a member in (or refuses a wrong password)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from tests.browser.conftest import PASSWORD


def test_reviewer_signs_in_through_the_login_form_and_sees_the_styled_console(
    admin_login: Any, live_server: Any
) -> None:
    # given / when
    page = admin_login("reviewer")

    # then: the dashboard, signed in as the reviewer
    assert page.url == f"{live_server.url}/admin/"
    assert "reviewer" in page.content()
    # and unfold's stylesheet is served by the live server (an unstyled page has no layout)
    href = page.locator("link[rel=stylesheet]").first.get_attribute("href")
    response = page.request.get(urljoin(page.url, href))
    assert response.status == 200
    assert "text/css" in response.headers["content-type"]
    display = page.evaluate("getComputedStyle(document.body).display")
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert display != "" and "Times" not in font


def test_a_wrong_password_is_refused_on_the_login_form(
    page: Any, live_server: Any, cast: Any
) -> None:
    # given
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")

    # when
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", PASSWORD + "-wrong")
    page.click("form#login-form button[type=submit]")

    # then: still on the login page, with the error, and not signed in
    assert "/admin/login/" in page.url
    assert "correct username and password" in page.content()
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
