"""What a kind of review request is, told by the app that owns its subject.

The queue is generic: it stores, orders, assigns, scopes, locks and closes requests, and it
enforces who may decide and the four-eyes rule. Everything about a request's subject (what the
decision page shows, its diff, which decisions apply and what each one does) lives in the app
that owns the subject, which registers a `ReviewKind` from its `AppConfig.ready()`:

    from apps.reviews.kinds import ReviewKind, register_review_kind
    register_review_kind(PolicyVersionReview())

apps.reviews imports none of the apps it reviews; they import it. docs/reviews-design.md walks
through adding a kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from apps.core.exceptions import ValidationFailed

if TYPE_CHECKING:
    from django.http import HttpRequest

    from apps.reviews.models import ReviewRequest
    from apps.workspaces.models import Agent, Workspace
    from apps.workspaces.principal import Principal


class ReviewKind:
    """One kind's handler. Subclasses set `kinds` and `decisions`, and implement `decide`;
    the rest has working defaults."""

    #: the ReviewRequest.kind values this handler answers for
    kinds: tuple[str, ...] = ()
    #: decision name -> what the decision page's button says, in display order
    decisions: dict[str, str] = {}
    #: decision name -> the extra arguments it takes (e.g. "edit": ("content",))
    arguments: dict[str, tuple[str, ...]] = {}
    #: the template of the decision page's subject cards (gets `panel_context`'s keys)
    panel_template: str = "admin/reviews/kinds/generic.html"

    def decisions_for(self, request: ReviewRequest) -> list[str]:
        """The decisions that apply to this request (the page's buttons, the service's check)."""
        return list(self.decisions)

    def decide(
        self,
        principal: Principal,
        request: ReviewRequest,
        decision: str,
        *,
        reason: str,
        **arguments: Any,
    ) -> None:
        """Carry out `decision` on a locked, pending request the caller may decide; closing the
        request (apps.reviews.services.close) is the handler's, with its own audit action.
        Runs inside the queue's transaction: raise a ServiceError and nothing is kept."""
        raise NotImplementedError

    def summary(self, request: ReviewRequest) -> str:
        """One line for the changelist (from the row and what it selects along; no query)."""
        title = request.details.get("title") if isinstance(request.details, dict) else None
        return str(title or request.get_kind_display())

    def panel_context(self, http_request: HttpRequest, request: ReviewRequest) -> dict[str, Any]:
        """What `panel_template` shows: the subject, its diff (`diff`: old_label, new_label,
        parts from apps.reviews.panels.side_by_side), provenance, similar items."""
        return {"diff": None}

    def agent_visible(self, agent: Agent) -> Q | None:
        """Besides the requests an agent made, those it may read (about its own items)."""
        return None

    def director_visible(self, agent: Agent) -> Q | None:
        """With the `director` scope: the requests about its team's items."""
        return None

    def list_filters(self) -> Sequence[Any]:
        """Extra changelist filters the kind brings (e.g. memory type)."""
        return ()

    def open_request(self, *, actor: Any, **fields: Any) -> ReviewRequest:
        """Open a request on someone's demand through the generic endpoint, if the kind has
        one (a memory promotion); most kinds open requests from their own services."""
        raise ValidationFailed("Requests of this kind are not opened here.")

    def seed_demo(self, workspace: Workspace) -> None:
        """Add this kind's waiting requests to the demo workspace (idempotent)."""


_KINDS: dict[str, ReviewKind] = {}


def register_review_kind(handler: ReviewKind) -> ReviewKind:
    """Idempotent per kind: registering again replaces the handler (tests, reloads)."""
    if not handler.kinds:
        raise ValueError(f"{type(handler).__name__} declares no kinds.")
    for kind in handler.kinds:
        _KINDS[kind] = handler
    return handler


def review_kind(kind: str) -> ReviewKind:
    """The handler of `kind`; a request of a kind no installed app handles can't be decided."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValidationFailed(
            f"No installed app handles {kind} review requests; nothing was changed.",
            fields={"kind": ["Not handled."]},
        ) from None


def review_kind_or_none(kind: str) -> ReviewKind | None:
    return _KINDS.get(kind)


def review_kinds() -> list[ReviewKind]:
    """Each handler once, in registration order."""
    seen: dict[int, ReviewKind] = {}
    for handler in _KINDS.values():
        seen.setdefault(id(handler), handler)
    return list(seen.values())


def union(parts: Iterable[Q | None]) -> Q | None:
    found = [part for part in parts if part is not None]
    if not found:
        return None
    combined = found[0]
    for part in found[1:]:
        combined |= part
    return combined
