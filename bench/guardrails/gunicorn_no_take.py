"""gunicorn config for the Python ceiling of bench/guardrails (docs/benchmarks.md): every
worker replaces the check's one database statement (`guardrails_take`) by a reservation made
in Python, so a check costs the request handling, the token lookup and the service's Python
only. A measuring aid: never use it to serve.

    gunicorn -c bench/guardrails/gunicorn_no_take.py config.wsgi:application ...
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def post_worker_init(worker: Any) -> None:
    from apps.guardrails import services
    from apps.guardrails.models import Reservation

    def take_nothing(
        agent: Any, request: Any, hashed: str, limits: Any, now: dt.datetime
    ) -> Reservation:
        services._wants(agent, request, hashed, limits, now)  # the Python it still does
        reservation = services._new_reservation(agent, request, hashed, limits, now)
        reservation.holds = []
        return reservation

    services._take_in_one_statement = take_nothing
