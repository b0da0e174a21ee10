"""Distilling a cluster of explanations into one candidate rule, with an OpenAI-compatible
chat endpoint (POST {SIGNALS_DISTILL_BASE_URL}/chat/completions) when the deployment
configures one and the workspace turns it on (LearningSettings.distill).

Nothing is called otherwise. The texts sent are the stored ones, already masked (personal
data leaves as placeholders). Any failure (unreachable, an error status, a reply of the wrong
shape, an empty answer) falls back to the representative explanation: distillation is a
convenience, and what it proposes is still reviewed by a person."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

MAX_EXPLANATIONS = 20
MAX_RULE_CHARS = 1000
PROMPT = (
    "These are people's explanations of what an AI agent did wrong or should do differently. "
    "They say the same thing. Write it as one short rule the agent should follow, in one "
    "sentence, without names. Keep placeholders such as <EMAIL_1> as they are. Answer with "
    "the rule only."
)


def distill_configured() -> bool:
    return bool(settings.SIGNALS_DISTILL_BASE_URL and settings.SIGNALS_DISTILL_MODEL)


def distilled_rule(explanations: Sequence[str]) -> str | None:
    """One rule for the cluster, or None (not configured, or the endpoint failed)."""
    if not distill_configured() or not explanations:
        return None
    url = str(settings.SIGNALS_DISTILL_BASE_URL).rstrip("/") + "/chat/completions"
    listed = "\n".join(f"- {text[:2000]}" for text in explanations[:MAX_EXPLANATIONS])
    body = {
        "model": settings.SIGNALS_DISTILL_MODEL,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": PROMPT},
            {"role": "user", "content": listed},
        ],
    }
    headers = {}
    if settings.SIGNALS_DISTILL_API_KEY:
        headers["Authorization"] = f"Bearer {settings.SIGNALS_DISTILL_API_KEY}"
    try:
        response = requests.post(
            url, json=body, headers=headers, timeout=settings.SIGNALS_DISTILL_TIMEOUT_SECONDS
        )
        response.raise_for_status()
        answer = response.json()["choices"][0]["message"]["content"]
    except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as exc:
        logger.warning("Distillation failed (%s); using the representative.", type(exc).__name__)
        return None
    if not isinstance(answer, str) or not answer.strip():
        return None
    return answer.strip()[:MAX_RULE_CHARS]
