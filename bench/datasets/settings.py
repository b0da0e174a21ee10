"""Settings for bench/datasets: the dev settings against the bench's own embedded PostgreSQL
(BENCH_STEWARD_HOME, default /tmp/stw-bench) and its own database bench_datasets."""

import os

os.environ["STEWARD_HOME"] = os.environ.get("BENCH_STEWARD_HOME", "/tmp/stw-bench")  # noqa: S108
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["DEBUG"] = "false"
os.environ["EMBEDDING_PROVIDER"] = "hashing"

from config.settings.dev import *  # noqa: F403
from config.settings.dev import DATABASES

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DB_NAME", "bench_datasets")
