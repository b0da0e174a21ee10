"""Local development and the `make run` demo: debug on, demo seeding allowed."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("STEWARD_ALLOW_DEMO", "true")

from config.settings.base import *  # noqa: F403
from config.settings.base import STEWARD_HOME


def _dev_secret_key() -> str:
    """A per-checkout random key kept under .steward/, so sessions survive restarts."""
    from django.core.management.utils import get_random_secret_key

    path = STEWARD_HOME / "dev-secret-key"
    if not path.exists():
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret_key()
