"""What the promotion tests share: an experiment whose treatment points at a prompt version
and a memory set, and stored looks computed by the real statistics.

`store_look` calls apps.experiments.stats.analyze on counts that mean what the test says
(a clear win, a tie, a skewed split, a harmed guardrail) and stores its `as_dict()` as an
ExperimentAnalysis row with the matching fields, as apps.experiments.analysis does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.experiments import services
from apps.experiments.models import AnalysisTrigger, Experiment, ExperimentAnalysis
from apps.experiments.stats import Metric, Proportion, analyze
from apps.memories.models import Status
from apps.policies import services as policies
from apps.policies.models import PRODUCTION, Artifact, ArtifactVersion, Label, LabelEvent
from apps.reviews.models import ReviewRequest
from apps.workspaces.principal import as_principal
from tests.conftest import SYSTEM
from tests.experiments.conftest import design
from tests.memories.factories import MemoryItemFactory

# (exposures, conversions) per variant of the primary metric and of the unsubscribe guardrail
WIN = {"control": (5000, 250), "short": (5000, 420)}
TIE = {"control": (5000, 250), "short": (5000, 258)}
SKEWED = {"control": (5600, 280), "short": (4400, 370)}
CALM = {"control": (5000, 50), "short": (5000, 52)}
HARMFUL = {"control": (5000, 50), "short": (5000, 260)}


def store_look(
    experiment: Experiment,
    primary: dict[str, tuple[int, int]] = WIN,
    guardrail: dict[str, tuple[int, int]] = CALM,
    *,
    computed_at: dt.datetime | None = None,
) -> ExperimentAnalysis:
    variants = {v.key: v for v in experiment.variants.all()}
    control = next(key for key, v in variants.items() if v.is_control)
    total = sum(v.weight for v in variants.values())
    analysis = analyze(
        weights={key: v.weight / total for key, v in variants.items()},
        control=control,
        exposures={key: counts[0] for key, counts in primary.items()},
        primary=Metric("meeting_booked", {k: Proportion(*c) for k, c in primary.items()}),
        guardrails=[
            Metric(
                "unsubscribe",
                {k: Proportion(*c) for k, c in guardrail.items()},
                higher_is_better=False,
                tolerance=0.01,
            )
        ],
        planned_exposures=experiment.sample_size_per_variant * len(variants),
        alpha=experiment.alpha,
    )
    extra = {"computed_at": computed_at} if computed_at is not None else {}
    return ExperimentAnalysis.objects.create(
        experiment=experiment,
        trigger=AnalysisTrigger.ON_DEMAND,
        exposures=sum(counts[0] for counts in primary.values()),
        outcome=analysis.decision.outcome.value,
        winner_key=analysis.decision.variant or "",
        srm_passed=not analysis.sample_ratio.failed,
        guardrails_passed=not any(check.harmed for check in analysis.guardrails),
        result=analysis.as_dict(),
        **extra,
    )


class World:
    """An experiment `promo` (control / short): short points at prompt v2 and the memories
    tagged `short-tips`; control points at v1 (in production) and the memories tagged
    `old-tips`. Each side has a proposed memory and an approved one."""

    def __init__(self, cast: Any, *, start: bool = True, stop: bool = False) -> None:
        workspace = cast.workspace
        self.artifact = policies.policy_artifact_create(
            actor=SYSTEM, workspace=workspace, kind="prompt", name="first-email"
        )
        self.v1 = policies.policy_version_create(
            actor=SYSTEM, artifact=self.artifact, content={"template": "Long first e-mail."}
        )
        self.v2 = policies.policy_version_create(
            actor=SYSTEM, artifact=self.artifact, content={"template": "Short first e-mail."}
        )
        policies.move_label(
            as_principal(SYSTEM),
            Artifact.objects.get(pk=self.artifact.pk),
            PRODUCTION,
            self.v1,
            how=LabelEvent.How.APPROVED,
            reason="baseline",
        )
        memory = {"workspace": workspace}
        self.short_proposed = MemoryItemFactory(
            **memory, tags=["short-tips"], status=Status.PROPOSED
        )
        self.short_approved = MemoryItemFactory(**memory, tags=["short-tips"])
        self.old_proposed = MemoryItemFactory(**memory, tags=["old-tips"], status=Status.PROPOSED)
        self.old_approved = MemoryItemFactory(**memory, tags=["old-tips"])
        self.unrelated = MemoryItemFactory(**memory, status=Status.PROPOSED)
        spec = design(
            key="promo",
            variants=[
                {
                    "key": "control",
                    "is_control": True,
                    "weight": 1,
                    "policy_versions": [self.v1.pk],
                    "memory_tag": "old-tips",
                },
                {
                    "key": "short",
                    "weight": 1,
                    "policy_versions": [self.v2.pk],
                    "memory_tag": "short-tips",
                },
            ],
        )
        experiment = services.experiment_create(actor=SYSTEM, workspace=workspace, **spec)
        if start:
            experiment = services.experiment_start(actor=SYSTEM, experiment=experiment, reason="go")
        if stop:
            experiment = services.experiment_stop(
                actor=SYSTEM, experiment=experiment, reason="done"
            )
        self.experiment = experiment

    def production(self) -> int | None:
        label = Label.objects.filter(artifact=self.artifact, name=PRODUCTION).first()
        return label.version_id if label else None

    def statuses(self) -> dict[str, str]:
        items = ("short_proposed", "short_approved", "old_proposed", "old_approved", "unrelated")
        return {
            name: type(getattr(self, name)).objects.get(pk=getattr(self, name).pk).status
            for name in items
        }

    def snapshot(self) -> tuple[Any, ...]:
        """Everything approving a promotion would change."""
        experiment = Experiment.objects.get(pk=self.experiment.pk)
        return (
            experiment.status,
            experiment.winner_id,
            experiment.decided_at,
            experiment.release_notes,
            list(experiment.variants.order_by("id").values_list("key", "retired_at")),
            self.production(),
            self.statuses(),
            ArtifactVersion.objects.get(pk=self.v2.pk).message,
            LabelEvent.objects.filter(artifact=self.artifact).count(),
        )


def requests_of(experiment: Experiment, kind: str) -> list[ReviewRequest]:
    return list(ReviewRequest.objects.filter(kind=kind, subject_id=experiment.pk).order_by("id"))
