from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from apps.workspaces.models import Agent


class AgentRateThrottle(SimpleRateThrottle):
    """Per-agent request rate (AGENT_THROTTLE_RATE); people are not throttled here.

    The counter lives in the default cache: Redis when REDIS_URL is set (shared by every web
    process), otherwise a per-process memory cache.
    """

    scope = "agent"

    def get_rate(self) -> str | None:
        # SimpleRateThrottle.THROTTLE_RATES is frozen when DRF is imported; read the knob live.
        return str(settings.AGENT_THROTTLE_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # Token authentication makes the agent request.user; there is no request.agent.
        agent = request.user
        if not isinstance(agent, Agent):
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"agent-{agent.pk}"}
