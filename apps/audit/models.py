"""The audit trail: one append-only row per change, written in the change's transaction."""

from __future__ import annotations

from typing import Any, NoReturn, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.workspaces.models import ScopedQuerySet, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or remove an audit event through the ORM."""


class AuditEventQuerySet(ScopedQuerySet):
    def for_user(self, principal: Principal, action: str) -> Self:
        # Reading the trail needs the audit capability, whatever action was asked for.
        user = principal.required_user
        return self.filter(Q(workspace_id__in=workspace_ids_for(user, Action.AUDIT)))

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; update() is refused.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; delete() is refused.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; bulk_update() is refused.")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; update_or_create() is refused.")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("update_conflicts"):
            raise AppendOnlyError("Audit events are append-only; upserts are refused.")
        return super().bulk_create(objs, *args, **kwargs)


class ActorKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System task"


class AuditEvent(models.Model):
    """Who did what to which object, with before/after snapshots (masked) and why.

    `workspace` carries no database constraint so the trail outlives what it describes.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="audit_ws_id"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor_kind", "actor_id"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("update_fields") or kwargs.get("force_update"):
            raise AppendOnlyError("Audit events are append-only; an existing event can't be saved.")
        # An explicit pk on a new instance would otherwise make Django try an UPDATE first and
        # overwrite the stored event; forcing the INSERT turns that into an IntegrityError.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only; delete() is refused.")
