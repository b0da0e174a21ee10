"""Workspaces, teams, members, agents and tokens in the admin, scoped to what you manage."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdminMixin
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from apps.core.admin_site import ScopedModelAdmin, per_request
from apps.core.selectors import workspaces_with_counts
from apps.memories.admin import coaching_page, coaching_permission
from apps.privacy.display import masked_chips
from apps.workspaces import services
from apps.workspaces.forms import AgentTokenAddForm, MembershipAddForm
from apps.workspaces.grants import grants_of
from apps.workspaces.models import Agent, AgentToken, Membership, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

User = get_user_model()


def _only_visible(field: str) -> tuple[str, type[admin.RelatedOnlyFieldListFilter]]:
    """A foreign-key filter listing only values of rows the person sees: the default filter
    lists every row of the related table, other workspaces' names included."""
    return (field, admin.RelatedOnlyFieldListFilter)


def workspaces_managed_in_part(user: Any) -> QuerySet[Workspace]:
    """Workspaces where `user` manages the workspace or at least one of its teams."""
    teams = Team.objects.visible_to(user, Action.MANAGE).values("workspace_id")
    whole = Workspace.objects.visible_to(user, Action.MANAGE).values("pk")
    return Workspace.objects.filter(Q(pk__in=whole) | Q(pk__in=teams))


class _ManagedChoicesMixin:
    """Foreign-key choices offer only what the person may manage.

    `workspace_choices_in_part`: a team admin picks the workspace of their team (the service
    still refuses a workspace-wide change they may not make).
    """

    workspace_choices_in_part = False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        model = db_field.related_model
        if model is Workspace and self.workspace_choices_in_part:
            kwargs["queryset"] = workspaces_managed_in_part(request.user)
        elif model in (Workspace, Team, Agent):
            kwargs["queryset"] = model.objects.visible_to(request.user, Action.MANAGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


@admin.register(Workspace)
class WorkspaceAdmin(ScopedModelAdmin):
    list_display = ["name", "slug", "teams", "members", "agents", "created_at"]
    search_fields = ["name", "slug"]
    fields = ["name", "slug"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return workspaces_with_counts(request.user, super().get_queryset(request))

    @display(description="Teams", ordering="team_count")
    def teams(self, obj: Any) -> int:
        return int(obj.team_count)

    @display(description="Members", ordering="member_count")
    def members(self, obj: Any) -> int:
        return int(obj.member_count)

    @display(description="Agents", ordering="agent_count")
    def agents(self, obj: Any) -> int:
        return int(obj.agent_count)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["slug"] if obj is not None else []

    def can_add(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def create_via_service(self, actor: Any, obj: Workspace, form: Any) -> None:
        created = services.workspace_create(
            actor=actor, name=obj.name, slug=obj.slug, owner=actor.user
        )
        obj.pk = created.pk

    def update_via_service(self, actor: Any, obj: Workspace, form: Any) -> None:
        services.workspace_update(actor=actor, workspace=obj, name=obj.name)


def _manages_workspace(request: HttpRequest, workspace_id: int | None) -> bool:
    def compute() -> bool:
        if request.user.is_superuser and not workspace_id:
            return True  # operators manage every workspace (the form lists which exist)
        grants = grants_of(request.user)
        if grants is not None:  # Workspace.visible_to(MANAGE) is exactly these ids
            managed_ids = grants.workspace_ids(Action.MANAGE)
            return workspace_id in managed_ids if workspace_id else bool(managed_ids)
        managed = Workspace.objects.visible_to(request.user, Action.MANAGE)
        return managed.filter(pk=workspace_id).exists() if workspace_id else managed.exists()

    return per_request(request, ("manages_workspace", workspace_id), compute)


@admin.register(Team)
class TeamAdmin(_ManagedChoicesMixin, ScopedModelAdmin):
    """Teams are made and removed by those who manage the workspace; team admins rename."""

    list_display = ["name", "workspace", "slug", "agent_total", "created_at"]
    list_filter = [_only_visible("workspace")]
    list_select_related = ["workspace"]
    search_fields = ["name", "slug"]
    actions_detail = ["coach_team"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(agent_count=Count("agents"))

    @display(description="Agents", ordering="agent_count")
    def agent_total(self, obj: Any) -> int:
        return int(obj.agent_count)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["workspace", "name", "slug"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["workspace", "slug"] if obj is not None else []

    def can_add(self, request: HttpRequest) -> bool:
        return _manages_workspace(request, None)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return _manages_workspace(request, obj.workspace_id if obj is not None else None)

    def create_via_service(self, actor: Any, obj: Team, form: Any) -> None:
        created = services.team_create(
            actor=actor, workspace=obj.workspace, name=obj.name, slug=obj.slug
        )
        obj.pk = created.pk

    def update_via_service(self, actor: Any, obj: Team, form: Any) -> None:
        services.team_update(actor=actor, team=obj, name=obj.name)

    def delete_via_service(self, actor: Any, obj: Team) -> None:
        services.team_delete(actor=actor, team=obj)

    def has_coach_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """People with edit or review on the team (or operators): coaching_note_write's rule."""
        return coaching_permission(self, request, object_id)

    @action(description="Coach this team", icon="school", permissions=["coach"], url_path="coach")
    def coach_team(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return coaching_page(self, request, object_id)


@admin.register(Membership)
class MembershipAdmin(_ManagedChoicesMixin, ScopedModelAdmin):
    workspace_choices_in_part = True
    list_display = ["user", "workspace", "team", "role_label", "created_at"]
    list_filter = [_only_visible("workspace"), "role", _only_visible("team")]
    list_select_related = ["user", "workspace", "team"]
    search_fields = ["user__username", "user__email"]

    @display(
        description="Role",
        label={"owner": "danger", "admin": "warning", "reviewer": "success", "auditor": "info"},
    )
    def role_label(self, obj: Membership) -> str:
        return obj.role

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["person", "workspace", "team", "role"]
        return ["user", "workspace", "team", "role"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "workspace", "team"] if obj is not None else []

    def create_via_service(self, actor: Any, obj: Membership, form: Any) -> None:
        created = services.membership_grant(
            actor=actor,
            workspace=obj.workspace,
            team=obj.team,
            user=form.cleaned_data["person"],
            role=obj.role,
        )
        obj.pk, obj.user = created.pk, created.user

    def update_via_service(self, actor: Any, obj: Membership, form: Any) -> None:
        fresh = Membership.objects.select_related("workspace", "team").get(pk=obj.pk)
        services.membership_change_role(actor=actor, membership=fresh, role=obj.role)

    def delete_via_service(self, actor: Any, obj: Membership) -> None:
        services.membership_revoke(actor=actor, membership=obj)


def _through_service(form_class: Any, request: HttpRequest, holder: str) -> Any:
    """guardian's grant form, limited to what scoping honours and saved by the service."""

    class GrantForm(form_class):
        def get_obj_perms_field_choices(self) -> list[Any]:
            choices = super().get_obj_perms_field_choices()
            return [choice for choice in choices if choice[0] in services.AGENT_GRANTABLE]

        def save_obj_perms(self) -> None:
            services.agent_access_set(
                actor=as_principal(request.user),
                agent=self.obj,
                permissions=list(self.cleaned_data[self.get_obj_perms_field_name()]),
                **{holder: getattr(self, holder)},
            )

    return GrantForm


@admin.register(Agent)
class AgentAdmin(_ManagedChoicesMixin, GuardedModelAdminMixin, ScopedModelAdmin):
    workspace_choices_in_part = True
    rows_need_a_role_or_agent_grant = True
    list_display = [
        "name",
        "description_text",
        "workspace",
        "team",
        "active_badge",
        "token_total",
        "created_at",
    ]
    list_filter = [_only_visible("workspace"), _only_visible("team"), "is_active"]
    list_select_related = ["workspace", "team"]
    search_fields = ["name", "slug", "description"]
    actions = ["deactivate_agents"]
    actions_detail = ["coach_agent"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Token counts only over tokens the person may see (those of agents they manage)."""
        tokens = (
            AgentToken.objects.visible_to(request.user, Action.MANAGE)
            .filter(agent=OuterRef("pk"), revoked_at__isnull=True)
            .order_by()
            .values("agent")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(token_count=Coalesce(Subquery(tokens, output_field=IntegerField()), 0))
        )

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        if not self.has_change_permission(request):
            shown.remove("token_total")
        return shown

    @display(description="Active", label={"yes": "success", "no": "danger"})
    def active_badge(self, obj: Agent) -> str:
        return "yes" if obj.is_active else "no"

    @display(description="Unrevoked tokens", ordering="token_count")
    def token_total(self, obj: Any) -> int:
        return int(obj.token_count)

    @display(description="Description")
    def description_text(self, obj: Agent) -> str:
        """Masked values as chips; the edit form's textarea keeps the stored text raw."""
        return masked_chips(obj.description, limit=90)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        team_field = form.base_fields.get("team")
        if obj is not None and team_field is not None:
            team_field.queryset = team_field.queryset.filter(workspace_id=obj.workspace_id)
        return form

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        base = ["workspace", "team", "name", "slug", "description"]
        if obj is None:
            return base
        if not self.has_change_permission(request, obj):
            base[-1] = "description_full"
        return [*base, "is_active"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["workspace", "slug", "description_full"] if obj is not None else []

    @display(description="Description")
    def description_full(self, obj: Agent) -> str:
        return format_html('<p style="white-space:pre-wrap">{}</p>', masked_chips(obj.description))

    def create_via_service(self, actor: Any, obj: Agent, form: Any) -> None:
        created = services.agent_create(
            actor=actor,
            workspace=obj.workspace,
            team=obj.team,
            name=obj.name,
            slug=obj.slug,
            description=obj.description,
        )
        obj.pk = created.pk

    def update_via_service(self, actor: Any, obj: Agent, form: Any) -> None:
        changes = {name: getattr(obj, name) for name in form.changed_data}
        if changes:
            services.agent_update(actor=actor, agent=Agent.objects.get(pk=obj.pk), **changes)

    def _operators_only(self, request: HttpRequest) -> HttpResponse | None:
        if request.user.is_superuser:
            return None
        self.message_user(request, "Only operators may grant per-agent access.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:workspaces_agent_changelist"))

    def obj_perms_manage_view(self, request: HttpRequest, object_pk: str) -> HttpResponse:
        """guardian's per-object grants: operators only, since they bypass membership roles."""
        refused = self._operators_only(request)
        return refused or super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(
        self, request: HttpRequest, object_pk: str, user_id: str
    ) -> HttpResponse:
        refused = self._operators_only(request)
        return refused or super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(
        self, request: HttpRequest, object_pk: str, group_id: str
    ) -> HttpResponse:
        refused = self._operators_only(request)
        return refused or super().obj_perms_manage_group_view(request, object_pk, group_id)

    def get_obj_perms_manage_user_form(self, request: HttpRequest) -> Any:
        return _through_service(super().get_obj_perms_manage_user_form(request), request, "user")

    def get_obj_perms_manage_group_form(self, request: HttpRequest) -> Any:
        base = super().get_obj_perms_manage_group_form(request)
        return _through_service(base, request, "group")

    @action(
        description="Deactivate selected agents (their tokens stop working)",
        permissions=["change"],
    )
    def deactivate_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        actor = as_principal(request.user)
        done = 0
        for agent in queryset.filter(is_active=True):
            services.agent_update(actor=actor, agent=agent, is_active=False)
            done += 1
        self.message_user(request, f"Deactivated {done} agent(s).", messages.SUCCESS)

    def has_coach_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        """People with edit or review on the agent (or operators): coaching_note_write's rule."""
        return coaching_permission(self, request, object_id)

    @action(description="Coach this agent", icon="school", permissions=["coach"], url_path="coach")
    def coach_agent(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return coaching_page(self, request, object_id)


@admin.register(AgentToken)
class AgentTokenAdmin(_ManagedChoicesMixin, ScopedModelAdmin):
    """Token metadata is for those who manage the agent; the secret is shown once, on issue."""

    view_action = Action.MANAGE
    rows_need_a_role_or_agent_grant = True
    form = AgentTokenAddForm
    list_display = ["name", "agent", "display_prefix", "state_label", "expires_at", "last_used_at"]
    list_filter = [_only_visible("agent__workspace"), _only_visible("agent")]
    list_select_related = ["agent", "agent__workspace"]
    search_fields = ["name", "prefix", "agent__name"]
    actions = ["revoke_tokens"]
    readonly_fields = [
        "agent",
        "name",
        "display_prefix",
        "scopes",
        "expires_at",
        "revoked_at",
        "revoked_reason",
        "last_used_at",
        "created_by",
        "created_at",
    ]

    @display(description="Token")
    def display_prefix(self, obj: AgentToken) -> str:
        return f"stw_{obj.prefix}_…"

    @display(
        description="State", label={"active": "success", "expired": "warning", "revoked": "danger"}
    )
    def state_label(self, obj: AgentToken) -> str:
        return obj.state

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["agent", "name", "scopes", "expires_at"]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def can_add(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True  # the form lists the agents there are
        grants = grants_of(request.user)
        if grants is not None:  # manages some agents (the form lists which): no query
            return bool(
                grants.per_agent
                or grants.workspace_ids(Action.MANAGE)
                or grants.team_ids(Action.MANAGE)
            )
        return bool(Agent.objects.visible_to(request.user, Action.MANAGE).exists())

    def save_model(self, request: HttpRequest, obj: AgentToken, form: Any, change: bool) -> None:
        token, raw = services.agent_token_issue(
            actor=as_principal(request.user),
            agent=obj.agent,
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            expires_at=obj.expires_at,
        )
        obj.pk, obj.prefix = token.pk, token.prefix
        request.issued_token_secret = raw  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        """Show the secret on this one response; it is never stored, so never shown again."""
        raw = getattr(request, "issued_token_secret", None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Copy the new token now",
            "token": obj,
            "secret": raw,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/workspaces/agenttoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[AgentToken]) -> None:
        actor = as_principal(request.user)
        done = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.agent_token_revoke(actor=actor, token=token, reason="revoked in admin")
            done += 1
        self.message_user(request, f"Revoked {done} token(s).", messages.SUCCESS)


admin.site.unregister(User)
admin.site.unregister(Group)


class OperatorsOnly:
    """Accounts and groups are the operators' (superusers'); workspace roles live on
    memberships. Asking Django's model permissions instead cost every admin page two queries
    (the sidebar asks whether to list these)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


@admin.register(User)
class UserAdmin(OperatorsOnly, BaseUserAdmin, ModelAdmin):  # type: ignore[type-arg]
    """Accounts are the operators' (superusers'); workspace roles live on memberships."""

    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(OperatorsOnly, BaseGroupAdmin, ModelAdmin):
    pass
