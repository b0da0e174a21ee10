"""Learning candidates in the admin: the feedback page's "Turn into a memory" (a confirmation
page, then apps.signals.learning.feedback_memory_propose), each feedback's candidate, the
candidates with their evidence (read-only), and the workspace's thresholds (edited through
learning_settings_update)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from unfold.decorators import display

from apps.core.admin_site import ScopedModelAdmin, has_console_access, is_read_only
from apps.core.exceptions import ServiceError
from apps.privacy.display import masked_chips
from apps.reviews.models import RequestStatus, ReviewRequest
from apps.signals.learning import (
    evidence_of,
    feedback_memory_propose,
    learning_settings_update,
)
from apps.signals.models import CandidateEvidence, Feedback, LearningCandidate, LearningSettings
from apps.workspaces.models import Workspace
from apps.workspaces.roles import Action

EVIDENCE_LIMIT = 50


def _candidate_link(candidate: LearningCandidate) -> str:
    url = reverse("admin:signals_learningcandidate_change", args=[candidate.pk])
    return format_html('<a class="text-primary-600" href="{}">#{}</a>', url, candidate.pk)


def _memory_link(memory_id: int | None) -> str:
    if memory_id is None:
        return "—"
    url = reverse("admin:memories_memoryitem_change", args=[memory_id])
    return format_html('<a class="text-primary-600" href="{}">memory #{}</a>', url, memory_id)


def feedback_learning_html(obj: Feedback) -> str:
    """The feedback's candidate: its evidence count, status and memory (one row, selected
    along with the feedback)."""
    try:
        evidence = obj.candidate_evidence
    except CandidateEvidence.DoesNotExist:
        if evidence_of(obj) is None:
            return "— (thumbs or a rating only: nothing to learn)"
        return "— (not clustered yet)"
    candidate = evidence.candidate
    return format_html(
        '<span data-testid="feedback-candidate">{} · {} independent trace(s) · {} · {}</span>',
        _candidate_link(candidate),
        candidate.evidence_count,
        candidate.get_status_display(),
        _memory_link(candidate.memory_id),
    )


def _editable_feedback(request: HttpRequest, object_id: Any) -> Feedback | None:
    """The feedback, if the user may turn it into a memory: visible to them, in a workspace
    where they hold the edit role (editor, admin, owner; operators), with something to learn."""
    if object_id is None or not str(object_id).isdigit() or not has_console_access(request):
        return None
    if is_read_only(request):
        return None
    found = (
        Feedback.objects.visible_to(request.user, Action.VIEW)
        .filter(pk=int(str(object_id)))
        .first()
    )
    if found is None or evidence_of(found) is None:
        return None
    editable = Workspace.objects.visible_to(request.user, Action.EDIT)
    return found if editable.filter(pk=found.workspace_id).exists() else None


def feedback_proposable(request: HttpRequest, object_id: Any) -> bool:
    return _editable_feedback(request, object_id) is not None


def feedback_propose_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what would be proposed; POST: propose it, then open its review request."""
    feedback = _editable_feedback(request, object_id)
    if feedback is None:
        raise PermissionDenied
    change_page = reverse("admin:signals_feedback_change", args=[feedback.pk])
    if request.method == "POST":
        try:
            done = feedback_memory_propose(actor=request.user, feedback=feedback)
        except ServiceError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(change_page)
        verb = "Proposed" if done.created else "Already proposed:"
        model_admin.message_user(
            request,
            f"{verb} memory #{done.memory.pk} ({done.candidate.evidence_count} independent "
            "trace(s) of evidence); it waits in the review queue.",
        )
        pending = ReviewRequest.objects.filter(
            memory_id=done.memory.pk, status=RequestStatus.PENDING
        ).first()
        if pending is not None:
            return HttpResponseRedirect(
                reverse("admin:reviews_reviewrequest_change", args=[pending.pk])
            )
        return HttpResponseRedirect(
            reverse("admin:memories_memoryitem_change", args=[done.memory.pk])
        )
    kind, text = evidence_of(feedback) or ("", "")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Turn feedback {feedback.pk} into a memory?",
        "feedback": feedback,
        "memory_type": kind,
        "text": text,
        "change_page": change_page,
        "opts": model_admin.opts,
    }
    return TemplateResponse(request, "admin/signals/propose_memory_confirm.html", context)


class _ReadOnly(ScopedModelAdmin):
    view_action = Action.VIEW
    change_action = Action.EDIT
    workspace_role_covers_objects = True

    def can_add(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)


@admin.register(LearningCandidate)
class LearningCandidateAdmin(_ReadOnly):
    list_display = [
        "id",
        "workspace",
        "memory_type",
        "content_short",
        "evidence_count",
        "editor_count",
        "person_verified",
        "status",
        "memory_link",
        "updated_at",
    ]
    list_filter = ["status", "memory_type"]
    list_select_related = ["workspace"]
    fields = [
        "workspace",
        "memory_type",
        "content_text",
        "proposed_text",
        "distilled",
        "evidence_count",
        "editor_count",
        "person_verified",
        "status",
        "memory_link",
        "evidence_panel",
        "created_at",
        "updated_at",
        "proposed_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).defer("embedding")

    @display(description="Explanation")
    def content_short(self, obj: LearningCandidate) -> str:
        return masked_chips(obj.content, limit=80)

    @display(description="Representative explanation")
    def content_text(self, obj: LearningCandidate) -> str:
        return masked_chips(obj.content)

    @display(description="Proposed as")
    def proposed_text(self, obj: LearningCandidate) -> str:
        return masked_chips(obj.proposed_content or "—")

    @display(description="Memory")
    def memory_link(self, obj: LearningCandidate) -> str:
        return _memory_link(obj.memory_id)

    @display(description=f"Evidence (first {EVIDENCE_LIMIT})")
    def evidence_panel(self, obj: LearningCandidate) -> SafeString:
        rows = CandidateEvidence.objects.filter(candidate=obj).order_by("id")[:EVIDENCE_LIMIT]
        lines = format_html_join(
            "",
            '<li><a href="{}">feedback #{}</a> on <a href="{}">trace #{}</a> · {} · '
            "similarity {}</li>",
            (
                (
                    reverse("admin:signals_feedback_change", args=[row.feedback_id]),
                    row.feedback_id,
                    reverse("admin:signals_trace_change", args=[row.trace_id]),
                    row.trace_id,
                    "editor" if row.by_editor else "person" if row.by_person else "agent-relayed",
                    f"{row.similarity:.2f}",
                )
                for row in rows
            ),
        )
        return format_html('<ul data-testid="candidate-evidence">{}</ul>', lines)


@admin.register(LearningSettings)
class LearningSettingsAdmin(ScopedModelAdmin):
    """Admins (manage) of a workspace set how much evidence proposes a memory."""

    view_action = Action.VIEW
    change_action = Action.MANAGE
    workspace_role_covers_objects = True
    list_display = ["workspace", "min_traces", "min_editor_evidence", "similarity", "distill"]
    list_select_related = ["workspace"]
    fields = ["workspace", "min_traces", "min_editor_evidence", "similarity", "distill"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["workspace"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "workspace":
            kwargs["queryset"] = Workspace.objects.visible_to(request.user, Action.MANAGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _values(self, form: Any) -> dict[str, Any]:
        names = ("min_traces", "min_editor_evidence", "similarity", "distill")
        return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}

    def create_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        row = learning_settings_update(
            actor=actor, workspace=form.cleaned_data["workspace"], **self._values(form)
        )
        obj.pk = row.pk

    def update_via_service(self, actor: Any, obj: Any, form: Any) -> None:
        learning_settings_update(actor=actor, workspace=obj.workspace, **self._values(form))
