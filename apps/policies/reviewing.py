"""Policy versions in the review queue: a request to move a protected label (production) to a
version, shown with the diff against the version the label points at now. Approving moves the
label (four eyes where the workspace asks for it: the version's author can't approve it);
rejecting or requesting changes leaves it where it is. Registered from PoliciesConfig.ready()."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from apps.core.exceptions import Conflict
from apps.policies.models import Artifact, ArtifactVersion, Label, LabelEvent
from apps.policies.promotion import promotion_evidence
from apps.policies.services import move_label
from apps.reviews.kinds import ReviewKind
from apps.reviews.models import Decision, Kind, ReviewRequest
from apps.reviews.panels import side_by_side
from apps.reviews.services.common import clean_reason, close, require_four_eyes
from apps.workspaces.principal import Principal


def version_text(version: ArtifactVersion | None) -> str:
    """A version's content as the reviewer reads it: the text first, then the rest as JSON."""
    if version is None:
        return ""
    content = dict(version.content)
    main = ""
    for key in ("text", "template", "description"):
        if isinstance(content.get(key), str):
            main = content.pop(key)
            break
    rest = json.dumps(content, indent=1, sort_keys=True) if content else ""
    return f"{main}\n{rest}".strip()


def _subject(request: ReviewRequest) -> tuple[Artifact, ArtifactVersion]:
    version = (
        ArtifactVersion.objects.select_related("artifact", "author_user", "author_agent")
        .filter(pk=request.subject_id)
        .first()
    )
    if version is None:
        raise Conflict("The version of this request is gone; nothing to decide.")
    return version.artifact, version


class PolicyVersionReview(ReviewKind):
    kinds = (Kind.POLICY_VERSION,)
    decisions = {
        "approve": "Approve & move",
        "reject": "Reject",
        "request_changes": "Request changes",
    }
    panel_template = "admin/policies/review_panel.html"

    def decide(
        self,
        principal: Principal,
        request: ReviewRequest,
        decision: str,
        *,
        reason: str,
        **arguments: Any,
    ) -> None:
        artifact, version = _subject(request)
        if decision == "approve":
            require_four_eyes(principal, request, editing=False, authors=[version.author_user_id])
            reason = clean_reason(request, reason)
            close(principal, request, Decision.APPROVED, reason, "review.approve")
            locked = Artifact.objects.select_for_update().get(pk=artifact.pk)
            move_label(
                principal,
                locked,
                str(request.details["label"]),
                version,
                how=LabelEvent.How.APPROVED,
                reason=reason or f"approved in review #{request.pk}",
                request=request,
            )
            return
        reason = clean_reason(request, reason, required=True)
        outcome = Decision.REJECTED if decision == "reject" else Decision.CHANGES_REQUESTED
        close(principal, request, outcome, reason, f"review.{decision}")

    def panel_context(self, http_request: HttpRequest, request: ReviewRequest) -> dict[str, Any]:
        try:
            artifact, version = _subject(request)
        except Conflict:  # the artifact was deleted with its versions: say so, don't fail
            return {"diff": None, "gone": True}
        label = str(request.details.get("label", ""))
        current = (
            Label.objects.select_related("version").filter(artifact=artifact, name=label).first()
        )
        old = current.version if current is not None else None
        return {
            "artifact": artifact,
            "version": version,
            "label": label,
            "current": old,
            "artifact_url": reverse("admin:policies_artifact_change", args=[artifact.pk]),
            "promotion_evidence": promotion_evidence(version),
            "diff": {
                "old_label": f"{label} now: v{old.number}" if old else f"{label}: not set yet",
                "new_label": f"v{version.number} by {version.author_label}",
                "parts": side_by_side(version_text(old), version_text(version)),
            },
        }
