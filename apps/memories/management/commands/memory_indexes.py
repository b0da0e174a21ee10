"""`manage.py memory_indexes`: list the per-workspace HNSW indexes, or build the missing ones.

The beat task memories.workspace_indexes_sync does the same every
MEMORY_WORKSPACE_INDEX_SYNC_SECONDS; this command is for operators (after a re-embed, after a
bulk import) and benchmarks. See apps/memories/vector_indexes.py for why they exist.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.memories.vector_indexes import (
    workspace_indexes,
    workspace_indexes_sync,
    workspaces_needing_an_index,
)
from apps.workspaces.principal import Principal

ACTOR = Principal.system("manage.py memory_indexes")


class Command(BaseCommand):
    help = "List per-workspace HNSW indexes; --sync builds the missing ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="build missing indexes now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sync"]:
            built = workspace_indexes_sync(actor=ACTOR)
            self.stdout.write(f"Built {len(built)} index(es): {built or 'none needed'}.")
        need = workspaces_needing_an_index()
        have = {i.workspace_id: i for i in workspace_indexes()}
        self.stdout.write("workspace  live memories  index                    state    size")
        for workspace_id in sorted(set(need) | set(have)):
            index = have.get(workspace_id)
            state = "missing" if index is None else ("valid" if index.valid else "INVALID")
            size = f"{index.size_bytes / 2**20:.1f} MB" if index else "-"
            name = index.name if index else "-"
            live = need.get(workspace_id, "<= threshold")
            self.stdout.write(f"{workspace_id:>9}  {live!s:>13}  {name:<23}  {state:<7}  {size}")
