"""Signals: what happened after an agent acted. Traces (one agent run), feedback on a trace and
outcome events (a reply, a booked meeting, an unsubscribe, spend ...).

Rows are records, not decisions: they are written in bulk by the ingestion services
(apps.signals.services) and never edited. Every free-text field is masked by the PII engine
before it is stored; contacts and accounts are kept only as keyed hashes.

Scoping: people with a role in the workspace read its rows; an agent reads its own traces and
the feedback and outcomes about them (or that it reported).
"""

from __future__ import annotations

from typing import Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField

from apps.workspaces.models import ScopedQuerySet, workspace_ids_for
from apps.workspaces.principal import Principal
from apps.workspaces.roles import Action


class TraceStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    ESCALATED = "escalated", "Escalated"


class FeedbackKind(models.TextChoices):
    USER = "user", "A person using Steward"
    END_CUSTOMER = "end_customer", "An end customer, relayed by the agent"
    VERIFIER = "verifier", "An automated verifier (test, schema check)"


class OutcomeKind(models.TextChoices):
    REPLY = "reply", "Reply"
    POSITIVE_REPLY = "positive_reply", "Positive reply"
    MEETING_BOOKED = "meeting_booked", "Meeting booked"
    STAGE_MOVE = "stage_move", "Stage move"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    COMPLAINT = "complaint", "Complaint"
    BOUNCE = "bounce", "Bounce"
    SPEND = "spend", "Spend"
    CUSTOM = "custom", "Custom"


class SignalQuerySet(ScopedQuerySet):
    """Members of the workspace see its rows; an agent sees the rows of its own runs."""

    agent_filter: tuple[str, ...] = ("agent_id",)

    def for_user(self, principal: Principal, action: str) -> Self:
        return self.filter(workspace_id__in=workspace_ids_for(principal.required_user, action))

    def for_agent(self, principal: Principal, action: str) -> Self:
        if action != Action.VIEW:
            return self.none()
        agent = principal.required_agent
        mine = Q()
        for path in self.agent_filter:
            mine |= Q(**{path: agent.pk})
        return self.filter(workspace_id=agent.workspace_id).filter(mine)


class FeedbackQuerySet(SignalQuerySet):
    agent_filter = ("trace__agent_id",)


class OutcomeQuerySet(SignalQuerySet):
    agent_filter = ("trace__agent_id", "reported_by_agent_id")


class Trace(models.Model):
    """One agent run: the task, its steps and tool calls, the output and what it cost."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="traces"
    )
    agent = models.ForeignKey("workspaces.Agent", on_delete=models.CASCADE, related_name="traces")
    task = models.TextField()
    task_kind = models.SlugField(
        max_length=60,
        blank=True,
        help_text="What kind of task this run did (e.g. follow_up_email); runs of one kind are "
        "compared with each other.",
    )
    steps = models.JSONField(default=list, blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=TraceStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    context_assembly = models.ForeignKey(
        "memories.ContextAssembly",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="traces",
        help_text="The retrieval log of the context this run used (same workspace).",
    )
    policy_versions = models.JSONField(
        default=list,
        blank=True,
        help_text="The policy, prompt and skill versions the run used: "
        '[{"id", "artifact", "kind", "version"}], checked against the workspace.',
    )
    experiment_assignments = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = SignalQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="trace_ws_recent"),
            models.Index(fields=["agent", "-id"], name="trace_agent_recent"),
            models.Index(fields=["agent", "task_kind", "-id"], name="trace_agent_kind"),
            # The admin list filtered by start date reads newest first by start (trace_admin)
            models.Index(fields=["workspace", "-started_at", "-id"], name="trace_ws_started"),
            models.Index(fields=["-started_at", "-id"], name="trace_started"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="trace_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"trace #{self.pk} ({self.status})"


class Feedback(models.Model):
    """A judgement of one trace: thumbs, a rating, an explanation, an edited output."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="trace_feedback"
    )
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="feedback")
    kind = models.CharField(max_length=14, choices=FeedbackKind.choices)
    given_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reported_by_agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    thumbs = models.SmallIntegerField(null=True, blank=True, help_text="+1 up, -1 down.")
    rating = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 to 5.")
    explanation = models.TextField(blank=True)
    edited_output = models.TextField(blank=True)
    diff = models.TextField(blank=True, help_text="Unified diff of the output and the edit.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["workspace", "-id"], name="feedback_ws_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(thumbs__isnull=True) | Q(thumbs__in=[-1, 1]), name="feedback_thumbs"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="feedback_rating_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"feedback #{self.pk} on trace {self.trace_id}"


class Outcome(models.Model):
    """Something that happened after a run (days later, often). Sent twice, counted once: the
    idempotency key is unique per workspace (stored as a keyed digest)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="outcomes"
    )
    trace = models.ForeignKey(
        Trace, on_delete=models.SET_NULL, null=True, blank=True, related_name="outcomes"
    )
    reported_by_agent = models.ForeignKey(
        "workspaces.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reported_by_user = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=OutcomeKind.choices)
    custom_kind = models.SlugField(max_length=60, blank=True)
    account_hash = models.CharField(max_length=64, blank=True)
    contact_hash = models.CharField(max_length=64, blank=True)
    experiment_unit_hash = models.CharField(max_length=64, blank=True)
    from_stage = models.CharField(max_length=60, blank=True)
    to_stage = models.CharField(max_length=60, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    occurred_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OutcomeQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "-id"], name="outcome_ws_recent"),
            models.Index(fields=["trace"], name="outcome_trace"),
            models.Index(fields=["workspace", "contact_hash"], name="outcome_contact"),
            # The admin list filtered by date reads newest first by occurrence (trace_admin)
            models.Index(fields=["workspace", "-occurred_at", "-id"], name="outcome_ws_occurred"),
            models.Index(fields=["-occurred_at", "-id"], name="outcome_occurred"),
            # Experiment analysis joins outcomes to exposures by unit (apps.experiments.analysis)
            models.Index(
                fields=["workspace", "experiment_unit_hash"],
                condition=~Q(experiment_unit_hash=""),
                name="outcome_experiment_unit",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"], name="outcome_key_unique_in_ws"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


# --- learning candidates (apps.signals.learning) --------------------------------------------


class MembersOnlyQuerySet(SignalQuerySet):
    """Members of the workspace see these rows; agents none (learning is about people's
    judgements of many agents' runs, and its settings are the workspace's)."""

    def for_agent(self, principal: Principal, action: str) -> Self:
        return self.none()


class LearningSettings(models.Model):
    """How much consistent evidence a learning candidate needs before it is proposed as a
    memory, per workspace (a missing row means the defaults). Changed through
    `learning_settings_update`, which audits the change."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="learning_settings"
    )
    min_traces = models.PositiveSmallIntegerField(
        default=3,
        help_text="Independent traces (distinct runs) whose feedback says the same thing.",
    )
    min_editor_evidence = models.PositiveSmallIntegerField(
        default=1,
        help_text="Or this many pieces from people with the editor role (or higher).",
    )
    similarity = models.FloatField(
        default=0.8,
        help_text="Cosine similarity (0.5 to 1) at which two explanations count as the same.",
    )
    distill = models.BooleanField(
        default=False,
        help_text="Distil a cluster into one rule with the chat endpoint the deployment "
        "configures (SIGNALS_DISTILL_BASE_URL); without one, the representative is used.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembersOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "learning settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_traces__gte=1) & Q(min_editor_evidence__gte=1),
                name="learning_thresholds_positive",
            ),
            models.CheckConstraint(
                condition=Q(similarity__gte=0.5, similarity__lte=1),
                name="learning_similarity_range",
            ),
        ]

    def __str__(self) -> str:
        return f"learning settings of workspace {self.workspace_id}"


class CandidateStatus(models.TextChoices):
    COLLECTING = "collecting", "Collecting evidence"
    PROPOSED = "proposed", "Proposed as a memory"


class LearningCandidate(models.Model):
    """Feedback that says the same thing (an explanation or an edit), aggregated by meaning:
    one row per cluster, with its evidence. Proposed as one memory once the evidence reaches
    the workspace's thresholds."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="learning_candidates"
    )
    memory_type = models.CharField(max_length=40, help_text="correction or preference")
    content = models.TextField(help_text="The representative explanation (masked).")
    proposed_content = models.TextField(
        blank=True, help_text="What was proposed: the representative, or the distilled rule."
    )
    distilled = models.BooleanField(default=False)
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    evidence_count = models.PositiveIntegerField(
        default=0, help_text="Independent traces among the evidence."
    )
    editor_count = models.PositiveIntegerField(
        default=0, help_text="Pieces of evidence from people with the editor role or higher."
    )
    person_verified = models.BooleanField(
        default=False, help_text="A person (not only agents) gave some of the evidence."
    )
    status = models.CharField(
        max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.COLLECTING
    )
    memory = models.ForeignKey(
        "memories.MemoryItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    proposed_at = models.DateTimeField(null=True, blank=True)

    objects = MembersOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["workspace", "memory_type", "id"], name="candidate_ws_type"),
            models.Index(fields=["workspace", "status", "-id"], name="candidate_ws_status"),
        ]

    def __str__(self) -> str:
        return f"candidate #{self.pk} ({self.evidence_count} traces)"


class CandidateEvidence(models.Model):
    """One piece of feedback counted towards a candidate (a feedback counts once, anywhere)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    candidate = models.ForeignKey(
        LearningCandidate, on_delete=models.CASCADE, related_name="evidence"
    )
    feedback = models.OneToOneField(
        Feedback, on_delete=models.CASCADE, related_name="candidate_evidence"
    )
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="+")
    by_person = models.BooleanField(default=False)
    by_editor = models.BooleanField(default=False)
    similarity = models.FloatField(default=1.0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MembersOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["candidate_id", "id"]
        verbose_name_plural = "candidate evidence"
        indexes = [models.Index(fields=["candidate", "trace"], name="evidence_candidate_trace")]

    def __str__(self) -> str:
        return f"feedback {self.feedback_id} for candidate {self.candidate_id}"
