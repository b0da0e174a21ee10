"""`manage.py audit_export_head`: a signed copy of a chain's head for auditors to keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.audit.signing import generate_key, public_key_b64, signed_head


class Command(BaseCommand):
    help = "Write the signed head of one audit chain as JSON (stdout or --output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--workspace", type=int, help="Workspace id (default: the chain of no workspace)."
        )
        parser.add_argument("--output", type=Path, help="File to write instead of stdout.")
        parser.add_argument(
            "--public-key", action="store_true", help="Print the key that checks signatures."
        )
        parser.add_argument(
            "--generate-key", action="store_true", help="Print a new AUDIT_SIGNING_KEY value."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(generate_key())
            return
        if options["public_key"]:
            self.stdout.write(public_key_b64())
            return
        text = json.dumps(signed_head(options["workspace"]), indent=2, sort_keys=True)
        if options["output"]:
            options["output"].write_text(text + "\n")
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text)
