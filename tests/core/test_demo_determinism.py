"""The demo seed is deterministic: two seeds into a fresh database (the second after rolling
the first back) give the same counts and the same content digest (tests/core/demo_digest.py).
A shortened month (its first days) keeps the test quick; the generator, the services and the
clock are the same as for the full month (tests/core/test_demo_month.py)."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.core.demo import seed_demo
from tests.core.demo_digest import demo_digest

DAYS = 4


@pytest.mark.django_db
def test_two_seeds_into_fresh_databases_give_the_same_demo():
    # Given a first seed, measured, then undone
    first_seed = transaction.savepoint()
    seed_demo(month_days=DAYS)
    first = demo_digest()
    transaction.savepoint_rollback(first_seed)
    assert demo_digest() == {}

    # When the demo is seeded again into the empty database
    seed_demo(month_days=DAYS)

    # Then it holds the same content
    assert demo_digest() == first
    assert first["acme"]["memories"] > 40 and first["globex"]["memories"] > 40
    assert first["acme"]["assemblies"] >= DAYS * 2
    assert first["acme"]["traces"] > first["acme"]["assemblies"]  # a run per assembly, and today's
    assert first["globex"]["feedback"] > 0 and first["globex"]["outcomes"] > 0
    assert first["acme"]["sha256"] != first["globex"]["sha256"]
