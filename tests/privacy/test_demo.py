"""The demo shows masking at work: each workspace has its own policy and PII in an agent
description is stored masked the way that policy says."""

from __future__ import annotations

import re

from apps.core.demo import seed_demo
from apps.privacy.models import PrivacyPolicy
from apps.workspaces.models import Agent


def test_demo_workspaces_get_policies_and_masked_descriptions(db):
    seed_demo(month_days=0)  # the month of memories: tests/core/test_demo_month.py
    seed_demo(month_days=0)  # a second run changes nothing and does not fail

    acme = PrivacyPolicy.objects.get(workspace__slug="acme")
    globex = PrivacyPolicy.objects.get(workspace__slug="globex")
    assert acme.operators == {"EMAIL": "encrypt"}
    assert acme.allow_values == ["support@acme.example"]
    assert globex.operators == {"PHONE": "hash"}
    sdr = Agent.objects.get(workspace__slug="acme", slug="sdr-bot").description
    forecast = Agent.objects.get(workspace__slug="globex", slug="forecast-bot").description
    assert re.search(r"<ENC:EMAIL:demo:[A-Za-z0-9_-]+>", sdr)
    assert "<PHONE_1>" in sdr and "support@acme.example" in sdr
    assert "dana.fox" not in sdr and "555-0132" not in sdr
    assert re.search(r"<PHONE:[0-9a-f]{16}>", forecast) and "<EMAIL_1>" in forecast
