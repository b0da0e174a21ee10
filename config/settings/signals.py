"""Signals: the optional chat endpoint that distils a cluster of explanations into one rule
(apps.signals.distill). Unset, nothing is called: the representative explanation is used."""

from config.env import env_int, env_str, env_url

SIGNALS_DISTILL_BASE_URL = env_url("SIGNALS_DISTILL_BASE_URL", None, schemes=("http", "https"))
SIGNALS_DISTILL_MODEL = env_str("SIGNALS_DISTILL_MODEL", "")
SIGNALS_DISTILL_API_KEY = env_str("SIGNALS_DISTILL_API_KEY", "")
SIGNALS_DISTILL_TIMEOUT_SECONDS = env_int(
    "SIGNALS_DISTILL_TIMEOUT_SECONDS", 20, minimum=1, maximum=300
)
