"""The memory console in the admin: per agent, team and workspace "brain" pages, expiring one
item, resetting an agent's personal memories (with a confirmation page) and "why was this
used" (an item's retrieval history).

Pages hang off the memory admin (`/admin/memories/memoryitem/brain/...`). Reads go through
apps/memories/console_selectors.py (scoped by `visible_to`), changes through the services
(`memory_expire`: review role; `memory_agent_reset`: owners and admins of the agent's
workspace or team), so a page can only show or do what the API and the list already allow.
An agent, team, workspace or item the person does not see is a 404; one they see but may not
change is a 403, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from unfold.widgets import UnfoldAdminTextInputWidget

from apps.core.admin_site import has_console_access
from apps.core.exceptions import ServiceError
from apps.memories import console_decisions as decide
from apps.memories import console_selectors as select
from apps.memories import services
from apps.memories.models import MemoryItem, Tier
from apps.memories.services.console import (
    MAX_REASON_CHARS,
    may_reset_agent,
    memory_agent_reset,
    resettable_memories,
)
from apps.workspaces.models import Agent
from apps.workspaces.principal import as_principal

PAGE_SIZE = 50
MAX_TYPE_KEY_CHARS = 60


class BadInput(Exception):
    """A malformed query parameter: the page answers 400 naming it."""


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_CHARS,
        widget=UnfoldAdminTextInputWidget,
        help_text="Kept (masked) with the audit event.",
    )

    def __init__(self, *args: Any, required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required


def console_urls(model_admin: Any) -> list[URLPattern]:
    def view(func: Callable[..., HttpResponse]) -> Any:
        return model_admin.admin_site.admin_view(partial(_guarded, func, model_admin))

    return [
        path("brain/", view(brain_index), name="memories_brain_index"),
        path("brain/agent/<int:pk>/reset/", view(agent_reset), name="memories_brain_reset"),
        path("brain/<str:kind>/<int:pk>/", view(brain_page), name="memories_brain"),
        path("<int:pk>/expire/", view(item_expire), name="memories_memoryitem_expire"),
        path("<int:pk>/uses/", view(item_uses), name="memories_memoryitem_uses"),
        path("<int:pk>/rollback/", view(decide.item_rollback), name="memories_memoryitem_rollback"),
        path("<int:pk>/promote/", view(decide.item_promote), name="memories_memoryitem_promote"),
        path("<int:pk>/forget/", view(decide.item_forget), name="memories_memoryitem_forget"),
        path(
            "<int:pk>/reveal/<int:index>/",
            view(decide.item_reveal),
            name="memories_memoryitem_reveal",
        ),
    ]


def _guarded(func: Any, model_admin: Any, request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if not has_console_access(request):
        raise PermissionDenied
    try:
        return func(model_admin, request, **kwargs)
    except BadInput as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")


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


def _before(request: HttpRequest) -> int | None:
    raw = request.GET.get("before")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
        raise BadInput("`before` must be a positive item id.")
    return int(raw)


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else default


# --- pages ---------------------------------------------------------------------------------------


def brain_index(model_admin: Any, request: HttpRequest) -> HttpResponse:
    return _render(
        model_admin, request, "index.html", "Brains", brains=select.brains_for(request.user)
    )


def brain_page(model_admin: Any, request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """What is in the brain now: counts by tier and type, then the items, newest first."""
    scope = select.brain_scope_for(request.user, kind, pk)
    if scope is None:
        raise Http404("No such agent, team or workspace.")
    tier = request.GET.get("tier", "")
    type_key = request.GET.get("type", "")
    if tier and tier not in Tier.values:
        raise BadInput(f"`tier` must be one of {', '.join(Tier.values)}.")
    if len(type_key) > MAX_TYPE_KEY_CHARS:
        raise BadInput("`type` is not a memory type.")
    before = _before(request)
    everything = select.brain_items(request.user, scope)
    shown = select.brain_items(request.user, scope, type_key=type_key, tier=tier)
    page = select.brain_page(shown, before=before, size=PAGE_SIZE)
    ids = [item.pk for item in page.rows]
    expirable = select.reviewable_ids(request.user, ids)
    editable = select.editable_ids(request, ids)
    target = scope.target
    return _render(
        model_admin,
        request,
        "brain.html",
        f"Brain of {kind} {target}",
        scope=scope,
        summary=select.brain_summary(everything),
        rows=[
            {"item": item, "may_expire": item.pk in expirable, "may_edit": item.pk in editable}
            for item in page.rows
        ],
        next_before=page.next_before,
        tier=tier,
        type_key=type_key,
        filtered=bool(tier or type_key),
        may_reset=isinstance(target, Agent) and may_reset_agent(request.user, target),
        page_url=request.path,
    )


def item_expire(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (and an optional reason); POST expires through
    memory_expire. Auditors and viewers see the item but are refused."""
    item = select.item_for_console(request.user, pk)
    if item is None:
        raise Http404("No such memory.")
    if pk not in select.reviewable_ids(request.user, [pk]):
        raise PermissionDenied
    default_back = reverse("admin:memories_memoryitem_change", args=[pk])
    form = ReasonForm(request.POST if request.method == "POST" else None, required=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.memory_expire(
                actor=as_principal(request.user), item=item, reason=form.cleaned_data["reason"]
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            messages.success(request, f"Memory #{pk} expired: it is out of every context now.")
            return HttpResponseRedirect(_back(request, default_back))
    return _render(
        model_admin,
        request,
        "expire_confirm.html",
        f"Expire memory #{pk}",
        item=item,
        form=form,
        next=_back(request, default_back),
    )


def agent_reset(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows how many personal memories a reset expires; POST (with a reason) runs
    memory_agent_reset and returns to the agent's brain."""
    scope = select.brain_scope_for(request.user, "agent", pk)
    if scope is None:
        raise Http404("No such agent.")
    agent = scope.target
    assert isinstance(agent, Agent)  # noqa: S101 (brain_scope_for("agent") returns agents)
    if not may_reset_agent(request.user, agent):
        raise PermissionDenied
    brain_url = reverse("admin:memories_brain", args=["agent", pk])
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            result = memory_agent_reset(
                actor=as_principal(request.user), agent=agent, reason=form.cleaned_data["reason"]
            )
        except ServiceError as exc:
            messages.error(request, f"Nothing was changed: {exc.message}")
        else:
            messages.success(
                request, f"Reset {agent}: {result.expired} personal memory(ies) expired."
            )
            return HttpResponseRedirect(brain_url)
    return _render(
        model_admin,
        request,
        "reset_confirm.html",
        f"Reset the personal memories of {agent}",
        agent=agent,
        count=resettable_memories(agent).count(),
        form=form,
        brain_url=brain_url,
    )


def item_uses(model_admin: Any, request: HttpRequest, pk: int) -> HttpResponse:
    """Why was this used: every context assembly that returned the item, newest first."""
    item: MemoryItem | None = select.item_for_console(request.user, pk)
    if item is None:
        raise Http404("No such memory.")
    page = select.retrieval_history(item, before=_before(request), size=PAGE_SIZE)
    return _render(
        model_admin,
        request,
        "uses.html",
        f"Why was memory #{pk} used",
        item=item,
        uses=page.rows,
        next_before=page.next_before,
        page_url=request.path,
    )
