"""Settings for bench/memories: the dev settings against the bench's OWN embedded PostgreSQL.

As bench/context's settings (own data folder BENCH_STEWARD_HOME, default /tmp/stw-writes; no
DATABASE_URL, no REDIS_URL; DEBUG off; persistent connections; ServerTimingMiddleware on),
except the embedder: the project's default provider and dimension are kept (whatever
EMBEDDING_PROVIDER / EMBEDDING_DIMENSIONS default to on the code being measured), because the
write path's embedding cost is part of what is measured.
"""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-writes")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ.pop("EMBEDDING_PROVIDER", None)
os.environ.pop("EMBEDDING_DIMENSIONS", None)
os.environ["DEBUG"] = "false"
os.environ["AGENT_THROTTLE_RATE"] = "1000000/min"

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES, MIDDLEWARE

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DB_NAME", "postgres")
DATABASES["default"]["CONN_MAX_AGE"] = 60
SERVER_TIMING = True
MIDDLEWARE = ["apps.core.middleware.ServerTimingMiddleware", *MIDDLEWARE]
