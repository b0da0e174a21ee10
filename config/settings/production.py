"""Production: everything that matters must be configured; no demo data, no debug.

`manage.py check --deploy --fail-level WARNING` passes with these settings (a test keeps it so).
Every variable read here and in base.py is listed in docs/deploy.md.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, env_url

# Checked before base.py is imported: without DATABASE_URL, base.py would start the embedded
# demo database instead.
if not env_url("DATABASE_URL", None, schemes=("postgres", "postgresql", "pgsql")):
    raise ImproperlyConfigured(
        "Environment variable DATABASE_URL is required in production (an external PostgreSQL "
        "with pgvector); the embedded database is for the demo and tests only."
    )

from config.settings.base import *  # noqa: F403
from config.settings.base import SPECTACULAR_SETTINGS

DEBUG = False
STEWARD_ALLOW_DEMO = False
WHITENOISE_USE_FINDERS = False


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    # Django's own deploy check (security.W009) uses these same rules.
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "Environment variable SECRET_KEY is too weak: use at least 50 random characters "
            "(with 5 or more distinct ones), e.g. from "
            '`python -c "import secrets; print(secrets.token_urlsafe(64))"`.'
        )
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")  # required: the host names Steward is served under
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Environment variable ALLOWED_HOSTS must name at least one host.")

# TLS ends at a reverse proxy that sets X-Forwarded-Proto (and strips it from clients).
if env_bool("TRUST_X_FORWARDED_PROTO", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind that proxy every request comes from it: failed sign-ins are counted per client
# address from the address the proxy appends to X-Forwarded-For, or one attacker would lock
# everyone out (apps.core.logins.client_ip). Set it empty when clients connect directly.
LOGIN_CLIENT_IP_HEADER = env_str("LOGIN_CLIENT_IP_HEADER", "X-Forwarded-For")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# drf-spectacular's deploy check generates the whole OpenAPI schema and reports code-level
# schema warnings that an operator cannot act on; `make test` fails on them instead
# (`manage.py spectacular --validate --fail-on-warn`).
SPECTACULAR_SETTINGS = {**SPECTACULAR_SETTINGS, "ENABLE_DJANGO_DEPLOY_CHECK": False}

# PII keys: required here; the SECRET_KEY-derived demo keys are refused (docs/privacy.md).
from config.pii_keys import env_encryption_keys, env_hash_key  # noqa: E402

PII_HASH_KEY = env_hash_key("PII_HASH_KEY")
PII_ENCRYPTION_KEYS = env_encryption_keys("PII_ENCRYPTION_KEYS")
if PII_HASH_KEY is None or not PII_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "Environment variables PII_HASH_KEY and PII_ENCRYPTION_KEYS are required in production; "
        "create them with `manage.py pii_keys generate --hash` and `manage.py pii_keys generate`."
    )

# The key that signs exported audit chain heads (docs/audit.md): required here.
from config.settings.audit import env_signing_key  # noqa: E402

AUDIT_SIGNING_KEY = env_signing_key("AUDIT_SIGNING_KEY")
if AUDIT_SIGNING_KEY is None:
    raise ImproperlyConfigured(
        "Environment variable AUDIT_SIGNING_KEY is required in production (it signs exported "
        "audit chain heads); create one with `manage.py audit_export_head --generate-key`."
    )
