"""Demo eval set for `make run`: in each demo workspace, a `first-touch` set of ten cases for
the demo prompt first-touch-email (three held out, one made from a demo trace when there is
one), and a harness's runs against its three versions: v2 fixes two cases and breaks one v1
passed (the regression on the set's page), v3 (waiting for review to production) regresses
nothing. The promotion block stays off. Idempotent: a workspace with the set is left alone."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.evals import services
from apps.evals.models import EvalSet
from apps.policies.models import Artifact, ArtifactVersion
from apps.signals.models import Trace
from apps.workspaces.models import Workspace
from apps.workspaces.principal import Principal

SEED_ACTOR = Principal.system("demo-harness")
CASES: list[tuple[str, str, str]] = [
    # (key, split, the task)
    ("cold-saas-cto", "dev", "First e-mail to a CTO at a 50-person SaaS company"),
    ("cold-agency-owner", "dev", "First e-mail to the owner of a design agency"),
    ("warm-webinar-lead", "dev", "First e-mail to a lead who attended our webinar"),
    ("referral-intro", "dev", "First e-mail after a customer referral"),
    ("german-speaker", "dev", "First e-mail to a German-speaking prospect"),
    ("follow-up-after-demo", "dev", "First e-mail to a prospect who booked and missed a demo"),
    ("short-mobile", "dev", "First e-mail that must read well on a phone"),
    ("enterprise-security", "holdout", "First e-mail to a CISO at a bank"),
    ("unsubscribed-before", "holdout", "First e-mail to a contact who opted out last year"),
    ("price-question", "holdout", "First e-mail to a lead who asked for the price"),
]
# Which cases pass per prompt version number (the others fail).
PASSING = {
    1: {
        "cold-saas-cto",
        "cold-agency-owner",
        "referral-intro",
        "german-speaker",
        "follow-up-after-demo",
        "enterprise-security",
        "unsubscribed-before",
    },
    2: {
        "cold-saas-cto",
        "cold-agency-owner",
        "warm-webinar-lead",
        "referral-intro",
        "german-speaker",
        "short-mobile",
        "enterprise-security",
        "unsubscribed-before",
    },
    3: {
        "cold-saas-cto",
        "cold-agency-owner",
        "warm-webinar-lead",
        "referral-intro",
        "german-speaker",
        "short-mobile",
        "enterprise-security",
        "unsubscribed-before",
        "price-question",
    },
}


@transaction.atomic
def seed_evals() -> None:
    for workspace in Workspace.objects.filter(slug__in=("acme", "globex")).order_by("slug"):
        prompt = Artifact.objects.filter(workspace=workspace, name="first-touch-email").first()
        if prompt is None or EvalSet.objects.filter(workspace=workspace).exists():
            continue
        _seed(workspace, prompt)


def _cases(workspace: Workspace) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = [
        {
            "key": key,
            "split": split,
            "input": {"task": task, "channel": "email"},
            "rubric": "Under 120 words, one ask, no claims without evidence.",
        }
        for key, split, task in CASES
    ]
    trace = Trace.objects.filter(workspace=workspace, status="success").order_by("id").first()
    if trace is not None:  # the held-out trace never feeds a training export or an example
        cases.append({"key": "from-a-real-run", "split": "holdout", "trace": trace.pk})
    return cases


def _seed(workspace: Workspace, prompt: Artifact) -> None:
    eval_set = services.eval_set_create(
        actor=SEED_ACTOR,
        workspace=workspace,
        key="first-touch",
        name="First-touch e-mails",
        description="Fixed first-touch tasks graded against the rubric by the CI harness.",
    )
    eval_set = services.eval_cases_add(actor=SEED_ACTOR, eval_set=eval_set, cases=_cases(workspace))
    keys = [case.key for case in services.cases_at(eval_set)]
    for version in ArtifactVersion.objects.filter(artifact=prompt).order_by("number"):
        passing = PASSING.get(version.number, set())
        results = [
            {
                "case": key,
                "passed": key in passing,
                "score": 0.9 if key in passing else 0.3,
                "cost": 0.0021 + 0.0003 * version.number,
                "latency_ms": 1800 - 150 * version.number,
                "notes": "" if key in passing else "misses the rubric",
            }
            for key in keys
        ]
        services.eval_run_post(
            actor=SEED_ACTOR, eval_set=eval_set, artifact_version=version, results=results
        )
