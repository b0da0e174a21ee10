from __future__ import annotations

from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "apps.evals"
    label = "evals"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        register_pii_fields()
        register_audit()


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


def register_audit() -> None:
    """Eval sets and their cases are people's decisions, audited by their services (a case on
    its set)."""
    from apps.audit.reconcile import governed_model_register

    governed_model_register("evals.evalset", ignore={"updated_at"})
    governed_model_register(
        "evals.evalcase", subject=lambda row: ("evals.evalset", str(row["eval_set_id"]))
    )
