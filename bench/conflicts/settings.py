"""Settings for bench/conflicts: the product's own settings (config.settings.base), so the
embedder, the dedup threshold and the conflict floor are read from the same settings and
environment variables as the app, without a database.

The bench opens no database connection; a placeholder DATABASE_URL only keeps base.py from
starting or joining the embedded PostgreSQL. STEWARD_HOME (or EMBEDDING_MODELS_DIR) must point
where set-up put the default model, e.g. `STEWARD_HOME=/work/main/.steward`.
"""

import os

os.environ["DATABASE_URL"] = "postgresql://unused@localhost:5432/bench_conflicts_opens_no_db"

from config.settings.base import *  # noqa: F403
