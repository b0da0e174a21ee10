"""Decisions on one memory in the console: roll back to a chosen version (the diff first),
promote to a higher tier (a review request), forget, and reveal one encrypted value in place.
Editing is the change page itself (memory_update); expiring is apps/memories/console_admin.py.

Who may do what is `decisions_for`, the services' own rules read from the role matrix
(apps/workspaces/roles.py): edit, roll back and forget need `edit` on the item (owner, admin,
editor: memory_update / memory_rollback / memory_forget's require_change); expire needs
`review` (owner, admin, reviewer: memory_expire); promote needs either (owner, admin, editor,
reviewer: review_promotion_request). Reviewers correct *proposed* items in the review queue
(memory_edit_in_review) but do not hold `edit`, so an approved item is not theirs to edit,
roll back or forget, here as in the API (403). Auditors and viewers read only.

The change page's buttons and the brain page's links come from the same function, so a button
a person may not use is absent; every view checks it again, so a POST without the button is
refused (403) and changes nothing. An item the person does not see is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from apps.core.admin_site import is_read_only, per_request
from apps.core.exceptions import ServiceError
from apps.memories import console_selectors as select
from apps.memories import services
from apps.memories.models import TIER_ORDER, MemoryItem, MemoryVersion, Status, Tier
from apps.memories.reviewing.promotion import review_promotion_request
from apps.memories.selectors import content_diff
from apps.memories.services.console import MAX_REASON_CHARS
from apps.privacy.display import reveal_chip
from apps.privacy.engine.keys import ENCRYPTED_TOKEN
from apps.privacy.services import may_reveal, pii_reveal
from apps.reviews.models import Kind, ReviewRequest
from apps.workspaces.models import Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

DECIDABLE = (Status.PROPOSED, Status.APPROVED)


@dataclass(frozen=True)
class Decisions:
    """What the signed-in person may do with one memory (each False hides its button)."""

    edit: bool = False
    rollback: bool = False
    promote: bool = False
    expire: bool = False
    forget: bool = False

    @property
    def any(self) -> bool:
        return self.edit or self.rollback or self.promote or self.expire or self.forget


def decisions_for(request: HttpRequest, item: MemoryItem) -> Decisions:
    """The role matrix as the services apply it, for this person and item (once per request)."""

    def compute() -> Decisions:
        if item.deleted_at is not None or is_read_only(request):
            return Decisions()
        user = request.user
        edit = _holds(user, Action.EDIT, item)
        review = _holds(user, Action.REVIEW, item)
        promotable = (
            item.status == Status.APPROVED
            and item.tier != Tier.WORKSPACE
            and bool(promotion_tiers(item))
            and not ReviewRequest.objects.pending()
            .filter(memory=item, kind=Kind.PROMOTION)
            .exists()
        )
        return Decisions(
            edit=edit,
            rollback=edit and item.version > 1,
            promote=(edit or review) and promotable,
            expire=review and item.status in DECIDABLE,
            forget=edit,
        )

    return per_request(request, ("memory-decisions", item.pk), compute)


def _holds(user: Any, action: str, item: MemoryItem) -> bool:
    if user.is_superuser:
        return True
    return MemoryItem.objects.visible_to(user, action).filter(pk=item.pk).exists()


def promotion_tiers(item: MemoryItem) -> list[tuple[str, str]]:
    """The tiers above the item's that review_promotion_request accepts, as form choices."""
    choices = []
    if item.tier == Tier.PERSONAL and item.agent is not None and item.agent.team_id:
        choices.append((Tier.TEAM.value, f"team {item.agent.team}"))
    if TIER_ORDER[item.tier] > TIER_ORDER[Tier.WORKSPACE]:
        choices.append((Tier.WORKSPACE.value, "the whole workspace"))
    return choices


# --- forms ---------------------------------------------------------------------------------


def _reason_field(required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(
        required=required,
        max_length=MAX_REASON_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text=help_text,
    )


class RollbackForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    reason = _reason_field(False, "Kept (masked) with the new version and the audit event.")


class PromoteForm(forms.Form):
    tier = forms.ChoiceField(label="Promote to", widget=UnfoldAdminSelectWidget)
    reason = _reason_field(True, "Why the wider audience needs it; the reviewers read it.")

    def __init__(self, *args: Any, item: MemoryItem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tier = self.fields["tier"]
        assert isinstance(tier, forms.ChoiceField)  # noqa: S101 - declared above
        tier.choices = promotion_tiers(item)


class ForgetForm(forms.Form):
    reason = _reason_field(True, "Kept (masked) with the audit event.")


class RevealForm(forms.Form):
    reveal_reason = forms.CharField(max_length=MAX_REASON_CHARS)


# --- helpers -------------------------------------------------------------------------------


def _item(request: HttpRequest, pk: int) -> MemoryItem:
    item = select.item_for_console(request.user, pk)
    if item is None:
        raise Http404("No such memory.")
    return item


def _change_url(item: MemoryItem) -> str:
    return reverse("admin:memories_memoryitem_change", args=[item.pk])


def _render(
    model_admin: Any, request: HttpRequest, template: str, title: str, **context: Any
) -> TemplateResponse:
    full = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        **context,
    }
    return TemplateResponse(request, f"admin/memories/console/{template}", full)


def _errors_onto(form: forms.Form, exc: ServiceError) -> None:
    placed = False
    for name, errors in exc.fields.items():
        if name in form.fields:
            form.add_error(name, errors)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


# --- views ---------------------------------------------------------------------------------


def item_rollback(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """GET without `version`: the versions to choose from. GET with `version`: the diff from
    what is in force now to that version, and the confirm button. POST: memory_rollback."""
    item = _item(request, pk)
    if not decisions_for(request, item).rollback:
        raise PermissionDenied
    versions = list(MemoryVersion.objects.filter(item=item).order_by("-version"))
    form = RollbackForm(
        request.POST if request.method == "POST" else None,
        initial={"version": request.GET.get("version")},
    )
    chosen: MemoryVersion | None = None
    raw = request.POST.get("version") if request.method == "POST" else request.GET.get("version")
    if raw:
        if not raw.isdigit() or len(raw) > 9:
            return HttpResponse(
                "`version` must be a version number.",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        chosen = next((v for v in versions if v.version == int(raw)), None)
        if chosen is None:
            raise Http404("This memory has no such version.")
    if request.method == "POST" and form.is_valid() and chosen is not None:
        try:
            services.memory_rollback(
                actor=as_principal(request.user),
                item=item,
                version=chosen.version,
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            item.refresh_from_db()
            messages.success(
                request,
                f"Memory #{pk} rolled back to v{chosen.version}: it is v{item.version} now.",
            )
            return HttpResponseRedirect(_change_url(item))
    return _render(
        model_admin,
        request,
        "rollback.html",
        f"Roll back memory #{pk}",
        item=item,
        versions=versions,
        chosen=chosen,
        changes=_changes(item, chosen) if chosen is not None else [],
        diff=(
            content_diff(
                item.content, chosen.content, old_label="now", new_label=f"v{chosen.version}"
            )
            if chosen is not None
            else ""
        ),
        form=form,
        back=_change_url(item),
    )


def _changes(item: MemoryItem, version: MemoryVersion) -> list[dict[str, Any]]:
    """Fields other than content that the rollback changes: name, now, after."""
    pairs = [
        ("type", item.type.label, version.type.label),
        ("importance", f"{item.importance:g}", f"{version.importance:g}"),
        ("confidence", f"{item.confidence:g}", f"{version.confidence:g}"),
        ("tags", ", ".join(item.tags) or "—", ", ".join(version.tags) or "—"),
        ("entities", _entities(item.entities), _entities(version.entities)),
    ]
    return [{"name": n, "now": a, "after": b} for n, a, b in pairs if a != b]


def _entities(entities: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(entities.items())) or "—"


def item_promote(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the tiers above and a reason. POST: review_promotion_request; the reviewers of the
    target decide it in the review queue, as every promotion."""
    item = _item(request, pk)
    if not decisions_for(request, item).promote:
        raise PermissionDenied
    form = PromoteForm(request.POST if request.method == "POST" else None, item=item)
    if request.method == "POST" and form.is_valid():
        try:
            review = review_promotion_request(
                actor=as_principal(request.user),
                item=item,
                tier=form.cleaned_data["tier"],
                reason=form.cleaned_data["reason"],
            )
        except ServiceError as exc:
            _errors_onto(form, exc)
        else:
            messages.success(
                request,
                f"Promotion of memory #{pk} from {item.tier} to {review.tier} requested: "
                f"review #{review.pk} waits for a reviewer.",
            )
            return HttpResponseRedirect(_change_url(item))
    return _render(
        model_admin,
        request,
        "promote.html",
        f"Promote memory #{pk}",
        item=item,
        form=form,
        back=_change_url(item),
    )


def item_forget(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation and a reason; POST forgets through memory_forget."""
    item = _item(request, pk)
    if not decisions_for(request, item).forget:
        raise PermissionDenied
    form = ForgetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.memory_forget(
                actor=as_principal(request.user), item=item, reason=form.cleaned_data["reason"]
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            messages.success(request, f"Memory #{pk} forgotten: out of every context and list now.")
            return HttpResponseRedirect(reverse("admin:memories_memoryitem_changelist"))
    return _render(
        model_admin,
        request,
        "forget_confirm.html",
        f"Forget memory #{pk}",
        item=item,
        form=form,
        back=_change_url(item),
    )


def item_reveal(model_admin: Any, request: HttpRequest, pk: int, index: int) -> HttpResponse:
    """POST (from the chip's small form, by htmx): the `index`-th encrypted value of the item's
    content, in plain text, through pii_reveal (reason required, audited). Answers a fragment
    that replaces the chip; a missing reason answers the chip's form again with the error."""
    item = _item(request, pk)  # an item the person does not see is a 404 whatever the method
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    if not may_reveal(request.user, item.workspace):
        raise PermissionDenied
    tokens = list(ENCRYPTED_TOKEN.finditer(item.content))
    if index >= len(tokens):
        raise Http404("No such encrypted value in this memory.")
    # The chip's box is named after its value (reveal_reason_<index>); a plain client may
    # send reveal_reason.
    reason = request.POST.get(f"reveal_reason_{index}", request.POST.get("reveal_reason", ""))
    form = RevealForm({"reveal_reason": reason})
    error = ""
    if form.is_valid():
        try:
            plain = pii_reveal(
                actor=as_principal(request.user),
                workspace=item.workspace,
                text=tokens[index].group(0),
                reason=form.cleaned_data["reveal_reason"],
            )
        except ServiceError as exc:
            error = exc.message
        else:
            response = HttpResponse(
                format_html(
                    '<span class="pii-revealed font-semibold" data-testid="pii-revealed-{}" '
                    'title="Revealed for you with your reason; the audit trail records it">'
                    "{}</span>",
                    index,
                    plain,
                )
            )
            response["Cache-Control"] = "no-store"
            return response
    else:
        error = "Say why you need to see this value."
    # htmx swaps only 2xx answers: the chip comes back with the error for it; a plain POST
    # (no htmx) is told 400.
    response = HttpResponse(
        reveal_chip(
            tokens[index].group(0),
            index=index,
            url=request.path,
            csrf_token=get_token(request),
            error=error,
        ),
        status=200 if request.headers.get("HX-Request") else 400,
    )
    response["Cache-Control"] = "no-store"
    return response


def may_grant_self_reveal(request: HttpRequest, workspace: Workspace) -> bool:
    """Owners (pii_reveal_grant's rule) who cannot reveal here yet."""
    user = request.user
    if user.is_superuser or is_read_only(request):
        return False
    return Workspace.objects.visible_to(user, Action.MANAGE_OWNERS).filter(
        pk=workspace.pk
    ).exists() and not may_reveal(user, workspace)
