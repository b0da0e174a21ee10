import os

from django.core.asgi import get_asgi_application

from config.env import configuration_errors_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
with configuration_errors_exit(code=4):
    application = get_asgi_application()
