from typing import Any

from django.core.management.base import BaseCommand

from apps.core.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo workspaces (idempotent) and print every login and agent token."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in seed_demo().lines():
            self.stdout.write(line)
