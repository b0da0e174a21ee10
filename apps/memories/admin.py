"""Memories in the admin: the list, and a detail page with content, version history with diffs,
provenance and retrieval history. Scoped to the viewer's workspaces and teams; edits are new
versions through memory_update; approve, reject and forget are services too.

Also the coaching pages ("Coach this agent" / "Coach this team" on the Agent and Team change
pages, wired in apps/workspaces/admin.py): a small form through coaching_note_write."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import smart_split, unescape_string_literal
from unfold.decorators import action, display
from unfold.views import ChangeList
from unfold.widgets import UnfoldAdminTextInputWidget

from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    has_console_access,
    per_request,
    visible_filter,
)
from apps.core.exceptions import ServiceError
from apps.memories import console_decisions as decide
from apps.memories import services
from apps.memories.console_admin import console_urls
from apps.memories.effectiveness_panel import effectiveness_html
from apps.memories.forms import CoachingNoteForm
from apps.memories.models import (
    ContextAssembly,
    ContextAssemblyItem,
    MemoryItem,
    MemoryType,
    Source,
    Status,
    Tier,
)
from apps.memories.reviewing.panels import evidence_links
from apps.memories.selectors import memory_versions_with_diff
from apps.privacy.display import (
    Labelled,
    RevealInPlace,
    masked_chips,
    masked_labels,
    shown_text_sql,
)
from apps.privacy.engine.keys import ENCRYPTED_TOKEN
from apps.privacy.services import may_reveal
from apps.workspaces.grants import Grants
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

RETRIEVAL_HISTORY_LIMIT = 20
RECENT_COACHING_LIMIT = 10
EDITABLE = (
    "content",
    "type",
    "importance",
    "confidence",
    "tags",
    "entities",
    "valid_from",
    "expires_at",
)


def sidebar_memories(request: HttpRequest) -> bool:
    return _module_permission(request, "memories.MemoryItem")


class TypeFilter(admin.SimpleListFilter):
    """Types by key: each workspace has its own rows of the same vocabulary."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        workspaces = Workspace.objects.visible_to(request.user, Action.VIEW)  # team members too
        types = MemoryType.objects.filter(workspace__in=workspaces)
        return sorted(set(types.values_list("key", "label")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(type__key=value)


class MemoryItemForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text="Why you changed it; kept with the new version and the audit event.",
    )

    class Meta:
        model = MemoryItem
        fields = EDITABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_field = self.fields.get("type")
        if type_field is not None and self.instance.pk:
            type_field.queryset = MemoryType.objects.filter(  # type: ignore[attr-defined]
                workspace_id=self.instance.workspace_id, is_active=True
            )


def once_per_object(panel: Any) -> Any:
    """The admin's read-only field machinery calls a panel several times per page (once per
    check of what kind of value it is): build it once per object."""

    @functools.wraps(panel)
    def built(self: Any, obj: Any) -> Any:
        cache = obj.__dict__.setdefault("_steward_panels", {})
        if panel.__name__ not in cache:
            cache[panel.__name__] = panel(self, obj)
        return cache[panel.__name__]

    return built


class LightChangeList(ChangeList):
    """The list never prints the vector or the search vector: without them a page of 50 rows
    is ~40 KB instead of ~200 KB to read and turn into Python objects."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        return super().get_queryset(request, exclude_parameters).defer("embedding", "search")


@admin.register(MemoryItem)
class MemoryItemAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    workspace_role_covers_objects = True
    change_action = Action.EDIT
    form = MemoryItemForm
    list_display = [
        "summary",
        "type",
        "tier_label",
        "status_label",
        "owner",
        "workspace",
        "source",
        "importance",
        "uses",
        "created_at",
    ]
    list_filter = [
        TypeFilter,
        "tier",
        "status",
        visible_filter("workspace", "workspace", Workspace, "workspace_id"),
        visible_filter("team", "team", Team, "team_id"),
        visible_filter("agent", "agent", Agent, "agent_id"),
        "source",
    ]
    list_select_related = ["workspace", "team", "agent", "type", "usage"]
    search_fields = ["content"]  # matched as shown (get_search_results), not raw tokens
    search_help_text = (
        "Searches the text as shown: masked values by their labels (email 1, encrypted email, "
        "hashed phone); never a hash or ciphertext."
    )
    show_full_result_count = False
    actions = ["approve_selected", "reject_selected", "forget_selected"]
    # Shown to those `decisions_for` allows (apps/memories/console_decisions.py); editing is
    # the form below, for those who hold `edit`.
    actions_detail = ["rollback_detail", "promote_detail", "expire_detail", "forget_detail"]
    readonly_fields = [
        "workspace",
        "tier",
        "owner",
        "status_label",
        "version",
        "evidence_count",
        "content_text",
        "provenance_panel",
        "versions_panel",
        "retrievals_panel",
        "effectiveness_panel",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Every word (or "quoted phrase") must be in the content as people read it: tokens as
        their labels (shown_text_sql), so "email" finds `email 1` and `encrypted email` chips
        and a piece of a token's hash or ciphertext finds nothing.

        The labels' words are slow to compute in the database (regexes), so they are computed
        only for candidate rows: those whose stored text holds the word (a label's entity name
        is in its token: `EMAIL` in `<ENC:EMAIL:...>`), and, for a word that can only come
        from a label's own text ("encrypted", "hashed", a phrase with a space, a word with
        punctuation), rows that hold a token at all."""
        words = [
            unescape_string_literal(bit) if bit[:1] in "\"'" and bit[-1:] == bit[:1] else bit
            for bit in smart_split(search_term)
        ]
        words = [word for word in words if word.strip()]
        if not words:
            return queryset, False
        shown = queryset.annotate(shown_content=shown_text_sql("content"))
        for word in words:
            candidates = Q(content__icontains=word)
            if _label_only_word(word):
                candidates |= Q(content__contains="<")
            shown = shown.filter(candidates).filter(shown_content__icontains=word)
        return shown, False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        return LightChangeList

    def get_urls(self) -> list[Any]:
        """The console's pages (brains, expire, reset, why was this used) come first: the
        admin's own `<object_id>/` pattern would swallow them."""
        return [*console_urls(self), *super().get_urls()]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = self.has_change_permission(request, obj)
        # Someone who may edit sees the stored text raw in its textarea, and above it the text
        # as people read it (chips); a reader, the chips only.
        readonly = ["content_text", *EDITABLE[1:]]
        content = ["content_text", *EDITABLE, "reason"] if editable else readonly
        if obj is not None:
            obj.__dict__["_steward_reveal"] = _reveal_context(request, obj)
        return [
            (None, {"fields": ["workspace", "tier", "owner", "status_label", "version"]}),
            ("Content", {"fields": content}),
            ("Provenance", {"fields": ["provenance_panel", "evidence_count", "created_at"]}),
            ("Version history", {"fields": ["versions_panel"]}),
            ("Retrieval history", {"fields": ["retrievals_panel", "updated_at"]}),
            ("Effectiveness (observational)", {"fields": ["effectiveness_panel"]}),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        """The page's title and header name the item by its content: tokens as labels, not
        ciphertext."""
        context["subtitle"] = masked_labels(context.get("subtitle"))
        if context.get("original") is not None:
            context["original"] = Labelled(context["original"])
        return super().render_change_form(request, context, *args, **kwargs)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """As the change page: the title and breadcrumb name the item with labels."""
        response = super().history_view(request, object_id, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and context.get("object") is not None:
            context["title"] = masked_labels(context.get("title"))
            context["object"] = Labelled(context["object"])
        return response

    def has_review_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, Action.REVIEW, obj)

    def grants_cover(self, grants: Grants, action: str, obj: Any) -> bool:
        """Team-tier items are visible by a role on their team (MemoryItemQuerySet)."""
        return super().grants_cover(grants, action, obj) or (
            obj.tier == Tier.TEAM and obj.team_id in grants.team_ids(action)
        )

    def can_add(self, request: HttpRequest) -> bool:
        return False  # agents and the API write memories; people edit and decide here

    # --- list columns ---------------------------------------------------------------------

    @display(description="Uses", ordering="usage__retrieval_count")
    def uses(self, obj: MemoryItem) -> int:
        return obj.retrieval_count

    @display(description="Content")
    def summary(self, obj: MemoryItem) -> str:
        return masked_chips(obj.content, limit=90)

    @display(description="Tier", label={"workspace": "info", "team": "success"})
    def tier_label(self, obj: MemoryItem) -> str:
        return obj.tier

    @display(
        description="Status",
        label={
            Status.APPROVED: "success",
            Status.PROPOSED: "warning",
            Status.REJECTED: "danger",
            Status.EXPIRED: "info",
        },
    )
    def status_label(self, obj: MemoryItem) -> str:
        return obj.status

    @display(description="Owner")
    def owner(self, obj: MemoryItem) -> str:
        if obj.tier == Tier.PERSONAL and obj.agent is not None:
            return f"agent {obj.agent}"
        if obj.tier == Tier.TEAM and obj.team is not None:
            return f"team {obj.team}"
        return "whole workspace"

    # --- detail panels ------------------------------------------------------------------

    @display(description="Content as people read it")
    def content_text(self, obj: MemoryItem) -> SafeString:
        """Chips for masked values; for people who may reveal, each encrypted chip opens a
        reason box that reveals that value in place (audited). An owner who may not reveal yet
        gets a link to grant themselves the right (a confirm page, audited)."""
        reveal, grant_url = obj.__dict__.get("_steward_reveal", (None, None))
        text = format_html(
            '<div style="white-space:pre-wrap" data-testid="memory-content">{}</div>',
            masked_chips(obj.content, reveal=reveal),
        )
        has_encrypted = ENCRYPTED_TOKEN.search(obj.content or "") is not None
        if reveal is not None and has_encrypted:
            return format_html(
                '{}<p class="text-xs mt-1">Click an encrypted value to reveal it; you give a '
                "reason and the audit trail records it.</p>",
                text,
            )
        if grant_url and has_encrypted:
            return format_html(
                '{}<p class="text-xs mt-1"><a class="text-primary-600" data-testid="reveal-self" '
                'href="{}">Allow yourself to reveal encrypted values in this workspace…</a></p>',
                text,
                grant_url,
            )
        return text

    @display(description="Source and links")
    @once_per_object
    def provenance_panel(self, obj: MemoryItem) -> SafeString:
        creator = obj.created_by_agent or obj.created_by_user or "—"
        parents = list(obj.parents.order_by("pk")[:50])  # same workspace, by the write service
        links = format_html_join(
            ", ",
            '<a href="{}">#{}</a>',
            ((reverse("admin:memories_memoryitem_change", args=[p.pk]), p.pk) for p in parents),
        )
        evidence = format_html_join(
            ", ", '<a href="{}">{}</a>', ((url, label) for label, url in evidence_links(obj))
        )
        return format_html(
            "<dl><dt>Source</dt><dd>{}</dd><dt>Written by</dt><dd>{}</dd>"
            "<dt>Trace id</dt><dd>{}</dd><dt>Derived from</dt><dd>{}</dd>"
            "{}{}</dl>",
            Source(obj.source).label,
            creator,
            obj.source_trace_id or "—",
            links or "—",
            format_html("<dt>Evidence ({})</dt><dd>{}</dd>", obj.evidence_count, evidence)
            if evidence
            else "",
            _details_html(obj.provenance),
        )

    @display(description="Versions (newest first)")
    @once_per_object
    def versions_panel(self, obj: MemoryItem) -> SafeString:
        versions = memory_versions_with_diff(obj)
        if not versions:
            return mark_safe("<p>No recorded versions.</p>")
        rows = format_html_join(
            "",
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.version.version,
                    entry.version.created_at.strftime("%Y-%m-%d %H:%M"),
                    entry.version.actor_label,
                    masked_chips(entry.version.reason or "—"),
                    _diff_html(entry.diff),
                )
                for entry in versions
            ),
        )
        return format_html(
            "<table><thead><tr><th>Version</th><th>When</th><th>Who</th><th>Why</th>"
            "<th>Change</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @display(description=f"Context assemblies that used it (last {RETRIEVAL_HISTORY_LIMIT})")
    @once_per_object
    def retrievals_panel(self, obj: MemoryItem) -> SafeString:
        uses = list(
            ContextAssemblyItem.objects.filter(item=obj)
            .select_related("assembly", "assembly__agent")
            .order_by("-id")[:RETRIEVAL_HISTORY_LIMIT]
        )
        if not uses:
            return mark_safe("<p>Never retrieved.</p>")
        runs = _runs_of(use.assembly_id for use in uses)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    use.assembly.created_at.strftime("%Y-%m-%d %H:%M"),
                    use.assembly.agent,
                    _run_cell(use.assembly, runs.get(use.assembly_id)),
                    use.rank,
                    f"{use.score:.3f}",
                )
                for use in uses
            ),
        )
        return format_html(
            '<p>Retrieved {} time(s) in all. <a href="{}">Why was this used: the full history '
            "with tasks and score breakdowns</a></p><table><thead><tr><th>When</th>"
            "<th>Agent</th><th>Trace</th><th>Rank</th><th>Score</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            obj.retrieval_count,
            reverse("admin:memories_memoryitem_uses", args=[obj.pk]),
            rows,
        )

    @display(description="Outcomes with and without it")
    @once_per_object
    def effectiveness_panel(self, obj: MemoryItem) -> SafeString:
        """apps.signals.effectiveness over the last 90 days: one query."""
        return effectiveness_html(obj)

    # --- writes through services ------------------------------------------------------------

    def update_via_service(self, actor: Any, obj: MemoryItem, form: Any) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE}
        if "type" in changes:
            changes["type"] = changes["type"].key
        if changes:
            updated = services.memory_update(
                actor=actor,
                item=obj,
                reason=form.cleaned_data.get("reason", ""),
                **changes,
            )
            back_to_review = obj.status == Status.APPROVED and updated.status == Status.PROPOSED
            obj.__dict__["_steward_back_to_review"] = back_to_review

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        """An edit the write policy sent back to review says so (the admin's own message
        only says it was changed)."""
        if obj.__dict__.get("_steward_back_to_review"):
            self.message_user(
                request,
                "The workspace's write policy sends this edit to review: the memory is proposed "
                "again and leaves context until a reviewer approves it.",
                messages.WARNING,
            )
        return super().response_change(request, obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Parents are provenance, not edited here; the service already saved everything."""

    def _decide(self, request: HttpRequest, queryset: QuerySet[Any], decide: Any) -> int:
        actor = as_principal(request.user)
        done = 0
        for item in queryset.filter(status=Status.PROPOSED):
            decide(actor=actor, item=item, reason="decided in admin")
            done += 1
        return done

    # --- decisions on one memory (buttons on the change page) -----------------------------

    def _decisions(self, request: HttpRequest, object_id: Any) -> Any:
        """What the person may do with the page's item: unfold asks once per button."""

        def compute() -> Any:
            item = self.get_object(request, unquote(str(object_id))) if object_id else None
            return decide.decisions_for(request, item) if item is not None else decide.Decisions()

        return per_request(request, ("memory-decisions-page", str(object_id)), compute)

    def has_rollback_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(self._decisions(request, object_id).rollback)

    def has_promote_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(self._decisions(request, object_id).promote)

    def has_expire_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(self._decisions(request, object_id).expire)

    def has_forget_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return bool(self._decisions(request, object_id).forget)

    @action(description="Roll back…", icon="history", permissions=["rollback"])
    def rollback_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:memories_memoryitem_rollback", args=[object_id]))

    @action(description="Promote…", icon="upgrade", permissions=["promote"])
    def promote_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:memories_memoryitem_promote", args=[object_id]))

    @action(description="Expire…", icon="timer_off", permissions=["expire"])
    def expire_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:memories_memoryitem_expire", args=[object_id]))

    @action(description="Forget…", icon="delete", permissions=["forget"])
    def forget_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:memories_memoryitem_forget", args=[object_id]))

    @action(description="Approve selected proposed memories", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._decide(request, queryset, services.memory_approve)
        self.message_user(request, f"Approved {done} memory(ies).", messages.SUCCESS)

    @action(description="Reject selected proposed memories", permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._decide(request, queryset, services.memory_reject)
        self.message_user(request, f"Rejected {done} memory(ies).", messages.SUCCESS)

    @action(description="Forget selected memories", permissions=["change"])
    def forget_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = as_principal(request.user)
        done = 0
        for item in queryset:
            services.memory_forget(actor=actor, item=item, reason="forgotten in admin")
            done += 1
        self.message_user(request, f"Forgot {done} memory(ies).", messages.SUCCESS)


LABEL_ONLY_WORDS = ("encrypted", "hashed")


def _label_only_word(word: str) -> bool:
    """Whether `word` can be in a row's text as shown without being in its stored text: part
    of "encrypted" or "hashed", a space (`email 1` is `<EMAIL_1>`), or punctuation that runs
    from the text into a label (`(email`)."""
    lowered = word.lower()
    return not lowered.replace("_", "").isalnum() or any(
        lowered in label or label in lowered for label in LABEL_ONLY_WORDS
    )


def _reveal_context(request: HttpRequest, item: MemoryItem) -> tuple[RevealInPlace | None, str]:
    """(how chips reveal in place, or None; the owner's self-grant page, or "")."""
    if may_reveal(request.user, item.workspace):
        url = reverse("admin:memories_memoryitem_reveal", args=[item.pk, 0])
        url = url.removesuffix("0/") + "{index}/"
        return RevealInPlace(url=url, csrf_token=get_token(request)), ""
    if decide.may_grant_self_reveal(request, item.workspace):
        grant = reverse("admin:privacy_privacypolicy_reveal_self", args=[item.workspace_id])
        back = reverse("admin:memories_memoryitem_change", args=[item.pk])
        return None, f"{grant}?{urlencode({'next': back})}"
    return None, ""


def _runs_of(assembly_ids: Any) -> dict[int, int]:
    """The stored run (signals' Trace) that used each assembly, by the relation signals
    declares (ContextAssembly.traces), in one query; no import of that app."""
    rows = ContextAssembly.objects.filter(pk__in=set(assembly_ids), traces__isnull=False)
    return dict(rows.order_by("traces").values_list("pk", "traces"))


def _run_cell(assembly: Any, run_id: int | None) -> SafeString:
    """The agent's own trace id, and a link to the run's page when the run was stored."""
    label = masked_chips(assembly.trace_id) if assembly.trace_id else "—"
    if run_id is None:
        return format_html("{}", label)
    url = reverse("admin:signals_trace_change", args=[run_id])
    return format_html('{} <a class="text-primary-600" href="{}">run #{}</a>', label, url, run_id)


def _details_html(details: Any) -> SafeString:
    """Provenance details as "key: value" lines (chips for masked values); none, no row."""
    if not details:
        return mark_safe("")
    if not isinstance(details, dict):
        return format_html("<dt>Details</dt><dd>{}</dd>", masked_chips(details))
    lines = format_html_join(
        "",
        "<div>{}: {}</div>",
        ((str(key).replace("_", " "), masked_chips(value)) for key, value in details.items()),
    )
    return format_html("<dt>Details</dt><dd>{}</dd>", lines)


def _diff_html(diff: str) -> SafeString:
    if not diff:
        return mark_safe("—")
    colours = {"+": "#15803d", "-": "#b91c1c", "@": "#6b7280"}
    lines = format_html_join(
        "\n",
        '<span style="color:{}">{}</span>',
        ((colours.get(line[:1], "inherit"), masked_chips(line)) for line in diff.splitlines()),
    )
    return format_html('<pre style="white-space:pre-wrap">{}</pre>', lines)


# --- coaching pages (the "Coach this agent/team" buttons of apps/workspaces/admin.py) --------


def may_coach(request: HttpRequest, target: Agent | Team) -> bool:
    """coaching_note_write's rule for people: edit or review on the agent or team, or an
    operator. Decides the button on the change page and the page itself."""
    if not has_console_access(request):
        return False
    if request.user.is_superuser:
        return True
    manager: Any = type(target)._default_manager

    def compute() -> bool:
        return any(
            manager.visible_to(request.user, allowed).filter(pk=target.pk).exists()
            for allowed in (Action.EDIT, Action.REVIEW)
        )

    return per_request(request, ("coach", target._meta.label, target.pk), compute)


def coaching_target(model_admin: Any, request: HttpRequest, object_id: Any) -> Agent | Team | None:
    """The agent or team of the page, if the person sees it (a malformed id is None)."""
    if object_id is None:
        return None
    target: Agent | Team | None = model_admin.get_object(request, unquote(str(object_id)))
    return target


def coaching_permission(model_admin: Any, request: HttpRequest, object_id: Any = None) -> bool:
    target = coaching_target(model_admin, request, object_id)
    return target is not None and may_coach(request, target)


def coaching_page(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET shows the form and the recent coaching notes; POST writes one note through
    coaching_note_write as the signed-in person. A refusal is a message on the form."""
    target = coaching_target(model_admin, request, object_id)
    if target is None or not may_coach(request, target):
        raise PermissionDenied
    form = CoachingNoteForm(request.POST) if request.method == "POST" else CoachingNoteForm()
    if request.method == "POST" and form.is_valid():
        try:
            item = services.coaching_note_write(
                actor=as_principal(request.user),
                workspace=target.workspace,
                agent=target if isinstance(target, Agent) else None,
                team=target if isinstance(target, Team) else None,
                **form.service_arguments(),
            )
        except ServiceError as exc:
            _service_errors_onto(form, exc)
            messages.error(request, f"Nothing was written: {exc.message}")
        else:
            messages.success(
                request,
                f"Coaching note #{item.pk} written onto {_target_label(target)} "
                f"(approved, importance {item.importance:g}).",
            )
            return HttpResponseRedirect(_after_coaching(request, item))
    opts = model_admin.opts
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Coach {_target_label(target)}",
        "opts": opts,
        "original": target,
        "target": target,
        "is_agent": isinstance(target, Agent),
        "form": form,
        "notes": _recent_coaching(request, target),
        "back_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk]),
    }
    return TemplateResponse(request, "admin/memories/coach.html", context)


def _target_label(target: Agent | Team) -> str:
    return f"agent {target}" if isinstance(target, Agent) else f"team {target}"


def _service_errors_onto(form: CoachingNoteForm, exc: ServiceError) -> None:
    for name, errors in exc.fields.items():
        if name in form.fields:
            form.add_error(name, errors)


def _after_coaching(request: HttpRequest, item: MemoryItem) -> str:
    """The new memory's page; a person coaching through a per-agent grant may not see
    memories, so they come back to the coaching page (which lists what they may see)."""
    if MemoryItem.objects.visible_to(request.user, Action.VIEW).filter(pk=item.pk).exists():
        return reverse("admin:memories_memoryitem_change", args=[item.pk])
    return request.get_full_path()


def _recent_coaching(request: HttpRequest, target: Agent | Team) -> list[dict[str, Any]]:
    """The newest coaching notes on this brain that the person may see: for an agent, its own
    and its team's (both surface on its tasks); for a team, the team's."""
    if isinstance(target, Agent):
        about = Q(tier=Tier.PERSONAL, agent_id=target.pk)
        if target.team_id:
            about |= Q(tier=Tier.TEAM, team_id=target.team_id)
    else:
        about = Q(tier=Tier.TEAM, team_id=target.pk)
    notes = (
        MemoryItem.objects.visible_to(request.user, Action.VIEW)
        .filter(about, type__key="coaching", workspace_id=target.workspace_id)
        .filter(deleted_at__isnull=True)
        .select_related("agent", "team", "created_by_user", "created_by_agent")
        .order_by("-created_at", "-id")[:RECENT_COACHING_LIMIT]
    )
    return [
        {
            "item": note,
            "url": reverse("admin:memories_memoryitem_change", args=[note.pk]),
            "owner": "this agent" if note.tier == Tier.PERSONAL else f"team {note.team}",
            "author": note.created_by_user or note.created_by_agent or "—",
        }
        for note in notes
    ]


from apps.memories import write_policy_admin  # noqa: E402, F401  (registers WritePolicyAdmin)
