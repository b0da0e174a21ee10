"""The admin's shared parts: the scoped ModelAdmin base, the dashboard and the env badge."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from unfold.admin import ModelAdmin

from apps.core.exceptions import ServiceError
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action


def has_console_access(request: HttpRequest) -> bool:
    """Signed-in staff with a membership (or an operator); mirrors scoping's notion of access."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    return bool(user.is_superuser or user.memberships.exists())


class ScopedModelAdmin(ModelAdmin):
    """Every admin reads through `Model.objects.visible_to(user, action)`: one rule for all.

    Subclasses set `view_action` / `change_action`, implement `create_via_service` and
    `update_via_service`, and may set `delete_via_service`. Service refusals become messages.
    """

    view_action: str = Action.VIEW
    change_action: str = Action.MANAGE
    show_full_result_count = False
    list_per_page = 50

    def scoped(self, request: HttpRequest, action: str) -> QuerySet[Any]:
        manager: Any = self.model._default_manager
        return manager.visible_to(request.user, action)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = self.scoped(request, self.view_action)
        if self.list_select_related and not isinstance(self.list_select_related, bool):
            queryset = queryset.select_related(*self.list_select_related)
        return queryset

    def _allowed(self, request: HttpRequest, action: str, obj: models.Model | None) -> bool:
        if not has_console_access(request):
            return False
        queryset = self.scoped(request, action)
        return queryset.filter(pk=obj.pk).exists() if obj is not None else queryset.exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, self.view_action, None)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request, self.view_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request, self.change_action, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return has_console_access(request) and self.can_add(request)

    def can_add(self, request: HttpRequest) -> bool:
        from apps.workspaces.models import Team, Workspace

        return (
            Workspace.objects.visible_to(request.user, Action.MANAGE).exists()
            or Team.objects.visible_to(request.user, Action.MANAGE).exists()
        )

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        if not hasattr(self, "delete_via_service"):
            return False
        return self._allowed(request, self.change_action, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk deletes bypass services
        return actions

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        """Bulk actions are all-or-nothing; a refusal names itself instead of a server error."""
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
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


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
    return context
