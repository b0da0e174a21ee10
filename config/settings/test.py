"""Settings for pytest: the real PostgreSQL with pgvector, fast hashing, in-memory broker."""

import os

os.environ.setdefault("STEWARD_ALLOW_DEMO", "true")

from config.env import env_str
from config.settings.base import *  # noqa: F403
from config.settings.base import REST_FRAMEWORK

SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests that need a worker start a real one in-process (tests/conftest.py: celery_worker).
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}

# Separate names let concurrent runs (developers, helpers, CI) share one embedded server.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DB_NAME", "test_steward")}  # noqa: F405
# Test teardown empties tables with TRUNCATE, which the audit trail's triggers refuse elsewhere.
DATABASES["default"]["OPTIONS"]["options"] = "-c steward.audit_allow_truncate=on"  # noqa: F405
EMBEDDING_PROVIDER = "hashing"
# Tests build workspace indexes behind the per-process list's back: always read it fresh.
MEMORY_INDEX_LIST_CACHE_SECONDS = 0
