"""Local development and the `make run` demo: demo seeding allowed.

DEBUG stays off unless asked for (DEBUG=true): Django's debug 404 page lists every URL
pattern, and the demo is shown to people. Static files are still served by runserver's
process: WhiteNoise reads them from the apps' folders (finders), with no collectstatic and no
manifest. Tracebacks go to the console log.
"""

import os

os.environ.setdefault("STEWARD_ALLOW_DEMO", "true")

from config.settings.base import *  # noqa: F403
from config.settings.base import STEWARD_HOME, STORAGES

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _dev_secret_key() -> str:
    """A per-checkout random key kept under .steward/, so sessions survive restarts."""
    from django.core.management.utils import get_random_secret_key

    path = STEWARD_HOME / "dev-secret-key"
    if not path.exists():
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret_key()
