"""Checks other apps run before the production label moves, and the evidence they show on the
policy_version review request.

apps.policies imports none of the apps that plug in here (the way apps.reviews.kinds works):
an app registers a `PromotionCheck` from its AppConfig.ready(), e.g. apps.evals refuses a
version whose latest eval run regresses beyond the workspace's threshold. Rollbacks are never
checked: rolling back must stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.policies.models import ArtifactVersion

_checks: list[PromotionCheck] = []


class PromotionCheck:
    """One app's say on a production move."""

    #: the evidence card's title on the review request
    title: str = ""

    def refusal(self, version: ArtifactVersion) -> str | None:
        """Why `version` may not become production now; None lets it through."""
        return None

    def evidence(self, version: ArtifactVersion) -> dict[str, Any] | None:
        """What the reviewer should see about `version` (a template context), or None."""
        return None

    #: the template that renders `evidence`'s context on the review page
    template: str = ""


def register_promotion_check(check: PromotionCheck) -> None:
    if any(type(known) is type(check) for known in _checks):
        return
    _checks.append(check)


def promotion_refusal(version: ArtifactVersion) -> str | None:
    """The first refusal of a registered check, or None."""
    for check in _checks:
        refusal = check.refusal(version)
        if refusal:
            return refusal
    return None


def promotion_evidence(version: ArtifactVersion) -> list[dict[str, Any]]:
    cards = []
    for check in _checks:
        evidence = check.evidence(version)
        if evidence is not None:
            cards.append({"title": check.title, "template": check.template, "context": evidence})
    return cards
