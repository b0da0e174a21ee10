"""`manage.py pii_keys generate`: a new key for PII_ENCRYPTION_KEYS (or, with --hash, a
PII_HASH_KEY). Printed once to stdout, never stored; see docs/privacy.md for rotation."""

from __future__ import annotations

import base64
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.privacy.engine import generate_secret
from config.pii_keys import KEY_ID


class Command(BaseCommand):
    help = "Generate a PII encryption key entry (id:base64) or, with --hash, a PII hash key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["generate"])
        parser.add_argument("--hash", action="store_true", help="a PII_HASH_KEY instead")
        parser.add_argument(
            "--id", dest="key_id", default="", help="key id (default k<YYYYMMDDHHMM>)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        secret = base64.urlsafe_b64encode(generate_secret()).decode()
        if options["hash"]:  # the bare value, like the encryption key entry below
            self.stdout.write(secret)
            self.stderr.write("Set this as PII_HASH_KEY (docs/privacy.md).")
            return
        key_id = options["key_id"] or timezone.now().strftime("k%Y%m%d%H%M")
        if not KEY_ID.fullmatch(key_id):
            raise CommandError("--id must be 1-16 characters of A-Z, a-z, 0-9, _ or -")
        self.stdout.write(f"{key_id}:{secret}")
        self.stderr.write(
            "Put this entry FIRST in PII_ENCRYPTION_KEYS and keep the older entries after it "
            "until nothing encrypted with them is left (docs/privacy.md)."
        )
