"""Policies, prompts and skills in the admin: a list per kind with each artifact's labels, and
a detail page with the version history, a side-by-side diff of any two versions, the label
history, and the actions (save a new version, move a label, propose to production, roll back,
remove an unprotected label after a confirm page), each through apps.policies.services.
Versions are read-only everywhere: editing saves a new one. Editors write versions and move or
remove labels, reviewers and admins approve (in the review queue) and roll back, auditors and
viewers read."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from unfold.decorators import display

from apps.core.admin_site import (
    ScopedModelAdmin,
    _module_permission,
    is_read_only,
    refuse_read_only_post,
)
from apps.core.exceptions import ServiceError, ValidationFailed
from apps.policies import selectors, services
from apps.policies.models import (
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    Label,
    Level,
    PolicyPack,
    PolicySettings,
    Prompt,
    Skill,
)
from apps.policies.reviewing import version_text
from apps.reviews.panels import side_by_side
from apps.workspaces.models import Agent, Team, Workspace
from apps.workspaces.principal import as_principal
from apps.workspaces.roles import Action

HISTORY_LIMIT = 100


def sidebar_policies(request: HttpRequest) -> bool:
    return _module_permission(request, "policies.Artifact")


def sidebar_policy_settings(request: HttpRequest) -> bool:
    return _module_permission(request, "policies.PolicySettings")


class ArtifactForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Artifact
        fields = ["workspace", "kind", "name", "pack_kind", "level", "team", "agent", "description"]


class ArtifactAdmin(ScopedModelAdmin):
    """All kinds; the per-kind lists below are the same page filtered to one kind."""

    kind: str | None = None
    view_action = Action.VIEW
    change_action = Action.EDIT
    form = ArtifactForm
    list_display = ["name", "kind", "pack_kind", "level", "partition", "label_list", "versions_n"]
    list_filter = ["kind", "level", "pack_kind"]
    list_select_related = ["workspace", "team", "agent"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        labels = Prefetch("labels", queryset=Label.objects.select_related("version"))
        queryset = super().get_queryset(request).prefetch_related(labels)
        if self.kind is not None:
            queryset = queryset.filter(kind=self.kind)
        return queryset.annotate(versions_n=Count("versions"))

    def can_add(self, request: HttpRequest) -> bool:
        return self.capable(request, Action.EDIT)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        models = {"workspace": Workspace, "team": Team, "agent": Agent}
        if db_field.name in models:
            manager: Any = models[db_field.name]._default_manager
            kwargs["queryset"] = manager.visible_to(request.user, Action.VIEW)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"kind": self.kind} if self.kind else {}

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        data = form.cleaned_data
        created = services.policy_artifact_create(
            actor=actor,
            workspace=data["workspace"],
            kind=data["kind"],
            name=data["name"],
            level=data["level"],
            team=data.get("team"),
            agent=data.get("agent"),
            pack_kind=data.get("pack_kind") or "",
            description=data.get("description") or "",
        )
        obj.pk = created.pk

    @display(description="Partition")
    def partition(self, obj: Artifact) -> str:
        if obj.level == Level.AGENT:
            return f"agent: {obj.agent}"
        if obj.level == Level.TEAM:
            return f"team: {obj.team}"
        return f"workspace: {obj.workspace}"

    @display(description="Labels")
    def label_list(self, obj: Artifact) -> str:
        return ", ".join(f"{lb.name} → v{lb.version.number}" for lb in obj.labels.all()) or "—"

    @display(description="Versions", ordering="versions_n")
    def versions_n(self, obj: Any) -> int:
        return int(obj.versions_n)

    # --- the detail page -----------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Versions, diff, labels and their history; POST runs one action through a service."""
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request, obj)
        return TemplateResponse(request, "admin/policies/artifact.html", self._page(request, obj))

    def _page(self, request: HttpRequest, obj: Artifact) -> dict[str, Any]:
        versions = list(obj.versions.order_by("-number")[:HISTORY_LIMIT])
        by_number = {v.number: v for v in versions}
        newest = versions[0].number if versions else 0
        a = by_number.get(_int(request.GET.get("a"), newest - 1))
        b = by_number.get(_int(request.GET.get("b"), newest))
        may_edit = not is_read_only(request) and self._allowed(request, Action.EDIT, obj)
        may_review = not is_read_only(request) and self._allowed(request, Action.REVIEW, obj)
        return {
            **self.admin_site.each_context(request),
            "title": str(obj),
            "opts": self.opts,
            "original": obj,
            "artifact": obj,
            "versions": versions,
            "labels": list(obj.labels.select_related("version")),
            "history": list(selectors.label_history(obj.pk)[:HISTORY_LIMIT]),
            "a": a,
            "b": b,
            "diff": {
                "old_label": f"v{a.number}" if a else "—",
                "new_label": f"v{b.number}" if b else "—",
                "parts": side_by_side(version_text(a), version_text(b)),
            }
            if b
            else None,
            "may_edit": may_edit,
            "may_review": may_review,
            "protected_labels": selectors.protected_labels(obj.workspace_id) if may_edit else (),
            "remove_url": reverse(f"admin:{self._remove_url_name()}", args=[obj.pk]),
            "content_json": json.dumps(versions[0].content, indent=2) if versions else "",
        }

    def get_urls(self) -> list[URLPattern]:
        remove = self.admin_site.admin_view(self.remove_label_view)
        return [
            path("<path:object_id>/remove-label/", remove, name=self._remove_url_name()),
            *super().get_urls(),
        ]

    def _remove_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_remove_label"

    def remove_label_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET ?label=x asks to confirm; POST (label, reason) takes an unprotected label off
        through policy_label_remove, which checks the role and audits. Editors' action."""
        refuse_read_only_post(request)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if is_read_only(request) or not self._allowed(request, Action.EDIT, obj):
            raise PermissionDenied
        page = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        label = (request.POST if request.method == "POST" else request.GET).get("label", "")
        if request.method == "POST":
            try:
                services.policy_label_remove(
                    actor=as_principal(request.user),
                    artifact=obj,
                    label=label,
                    reason=request.POST.get("reason", ""),
                )
            except ServiceError as exc:
                self.message_user(request, f"Nothing was changed: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Removed the {label} label.", messages.SUCCESS)
            return HttpResponseRedirect(page)
        current = obj.labels.select_related("version").filter(name=label).first()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Remove the {label} label of {obj}?",
            "opts": self.opts,
            "original": obj,
            "artifact": obj,
            "label": label,
            "current": current,
            "protected": label in selectors.protected_labels(obj.workspace_id),
            "change_page": page,
        }
        return TemplateResponse(request, "admin/policies/remove_label_confirm.html", context)

    def _act(self, request: HttpRequest, obj: Artifact) -> HttpResponse:
        op = request.POST.get("op", "")
        actor = as_principal(request.user)
        needed = Action.REVIEW if op == "rollback" else Action.EDIT
        if op not in {"new_version", "move", "rollback"}:
            self.message_user(request, "Unknown action; nothing was changed.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        if not self._allowed(request, needed, obj):
            raise PermissionDenied
        try:
            message = self._run(op, actor, obj, request.POST)
        except ServiceError as exc:
            self.message_user(request, f"Nothing was changed: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(request.get_full_path())

    def _run(self, op: str, actor: Any, obj: Artifact, post: Any) -> str:
        if op == "new_version":
            try:
                content = json.loads(post.get("content", ""))
            except json.JSONDecodeError as exc:
                raise ValidationFailed(f"content is not JSON: {exc}.", fields={}) from None
            saved = services.policy_version_create(
                actor=actor, artifact=obj, content=content, message=post.get("message", "")
            )
            return f"Saved v{saved.number}."
        version = _int(post.get("version"), 0)
        label = post.get("label", "production")
        if op == "rollback":
            services.policy_label_rollback(
                actor=actor,
                artifact=obj,
                label=label,
                version=version,
                reason=post.get("reason", ""),
            )
            return f"Rolled {label} back."
        result = services.policy_label_move(
            actor=actor, artifact=obj, label=label, version=version, reason=post.get("reason", "")
        )
        if result.request is not None:
            url = reverse("admin:reviews_reviewrequest_change", args=[result.request.pk])
            return f"Proposed to {label}: review request #{result.request.pk} ({url})."
        return f"Moved {label}."


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


admin.site.register(Artifact, ArtifactAdmin)
for _proxy, _kind in (
    (PolicyPack, ArtifactKind.POLICY_PACK),
    (Prompt, ArtifactKind.PROMPT),
    (Skill, ArtifactKind.SKILL),
):
    admin.site.register(_proxy, type(f"{_proxy.__name__}Admin", (ArtifactAdmin,), {"kind": _kind}))


@admin.register(ArtifactVersion)
class ArtifactVersionAdmin(ScopedModelAdmin):
    """Read-only: a saved version never changes (the database refuses it too)."""

    view_action = Action.VIEW
    change_action = Action.EDIT
    list_display = ["__str__", "artifact", "number", "author_label", "created_at", "content_hash"]
    list_select_related = ["artifact"]
    readonly_fields = [
        "artifact",
        "number",
        "content",
        "content_hash",
        "message",
        "author_label",
        "created_at",
    ]
    fields = readonly_fields

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied("Versions never change: save a new version instead.")
        return super().changeform_view(request, object_id, form_url, extra_context)


class PolicySettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = PolicySettings
        fields = ["protected_labels"]


@admin.register(PolicySettings)
class PolicySettingsAdmin(ScopedModelAdmin):
    """Which labels besides production need a review to move; through policy_settings_update."""

    view_action = Action.MANAGE
    change_action = Action.MANAGE
    form = PolicySettingsForm
    list_display = ["workspace", "protected_labels", "updated_at"]
    list_select_related = ["workspace"]

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def update_via_service(self, actor: Any, obj: PolicySettings, form: Any) -> None:
        services.policy_settings_update(
            actor=actor,
            workspace=obj.workspace,
            protected_labels=form.cleaned_data["protected_labels"],
        )
