"""Eval test helpers over the shared cast: a set with cases, a prompt with versions, runs posted
through the service, and a harness token (policies:propose)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.evals import services
from apps.evals.models import EvalCase, EvalResult, EvalRun, EvalSet, EvalSettings
from apps.policies.models import ArtifactVersion
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope
from apps.workspaces.services import agent_token_issue
from tests.conftest import SYSTEM
from tests.policies.conftest import artifact, version


@pytest.fixture
def harness(cast: Any) -> Any:
    """`cast` with a harness token for its agent: policies:propose posts runs."""
    _, cast.harness_secret = agent_token_issue(
        actor=SYSTEM,
        agent=cast.agent,
        name="harness",
        scopes=[*DEFAULT_SCOPES, Scope.POLICIES_PROPOSE.value],
    )
    return cast


def eval_set(cast: Any, keys: tuple[str, ...] = ("a", "b", "c", "d"), **extra: Any) -> EvalSet:
    made = services.eval_set_create(
        actor=SYSTEM, workspace=extra.pop("workspace", cast.workspace), key="smoke", name="Smoke"
    )
    holdout = set(extra.pop("holdout", ()))
    cases = [
        {
            "key": key,
            "input": {"task": f"task {key}"},
            "split": "holdout" if key in holdout else "dev",
        }
        for key in keys
    ]
    return services.eval_cases_add(actor=SYSTEM, eval_set=made, cases=cases)


def prompt_versions(cast: Any, n: int = 2) -> list[ArtifactVersion]:
    art = artifact(cast, name="outreach", kind="prompt")
    return [version(art, f"Write version {i}.") for i in range(1, n + 1)]


def post(
    eval_set: EvalSet, version: ArtifactVersion, passed: dict[str, bool], **extra: Any
) -> EvalRun:
    results = [
        {"case": key, "passed": ok, "score": 1.0 if ok else 0.0, "cost": 0.01, "latency_ms": 100}
        for key, ok in passed.items()
    ]
    return services.eval_run_post(
        actor=extra.pop("actor", SYSTEM),
        eval_set=eval_set,
        artifact_version=version,
        results=results,
        **extra,
    )


def state() -> dict[str, Any]:
    """Everything an eval action could touch: equal before and after means nothing changed."""
    return {
        "sets": list(EvalSet.objects.order_by("pk").values()),
        "cases": list(EvalCase.objects.order_by("pk").values()),
        "runs": list(EvalRun.objects.order_by("pk").values()),
        "results": EvalResult.objects.count(),
        "settings": list(EvalSettings.objects.order_by("pk").values()),
        "events": AuditEvent.objects.count(),
    }
