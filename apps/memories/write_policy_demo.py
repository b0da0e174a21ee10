"""Demo history for the write policy: the demo workspaces' owner and admin each change the
auto-approve rules once (through write_policy_update, so each change is a version with a
reason and an audit event), on top of the seed's own threshold change. The admin's policy page
then shows a history of 2-3 versions with diffs and something to restore.

Skipped for a workspace whose history already has the owner's change: seeding twice adds
nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.memories.models import WritePolicyVersion
from apps.memories.services import write_policy_for, write_policy_update
from apps.workspaces.models import Workspace

FIRST_REASON = "Imported CRM facts are checked at the source: approve them at once"
IMPORTED_FACTS = {"tier": "workspace", "source": "import", "types": ["fact"], "min_confidence": 0.9}


def seed_write_policy_demo(workspace_slugs: tuple[str, ...] = ("acme", "globex")) -> int:
    """Two versions per demo workspace (by its owner, then its admin); returns how many."""
    users = get_user_model().objects
    made = 0
    for workspace in Workspace.objects.filter(slug__in=workspace_slugs).order_by("pk"):
        if WritePolicyVersion.objects.filter(workspace=workspace, reason=FIRST_REASON).exists():
            continue
        owner = users.filter(username=f"{workspace.slug}-owner").first()
        admin = users.filter(username=f"{workspace.slug}-admin").first()
        if owner is None or admin is None:
            continue
        rules = list(write_policy_for(workspace).rules.get("auto_approve", []))
        write_policy_update(
            actor=owner,
            workspace=workspace,
            rules={"auto_approve": [*rules, IMPORTED_FACTS]},
            reason=FIRST_REASON,
        )
        stricter = [
            {**rule, "min_confidence": 0.85} if rule.get("tier") == "personal" else rule
            for rule in write_policy_for(workspace).rules["auto_approve"]
        ]
        write_policy_update(
            actor=admin,
            workspace=workspace,
            rules={"auto_approve": stricter},
            reason="Too many unsure personal notes were approved last week; raise the bar",
        )
        made += 2
    return made
