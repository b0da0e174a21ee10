"""Styled 403 and 404 pages: the admin's look, a way back, no URL list; and the settings
`make run` uses (config.settings.dev) never show Django's debug 404 while still serving static
files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_page_is_a_styled_404_with_a_way_to_sign_in(client):
    response = client.get("/no-such-page/")

    page = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="error-page"' in page
    assert "Page not found" in page
    assert f'href="{reverse("admin:login")}"' in page
    assert "URLconf" not in page and "api/v1/" not in page


def test_a_signed_in_person_gets_a_way_back_to_the_dashboard(cast, client):
    client.force_login(cast.user("reviewer"))

    response = client.get("/admin/no-such-app/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page
    assert f'href="{reverse("admin:index")}"' in page
    assert "Back to the dashboard" in page


def test_a_refused_admin_page_is_a_styled_403(cast, client):
    client.force_login(cast.user("reviewer"))

    response = client.get(reverse("admin:audit_auditevent_changelist"))

    page = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="error-page"' in page
    assert "Not allowed" in page
    assert f'href="{reverse("admin:index")}"' in page
    assert "<h1>403 Forbidden</h1>" not in page


def test_api_paths_keep_the_json_error_body(client):
    response = client.get("/api/v1/no-such-endpoint")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


DEV_PROBE = """
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="localhost")
static = client.get("/static/admin/css/base.css")
missing = client.get("/no-such-page/")
print(settings.DEBUG, static.status_code, missing.status_code,
      b"URLconf" in missing.content, b'data-testid="error-page"' in missing.content)
"""


@pytest.mark.parametrize("module", ["config.settings.dev"])
def test_the_settings_make_run_uses_show_no_url_list_and_serve_static(module):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env["DJANGO_SETTINGS_MODULE"] = module

    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", DEV_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-5:] == ["False", "200", "404", "False", "True"]
