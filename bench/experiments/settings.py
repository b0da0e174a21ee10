"""Settings for bench/experiments: the dev settings against the bench's own embedded PostgreSQL
(BENCH_STEWARD_HOME, default /tmp/stw-bench) and its own database bench_experiments, with
ServerTimingMiddleware on and the agent throttle out of the way (as bench/policies)."""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "false"
os.environ["EMBEDDING_PROVIDER"] = "hashing"
os.environ["AGENT_THROTTLE_RATE"] = "100000000/min"

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES, MIDDLEWARE

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DB_NAME", "bench_experiments")
DATABASES["default"]["CONN_MAX_AGE"] = 60
SERVER_TIMING = True
MIDDLEWARE = ["apps.core.middleware.ServerTimingMiddleware", *MIDDLEWARE]
