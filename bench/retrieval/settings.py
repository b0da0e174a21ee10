"""Settings for bench/retrieval's ranking run: the dev settings against the bench's OWN
embedded PostgreSQL (BENCH_STEWARD_HOME, default /tmp/stw-retr; database BENCH_DB_NAME), with
the real default embedder (model2vec, 256-d; EMBEDDING_MODEL2VEC_PATH names a local
potion-base-8M folder when the installed default is another table), or another one named by
EMBEDDING_PROVIDER and EMBEDDING_DIMENSIONS (use its own --db-suffix). DEBUG off, no shared
cache or broker."""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-retr")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "false"
os.environ.setdefault("EMBEDDING_DIMENSIONS", "256")
os.environ.setdefault("EMBEDDING_PROVIDER", "model2vec")
os.environ["MEMORY_HNSW_BUILD_MEMORY"] = "1GB"

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DB_NAME", "postgres")
DATABASES["default"]["CONN_MAX_AGE"] = 60
