#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from config.env import configuration_errors_exit

    with configuration_errors_exit():
        settings.INSTALLED_APPS  # noqa: B018 - load the settings here: a bad one stops here
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
