from __future__ import annotations

from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "apps.evals"
    label = "evals"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()
        register_compliance()
        from apps.evals.promotion import EvalPromotionCheck
        from apps.policies.promotion import register_promotion_check

        register_promotion_check(EvalPromotionCheck())


def register_pii_fields() -> None:
    """A set's name and description, a case's input, expected outcome and rubric are free
    text or JSON written by people: masked on write. Keys and splits are slugs and fixed
    vocabularies."""
    from apps.privacy.registry import register_exempt_fields, register_masked_field

    register_masked_field("evals.EvalSet", "name")
    register_masked_field("evals.EvalSet", "description")
    register_masked_field(
        "evals.EvalCase", "input", kind="json", workspace_field="eval_set__workspace"
    )
    register_masked_field(
        "evals.EvalCase", "expected", kind="json", workspace_field="eval_set__workspace"
    )
    register_masked_field("evals.EvalCase", "rubric", workspace_field="eval_set__workspace")
    register_exempt_fields(
        "evals.EvalSet", ("key",), reason="a slug screened on write (the API addresses it)"
    )
    register_exempt_fields(
        "evals.EvalCase", ("key", "split"), reason="a slug screened on write; a fixed vocabulary"
    )
    register_masked_field("evals.EvalResult", "notes", workspace_field="run__workspace")
    register_exempt_fields(
        "evals.EvalRun",
        ("posted_label",),
        reason="the poster's display label, masked on write like the audit trail's actor labels",
    )


def register_audit() -> None:
    """Eval sets and their cases are people's decisions, audited by their services (a case on
    its set)."""
    from apps.audit.reconcile import governed_model_register

    governed_model_register("evals.evalset", ignore={"updated_at"})
    governed_model_register(
        "evals.evalcase", subject=lambda row: ("evals.evalset", str(row["eval_set_id"]))
    )
    governed_model_register("evals.evalrun")
    governed_model_register(
        "evals.evalresult", subject=lambda row: ("evals.evalrun", str(row["run_id"]))
    )
    governed_model_register("evals.evalsettings", lazy_defaults=True, ignore={"updated_at"})


def register_compliance() -> None:
    """Erasure scrubs a data subject's tokens out of the masked free text of sets, cases'
    rubrics and results' notes; the rows stay (runs must stay comparable)."""
    from django.apps import apps

    if not apps.is_installed("apps.compliance"):
        return
    from apps.compliance.fingerprints import register_linked_fields
    from apps.compliance.registry import ErasureTarget, by_workspace, register_erasure_target

    for label, fields, path in (
        ("evals.EvalSet", ("name", "description"), "workspace_id"),
        ("evals.EvalCase", ("rubric",), "eval_set__workspace_id"),
        ("evals.EvalResult", ("notes",), "run__workspace_id"),
    ):
        register_linked_fields(label, fields)
        register_erasure_target(ErasureTarget(label, fields, by_workspace(path), action="scrub"))
