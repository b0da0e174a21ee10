"""ServerTimingMiddleware (bench/context turns it on): off by default, and when on a
Server-Timing header with the request's time and the database share of it."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from apps.core.middleware import ServerTimingMiddleware


def test_off_unless_the_setting_is_on(settings):
    settings.SERVER_TIMING = False
    with pytest.raises(MiddlewareNotUsed):
        ServerTimingMiddleware(lambda request: HttpResponse())


@pytest.mark.django_db
def test_reports_app_and_database_time(settings):
    settings.SERVER_TIMING = True

    def view(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.01)")
            cursor.execute("SELECT 1")
        return HttpResponse("ok")

    response = ServerTimingMiddleware(view)(RequestFactory().get("/"))

    header = response["Server-Timing"]
    timings = {k: float(v) for k, v in re.findall(r"(\w+);dur=([\d.]+)", header)}
    assert timings["db"] >= 10
    assert timings["app"] >= timings["db"]
    assert 'desc="2 queries"' in header
