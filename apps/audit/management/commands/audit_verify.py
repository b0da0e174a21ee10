"""`manage.py audit_verify`: recompute the hash chains and name the first broken link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.chain import ChainVerification, audit_chain_verify, audit_head_check
from apps.audit.signing import HeadFileError, read_signed_head


class Command(BaseCommand):
    help = "Verify the audit hash chains (all, or one workspace's); exit 1 on a broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", type=int, help="Only this workspace's chain.")
        parser.add_argument(
            "--head", type=Path, help="Also check a head exported by audit_export_head."
        )
        parser.add_argument(
            "--public-key", help="Base64 Ed25519 key to check --head against (default: ours)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        results = audit_chain_verify(workspace_id=options["workspace"])
        for result in results:
            self.stdout.write(_line(result))
            for line in _redacted(result):
                self.stdout.write(line)
        checked = sum(r.checked for r in results)
        elapsed = time.monotonic() - started
        rate = checked / elapsed if elapsed else 0.0
        self.stdout.write(
            f"{len(results)} chains, {checked} events in {elapsed:.1f} s ({rate:,.0f}/s)"
        )
        problems = [r for r in results if not r.ok]
        if options["head"]:
            problems_in_head = self._check_head(options["head"], options["public_key"])
            if problems_in_head:
                raise CommandError(problems_in_head)
        if problems:
            raise CommandError(f"{len(problems)} chain(s) broken; first: {_line(problems[0])}")

    def _check_head(self, path: Path, public_key: str | None) -> str:
        try:
            head = read_signed_head(path.read_text(), public_key=public_key)
        except (OSError, HeadFileError) as exc:
            return f"{path}: {exc}"
        problem = audit_head_check(head)
        if not problem:
            self.stdout.write(
                f"head {path}: workspace {head['workspace_id']} seq {head['head_seq']} is intact"
            )
        return f"{path}: {problem}" if problem else ""


SHOWN_REDACTIONS = 20


def _redacted(result: ChainVerification) -> list[str]:
    """The chain's redacted events (verified against their redaction records)."""
    lines = [
        f"        event {r['event_id']} seq {r['seq']}: redacted ({r['redacted_at'][:16]}, "
        f"{'by ' + r['job'] if r['job'] else 'no job'}, {', '.join(r['fields'])})"
        for r in result.redacted[:SHOWN_REDACTIONS]
    ]
    if len(result.redacted) > SHOWN_REDACTIONS:
        lines.append(f"        ... and {len(result.redacted) - SHOWN_REDACTIONS} more redacted")
    return lines


def _line(result: ChainVerification) -> str:
    chain = f"workspace {result.workspace_id}" if result.workspace_id else "no workspace"
    if result.ok:
        redacted = f" ({len(result.redacted)} redacted)" if result.redacted else ""
        return f"OK      {chain}: {result.checked} events{redacted}, head seq {result.head_seq}"
    return (
        f"BROKEN  {chain}: event {result.first_broken_event_id} seq {result.first_broken_seq}: "
        f"{result.problem}"
    )
