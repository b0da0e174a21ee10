"""Settings of the Celery worker processes the reliability tests start: the production broker
path (Redis, from REDIS_URL, as in base.py) on the test run's own database."""

import os

from config.settings import base
from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

# test.py swaps Redis for memory://; put back what base.py configures for REDIS_URL.
CELERY_BROKER_URL = base.CELERY_BROKER_URL
CELERY_BROKER_TRANSPORT_OPTIONS = base.CELERY_BROKER_TRANSPORT_OPTIONS
CACHES = base.CACHES
DATABASES["default"]["NAME"] = os.environ["RELIABILITY_DB_NAME"]
