import os

from django.core.wsgi import get_wsgi_application

from config.env import configuration_errors_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Exit code 4 is gunicorn's "app failed to load": it stops instead of re-spawning workers.
with configuration_errors_exit(code=4):
    application = get_wsgi_application()
