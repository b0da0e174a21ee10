"""The admin's shared parts: the scoped ModelAdmin base, the dashboard and the env badge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from unfold.admin import ModelAdmin

from apps.core.exceptions import ServiceError
from apps.core.paginator import CappedCountPaginator
from apps.workspaces.grants import Grants, grants_of
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action, roles_allowed

T = TypeVar("T")


def per_request(request: HttpRequest, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Permission answers are asked for many times per page (sidebar, app list, buttons);
    one request computes each once."""
    memo: dict[tuple[Any, ...], Any] = request.__dict__.setdefault("_steward_memo", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def has_console_access(request: HttpRequest) -> bool:
    """Signed-in staff with a membership or a per-agent grant (or an operator); mirrors
    scoping's notion of access."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True

    def compute() -> bool:
        from apps.workspaces.models import AgentGroupObjectPermission, AgentUserObjectPermission

        grants = grants_of(user)
        if grants is not None:
            return bool(grants.memberships or grants.per_agent)
        return bool(
            user.memberships.exists()
            or AgentUserObjectPermission.objects.filter(user=user).exists()
            or AgentGroupObjectPermission.objects.filter(group__user=user).exists()
        )

    return per_request(request, ("console",), compute)


WRITE_ACTIONS = (Action.MANAGE, Action.MANAGE_OWNERS, Action.REVIEW, Action.EDIT)


def is_read_only(request: HttpRequest) -> bool:
    """People whose roles only read (auditor, viewer) and who hold no per-agent grant: the
    admin shows them no add/change/delete control and no bulk action, and refuses their POSTs,
    whatever a subclass's own permission methods say."""
    user = request.user
    if not user.is_authenticated or user.is_superuser:
        return False

    def compute() -> bool:
        from apps.workspaces.models import (
            AgentGroupObjectPermission,
            AgentUserObjectPermission,
            Membership,
        )

        writes = {role for action in WRITE_ACTIONS for role in roles_allowed(action)}
        grants = grants_of(user)
        if grants is not None:
            return not (grants.holds(writes) or grants.per_agent)
        return not (
            Membership.objects.filter(user=user, role__in=writes).exists()
            or AgentUserObjectPermission.objects.filter(user=user).exists()
            or AgentGroupObjectPermission.objects.filter(group__user=user).exists()
        )

    return per_request(request, ("read_only",), compute)


def refuse_read_only_post(request: HttpRequest) -> None:
    if request.method == "POST" and is_read_only(request):
        raise PermissionDenied("Your role can read this, not change it.")


class ScopedModelAdmin(ModelAdmin):
    """Every admin reads through `Model.objects.visible_to(user, action)`: one rule for all.

    Subclasses set `view_action` / `change_action`, implement `create_via_service` and
    `update_via_service`, and may set `delete_via_service`. Service refusals become messages.
    """

    view_action: str = Action.VIEW
    change_action: str = Action.MANAGE
    workspace_roles_only = False
    # True where the model's visible_to(user, action) includes every row of the workspaces in
    # which the user holds a workspace-level role allowing `action` (memories, review requests).
    workspace_role_covers_objects = False
    # True where visible_to(user, action) holds rows only through a membership role allowing
    # `action` or a per-agent guardian grant (agents, tokens): without either, none.
    rows_need_a_role_or_agent_grant = False
    show_full_result_count = False
    paginator = CappedCountPaginator  # counts at most ADMIN_COUNT_CAP rows
    list_per_page = 50

    def scoped(self, request: HttpRequest, action: str) -> QuerySet[Any]:
        manager: Any = self.model._default_manager
        return manager.visible_to(request.user, action)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = self.scoped(request, self.view_action)
        if self.list_select_related and not isinstance(self.list_select_related, bool):
            queryset = queryset.select_related(*self.list_select_related)
        return queryset

    def holds_role_for(self, request: HttpRequest, action: str) -> bool:
        """A membership whose role allows `action` here (workspace-level only where
        `workspace_roles_only`: the audit trail is read per workspace)."""
        from apps.workspaces.models import Membership

        def compute() -> bool:
            user: Any = request.user
            grants = grants_of(user)
            if grants is not None:
                allowed = roles_allowed(action)
                return grants.holds(allowed, workspace_level_only=self.workspace_roles_only)
            roles = Membership.objects.filter(user=user, role__in=roles_allowed(action))
            if self.workspace_roles_only:
                roles = roles.filter(team__isnull=True)
            return bool(roles.exists())

        return per_request(request, ("role", action, self.workspace_roles_only), compute)

    def capable(self, request: HttpRequest, action: str) -> bool:
        """May take `action` on this kind of object somewhere: a role that allows it (even in
        a workspace that has no such rows yet) or rows already visible (per-object grants)."""
        if request.user.is_superuser:
            return True
        if self.holds_role_for(request, action):
            return True
        grants = grants_of(request.user)
        if self.rows_need_a_role_or_agent_grant and grants is not None and not grants.per_agent:
            return False  # no role allows it, no per-agent grant: the scoped rows are none
        return bool(self.scoped(request, action).exists())

    def _allowed(self, request: HttpRequest, action: str, obj: models.Model | None) -> bool:
        if not has_console_access(request):
            return False
        if obj is None:
            key: tuple[Any, ...] = (self.opts.label, action)
            return per_request(request, key, lambda: self.capable(request, action))
        key = (self.opts.label, action, obj.pk)
        return per_request(request, key, lambda: self._may(request, action, obj))

    def grants_cover(self, grants: Grants, action: str, obj: models.Model) -> bool:
        """Whether the snapshot alone shows `obj` is in visible_to(user, action): a
        workspace-level role there, where the model's scoping includes every row of such
        workspaces (`workspace_role_covers_objects`). False means "ask the database"."""
        workspace_id = getattr(obj, "workspace_id", None)
        return bool(
            self.workspace_role_covers_objects
            and workspace_id
            and workspace_id in grants.workspace_ids(action)
        )

    def _may(self, request: HttpRequest, action: str, obj: models.Model) -> bool:
        """Answer from the request's membership snapshot where it is conclusive
        (`grants_cover`); anything else asks the database."""
        if request.user.is_superuser:  # operators see every row: the object exists
            return True
        grants = grants_of(request.user)
        if grants is not None and self.grants_cover(grants, action, obj):
            return True
        return bool(self.scoped(request, action).filter(pk=obj.pk).exists())

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, self.view_action, None)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request, self.view_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        if is_read_only(request):
            return False
        return self._allowed(request, self.change_action, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if not has_console_access(request) or is_read_only(request):
            return False
        return per_request(request, (self.opts.label, "add"), lambda: self.can_add(request))

    def can_add(self, request: HttpRequest) -> bool:
        return self.capable(request, Action.MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        if not hasattr(self, "delete_via_service") or is_read_only(request):
            return False
        return self._allowed(request, self.change_action, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if is_read_only(request):
            return {}
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk deletes bypass services
        return actions

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refuse_read_only_post(request)
        return super().changelist_view(request, extra_context)

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        """Bulk actions are all-or-nothing; a refusal names itself instead of a server error.
        "Select all" across pages is held to ADMIN_BULK_MAX rows: one transaction over a
        100,000-request queue would hold its locks for minutes (and list every row on the
        confirmation page)."""
        if request.POST.get("select_across") == "1":
            limit = int(settings.ADMIN_BULK_MAX)
            if queryset.order_by()[: limit + 1].count() > limit:
                self.message_user(
                    request,
                    f"Nothing was changed: a bulk action takes at most {limit:,} rows. "
                    "Narrow the list with its filters or search, then select all again.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        try:
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ServiceError as exc:
            self.message_user(request, f"Nothing was changed: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = as_principal(request.user)
        if change:
            self.update_via_service(actor, obj, form)
        else:
            self.create_via_service(actor, obj, form)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_via_service(as_principal(request.user), obj)

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        raise NotImplementedError

    def update_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        raise NotImplementedError

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        refuse_read_only_post(request)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refuse_read_only_post(request)
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _module_permission(request: HttpRequest, model_label: str) -> bool:
    from django.apps import apps
    from django.contrib import admin

    model_admin = admin.site._registry[apps.get_model(model_label)]
    return bool(model_admin.has_module_permission(request))


def sidebar_console(request: HttpRequest) -> bool:
    """Unfold sidebar: the tenancy pages are for anyone with console access."""
    return has_console_access(request)


def sidebar_tokens(request: HttpRequest) -> bool:
    return _module_permission(request, "workspaces.AgentToken")


def sidebar_audit(request: HttpRequest) -> bool:
    return _module_permission(request, "audit.AuditEvent")


def environment_badge(request: HttpRequest) -> list[str] | None:
    """Unfold's header badge: makes a demo or debug instance impossible to mistake."""
    if settings.STEWARD_ALLOW_DEMO:
        return ["Demo", "warning"]
    if settings.DEBUG:
        return ["Development", "info"]
    return None


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    from apps.core.selectors import dashboard_for

    context["dashboard"] = dashboard_for(request.user) if has_console_access(request) else None
    from apps.reviews.selectors import review_counts_for  # the review queue's card

    context["review_counts"] = review_counts_for(request.user) if context["dashboard"] else None
    return context


def visible_filter(title: str, parameter: str, model: Any, field: str) -> type[Any]:
    """A filter listing only the rows of `model` the person sees, from that small table: the
    default foreign-key filter lists every row (other workspaces' names) and the related-only
    one scans the whole memory table for its choices."""

    class VisibleFilter(admin.SimpleListFilter):
        parameter_name = parameter

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
            rows = model.objects.visible_to(request.user, Action.VIEW).order_by("pk")
            return [(str(row.pk), str(row)) for row in rows[:200]]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            if value is None:
                return queryset
            if not value.isdigit():
                return queryset.none()
            return queryset.filter(**{field: int(value)})

    VisibleFilter.title = title
    return VisibleFilter
