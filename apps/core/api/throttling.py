from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class AgentRateThrottle(SimpleRateThrottle):
    """Per-agent request rate (AGENT_THROTTLE_RATE); people are not throttled here.

    The counter lives in the default cache: Redis when REDIS_URL is set (shared by every web
    process), otherwise a per-process memory cache.
    """

    scope = "agent"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        agent = getattr(request, "agent", None)
        if agent is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"agent-{agent.pk}"}
