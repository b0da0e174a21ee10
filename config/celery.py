"""Celery app. Broker: Redis when REDIS_URL is set, else a filesystem queue (see settings)."""

import os

from celery import Celery
from celery.signals import setup_logging

from config.env import install_configuration_excepthook

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
install_configuration_excepthook()

app = Celery("steward")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs: object) -> None:
    """Workers log through settings.LOGGING (with its PII-masking filter) instead of the
    handlers Celery would install on the root logger."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
