"""The review queue in the admin: a changelist of waiting requests the viewer may decide
(filters, search, sort by age and priority, bulk approve / reject / expire behind a
confirmation page) and a keyboard-friendly decision page per request. Every decision goes
through apps.reviews.services; auditors and viewers read the queue without deciding."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import action, display

from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    has_console_access,
    visible_filter,
)
from apps.core.exceptions import ServiceError
from apps.privacy.display import masked_chips
from apps.reviews import services
from apps.reviews.kinds import review_kind_or_none, review_kinds
from apps.reviews.models import (
    Kind,
    Priority,
    RequestStatus,
    ReviewRequest,
    ReviewSettings,
    ReviewTier,
)
from apps.reviews.panels import decision_context
from apps.reviews.selectors import review_badge_for, with_sla
from apps.workspaces.grants import Grants
from apps.workspaces.models import Agent, Team
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

BULK = {
    "approve": (
        "Approve",
        lambda actor, r, reason: services.review_approve(actor=actor, request=r, reason=reason),
    ),
    "reject": (
        "Reject",
        lambda actor, r, reason: services.review_reject(actor=actor, request=r, reason=reason),
    ),
    "expire": (
        "Expire",
        lambda actor, r, reason: services.review_expire(actor=actor, request=r, reason=reason),
    ),
}


def sidebar_reviews(request: HttpRequest) -> bool:
    return _module_permission(request, "reviews.ReviewRequest")


def sidebar_review_settings(request: HttpRequest) -> bool:
    return _module_permission(request, "reviews.ReviewSettings")


def sidebar_badge(request: HttpRequest) -> str:
    """Waiting requests the person may decide, on the sidebar entry (empty when none)."""
    if not has_console_access(request):
        return ""
    return review_badge_for(request.user)


class StatusFilter(admin.SimpleListFilter):
    """Waiting requests by default: the queue is what still needs someone."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [("pending", "Waiting"), ("decided", "Decided"), ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "pending") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or "pending"
        if value == "all":
            return queryset
        if value not in RequestStatus.values:
            return queryset.none()
        return queryset.filter(status=value)


class TierFilter(admin.SimpleListFilter):
    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(ReviewTier.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(tier=value)


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [("overdue", "Overdue (past SLA)"), ("1d", "Under a day"), ("1w", "Over a week")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        value = self.value()
        if value == "overdue":
            return queryset.filter(overdue=True)
        if value == "1d":
            return queryset.filter(created_at__gte=now - dt.timedelta(days=1))
        if value == "1w":
            return queryset.filter(created_at__lt=now - dt.timedelta(days=7))
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [("me", "Assigned to me"), ("none", "Unassigned"), ("others", "Assigned to others")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value, me = self.value(), request.user.pk
        if value == "me":
            return queryset.filter(assignee_id=me)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value == "others":
            return queryset.filter(assignee__isnull=False).exclude(assignee_id=me)
        return queryset


class BulkReasonForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


@admin.register(ReviewRequest)
class ReviewRequestAdmin(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.REVIEW
    workspace_role_covers_objects = True
    list_display = [
        "summary",
        "kind_label",
        "tier",
        "team",
        "requester",
        "age",
        "priority_label",
        "assignee",
        "status_label",
    ]
    list_filter = [
        StatusFilter,
        "kind",
        TierFilter,
        visible_filter("team", "team", Team, "team_id"),
        visible_filter("agent", "agent", Agent, "requested_by_agent_id"),
        AgeFilter,
        AssigneeFilter,
    ]
    list_select_related = [
        "memory",
        "team",
        "requested_by_agent",
        "requested_by_user",
        "assignee",
    ]
    search_fields = ["memory__content"]
    ordering = ["-priority", "created_at", "id"]
    actions = ["approve_selected", "reject_selected", "expire_selected"]
    show_full_result_count = False

    def get_list_filter(self, request: HttpRequest) -> Any:
        """The generic filters, with each kind's own after the kind filter (memory type)."""
        extra = [f for kind in review_kinds() for f in kind.list_filters()]
        return [*self.list_filter[:2], *extra, *self.list_filter[2:]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Reviewers see what they may decide; auditors and viewers read what they may see."""
        action_name = Action.REVIEW if self.capable(request, Action.REVIEW) else Action.VIEW
        queryset = self.scoped(request, action_name).select_related(*self.list_select_related)
        return with_sla(queryset)

    def has_review_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, Action.REVIEW, obj)

    def grants_cover(self, grants: Grants, action: str, obj: Any) -> bool:
        """Requests are visible by a workspace role or by a role on their team."""
        team_id = getattr(obj, "team_id", None)
        return super().grants_cover(grants, action, obj) or (
            team_id is not None and team_id in grants.team_ids(action)
        )

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        """As the admin's, with what the decision page prints selected along (the workspace's
        review settings, the item's type): fewer queries per page."""
        if from_field is not None:
            return super().get_object(request, object_id, from_field)
        queryset = self.get_queryset(request).select_related(
            "workspace__review_settings", "memory__type"
        )
        try:
            return queryset.get(pk=int(object_id))
        except (ReviewRequest.DoesNotExist, ValueError, TypeError):
            return None

    def can_add(self, request: HttpRequest) -> bool:
        return False  # requests come from proposals, edits, conflicts and promotion requests

    # --- columns ----------------------------------------------------------------------------

    @display(description="Item")
    def summary(self, obj: ReviewRequest) -> str:
        """Masked values as chips, clipped at 90 characters but never inside a token."""
        handler = review_kind_or_none(obj.kind)
        text = handler.summary(obj) if handler is not None else obj.get_kind_display()
        return masked_chips(text, limit=90)

    @display(
        description="Kind",
        label={
            Kind.CONFLICT: "danger",
            Kind.EDIT: "warning",
            Kind.PROMOTION: "info",
            Kind.POLICY_VERSION: "info",
        },
    )
    def kind_label(self, obj: ReviewRequest) -> str:
        return obj.kind

    @display(description="Requested by")
    def requester(self, obj: ReviewRequest) -> str:
        return obj.requested_by_label()

    @display(description="Age", ordering="created_at")
    def age(self, obj: ReviewRequest) -> str:
        """How long a waiting request has waited; for a decided one, how long it waited."""
        if obj.status != RequestStatus.PENDING:
            waited = (obj.decided_at or obj.created_at) - obj.created_at
            return f"decided after {_duration(waited)}"
        text = _duration(timezone.now() - obj.created_at)
        if getattr(obj, "overdue", False):
            return format_html(
                '<span class="review-overdue" title="Past the SLA">⚠ {} overdue</span>', text
            )
        return text

    @display(
        description="Priority",
        ordering="priority",
        label={"High": "warning", "Urgent": "danger"},
    )
    def priority_label(self, obj: ReviewRequest) -> str:
        return Priority(obj.priority).label

    @display(description="Status", label={"pending": "warning", "decided": "success"})
    def status_label(self, obj: ReviewRequest) -> str:
        return obj.status if obj.status == "pending" else obj.decision

    # --- bulk decisions with a confirmation page ---------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Any], decision: str) -> Any:
        label, call = BULK[decision]
        waiting = list(
            queryset.filter(status=RequestStatus.PENDING).select_related(*self.list_select_related)
        )
        form = BulkReasonForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            actor = as_principal(request.user)
            for row in waiting:
                call(actor, row, form.cleaned_data["reason"])
            done = {"approve": "Approved", "reject": "Rejected", "expire": "Expired"}[decision]
            self.message_user(request, f"{done} {len(waiting)} request(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} {len(waiting)} request(s)?",
            "opts": self.opts,
            "requests": waiting,
            "rows": [(row, self.summary(row)) for row in waiting],
            "decision": decision,
            "label": label,
            "action_name": f"{decision}_selected",
            "form": form,
            "reason_required": decision == "reject",
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/reviews/bulk_confirm.html", context)

    @action(description="Approve selected requests", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._bulk(request, queryset, "approve")

    @action(description="Reject selected requests (with a reason)", permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._bulk(request, queryset, "reject")

    @action(description="Expire selected memories now", permissions=["review"])
    def expire_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return self._bulk(request, queryset, "expire")

    # --- the decision page ---------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The request with its item, provenance, similar items and diff; POST decides."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        may_decide = self.has_change_permission(request, obj)
        queue = self.get_queryset(request).filter(status=RequestStatus.PENDING)
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied
            done = self._decide_from_post(request, obj, queue)
            if done is not None:
                return done
        panels = decision_context(request, obj, queue)
        context = {
            **self.admin_site.each_context(request),
            **panels,
            "title": f"Review #{obj.pk}: {obj.get_kind_display()}",
            "opts": self.opts,
            "original": obj,
            "may_decide": may_decide and obj.status == RequestStatus.PENDING,
            **_decision_buttons(panels, four_eyes_blocked(request, obj, panels["four_eyes"])),
            "changelist_url": reverse("admin:reviews_reviewrequest_changelist"),
        }
        return TemplateResponse(request, "admin/reviews/decide.html", context)

    def _decide_from_post(
        self, request: HttpRequest, obj: ReviewRequest, queue: QuerySet[Any]
    ) -> HttpResponse | None:
        decision = request.POST.get("decision", "")
        # the page's form always carries the text box and the tier: pass what the decision takes
        handler = review_kind_or_none(obj.kind)
        wanted = handler.arguments.get(decision, ()) if handler is not None else ()
        given = {name: request.POST[name] for name in wanted if name in request.POST}
        try:
            services.review_decide(
                actor=as_principal(request.user),
                request=obj,
                decision=decision,
                reason=request.POST.get("reason", ""),
                **given,
            )
        except ServiceError as exc:
            self.message_user(request, refusal_text(exc.message), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        self.message_user(request, f"Review #{obj.pk}: {done_text(decision)}.", messages.SUCCESS)
        if decision == "edit":
            return HttpResponseRedirect(request.get_full_path())
        following = queue.exclude(pk=obj.pk).order_by("-priority", "created_at", "id").first()
        if following is None:
            return HttpResponseRedirect(reverse("admin:reviews_reviewrequest_changelist"))
        return HttpResponseRedirect(
            reverse("admin:reviews_reviewrequest_change", args=[following.pk])
        )


DONE = {
    "approve": "approved",
    "edit": "edited",
    "edit_approve": "edited and approved",
    "reject": "rejected",
    "request_changes": "sent back for changes",
    "expire": "expired",
    "merge": "merged",
    "promote": "approved and promoted",
}
# Decisions that approve: refused under four eyes to whoever requested or edited the request;
# the editing ones also count the caller's edit now (apps/reviews/services/common.py).
APPROVING = ("approve", "promote")
APPROVING_BY_EDIT = ("edit_approve", "merge")


def done_text(decision: str) -> str:
    return DONE.get(decision, f"{decision.replace('_', ' ')} recorded")


def refusal_text(message: str) -> str:
    """One "Nothing was changed", whether or not the service's message already says it."""
    if "nothing was changed" in message.lower():
        return message
    return f"Nothing was changed: {message}"


def _duration(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def four_eyes_blocked(request: HttpRequest, obj: ReviewRequest, four_eyes: bool) -> dict[str, str]:
    """The decisions the four-eyes rule refuses this person, each with why, so the page shows
    them disabled instead of refusing after the click. The service still decides (a kind may
    name more authors, e.g. a policy version's writer)."""
    if not four_eyes:
        return {}
    me = request.user.pk
    blocked = dict.fromkeys(
        APPROVING_BY_EDIT,
        f"Four-eyes rule for the {obj.tier} tier: whoever edits this may not also approve it. "
        "Edit it, and another reviewer approves.",
    )
    if me in {obj.requested_by_user_id, obj.edited_by_id}:
        why = (
            f"Four-eyes rule for the {obj.tier} tier: you requested or edited this, so another "
            "reviewer must approve it."
        )
        blocked.update(dict.fromkeys(APPROVING, why))
    return blocked


def _decision_buttons(panels: dict[str, Any], blocked: dict[str, str]) -> dict[str, Any]:
    """(decision, label, why it is disabled or "") per button, and the one explanation shown
    under them (the approve one first)."""
    shown = [d for d, _ in panels["decision_labels"] if d in blocked]
    why = blocked.get("approve") or (blocked[shown[0]] if shown else "")
    return {
        "decision_buttons": [
            (d, label, blocked.get(d, "")) for d, label in panels["decision_labels"]
        ],
        "four_eyes_why": why,
    }


class ReviewSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    four_eyes_tiers = forms.MultipleChoiceField(
        label="Four-eyes tiers",
        choices=ReviewTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="In these tiers, whoever requested or edited an item may not also approve it.",
    )

    class Meta:
        model = ReviewSettings
        fields = ["sla_hours", "four_eyes_tiers"]
        labels = {"sla_hours": "SLA hours"}


@admin.register(ReviewSettings)
class ReviewSettingsAdmin(ScopedModelAdmin):
    """Per workspace: the SLA and where four eyes apply. Rows exist once a workspace's queue
    is first used (or the demo seeds it); changes go through review_settings_update."""

    view_action = Action.MANAGE
    change_action = Action.MANAGE
    form = ReviewSettingsForm
    list_display = ["workspace", "sla", "four_eyes", "updated_at"]
    list_select_related = ["workspace"]

    @display(description="SLA hours", ordering="sla_hours")
    def sla(self, obj: ReviewSettings) -> int:
        return obj.sla_hours

    @display(description="Four-eyes tiers")
    def four_eyes(self, obj: ReviewSettings) -> str:
        return ", ".join(obj.four_eyes_tiers) or "none"

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def update_via_service(self, actor: Any, obj: ReviewSettings, form: Any) -> None:
        services.review_settings_update(
            actor=actor,
            workspace=obj.workspace,
            sla_hours=form.cleaned_data["sla_hours"],
            four_eyes_tiers=form.cleaned_data["four_eyes_tiers"],
        )
