"""Settings for bench/context: the dev settings against the bench's OWN embedded PostgreSQL.

Everything that could reach shared state is pinned before the base settings load: the data
folder (BENCH_STEWARD_HOME, default /tmp/stw-bench; short, for the socket path limit), no
DATABASE_URL and no REDIS_URL (so neither another database nor a shared cache is used). DEBUG is
off as in production (no query log), the database is BENCH_DB_NAME (one per dataset size),
connections persist as DB_CONN_MAX_AGE makes them with a DATABASE_URL, the agent throttle is out
of the way, and ServerTimingMiddleware is on.
"""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "false"
os.environ["EMBEDDING_DIMENSIONS"] = "384"
os.environ["EMBEDDING_PROVIDER"] = "hashing"
os.environ["AGENT_THROTTLE_RATE"] = "1000000/min"
os.environ["MEMORY_HNSW_BUILD_MEMORY"] = "2GB"

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES, MIDDLEWARE

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DB_NAME", "postgres")
DATABASES["default"]["CONN_MAX_AGE"] = 60
SERVER_TIMING = True
MIDDLEWARE = ["apps.core.middleware.ServerTimingMiddleware", *MIDDLEWARE]
