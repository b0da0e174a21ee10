"""The promotion block: production does not move to a version whose latest eval run regresses
or drops beyond the workspace's thresholds; off by default; rollbacks never blocked; the
review request shows the eval evidence."""

from __future__ import annotations

from typing import Any

import pytest

from apps.core.exceptions import Conflict
from apps.evals import services
from apps.policies import services as policies
from apps.policies.models import Label
from apps.reviews.models import RequestStatus
from apps.reviews.services import review_approve
from tests.conftest import SYSTEM
from tests.evals.conftest import eval_set, post, prompt_versions
from tests.policies.conftest import in_production, version


def _production(v: Any) -> int | None:
    label = Label.objects.filter(artifact_id=v.artifact_id, name="production").first()
    return label.version_id if label else None


def _block(cast: Any, **thresholds: Any) -> None:
    services.eval_settings_update(
        actor=cast.user("owner"), workspace=cast.workspace, block_promotion=True, **thresholds
    )


@pytest.fixture
def regressing(cast: Any) -> Any:
    """v1 in production passing a, b, c, d; v2 regressing b (25%) with success 100% -> 75%."""
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    in_production(v1.artifact, v1)
    post(made, v1, dict.fromkeys("abcd", True))
    post(made, v2, {"a": True, "b": False, "c": True, "d": True})
    return v1, v2


def test_off_by_default_a_regressing_version_is_promoted(cast: Any, regressing: Any) -> None:
    _, v2 = regressing
    in_production(v2.artifact, v2)
    assert _production(v2) == v2.pk


def test_above_the_regression_threshold_the_move_request_is_refused(
    cast: Any, regressing: Any
) -> None:
    v1, v2 = regressing
    _block(cast, max_regression_rate=0.1, max_success_drop=1.0)
    with pytest.raises(Conflict, match=r"regresses 25\.0%"):
        policies.policy_label_move(
            actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
        )
    assert _production(v2) == v1.pk


def test_above_the_success_drop_threshold_the_move_is_refused(cast: Any, regressing: Any) -> None:
    _, v2 = regressing
    _block(cast, max_regression_rate=1.0, max_success_drop=0.2)
    with pytest.raises(Conflict, match=r"success rate drops 25\.0%"):
        policies.policy_label_move(
            actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
        )


def test_a_request_opened_before_a_bad_run_is_refused_at_approval(cast: Any) -> None:
    made = eval_set(cast)
    v1, v2 = prompt_versions(cast, 2)
    in_production(v1.artifact, v1)
    _block(cast, max_regression_rate=0.0)
    request = policies.policy_label_move(
        actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
    ).request
    post(made, v1, {"a": True})
    post(made, v2, {"a": False})
    with pytest.raises(Conflict, match="regresses"):
        review_approve(actor=SYSTEM, request=request)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING and _production(v2) == v1.pk


def test_at_or_below_the_thresholds_the_move_goes_through(cast: Any, regressing: Any) -> None:
    _, v2 = regressing
    _block(cast, max_regression_rate=0.25, max_success_drop=0.25)
    in_production(v2.artifact, v2)
    assert _production(v2) == v2.pk


def test_rollback_to_a_regressing_version_is_not_blocked(cast: Any, regressing: Any) -> None:
    _, v2 = regressing
    in_production(v2.artifact, v2)  # the block is off: v2 goes to production
    v3 = version(v2.artifact, "Write version 3.")
    in_production(v3.artifact, v3)
    _block(cast, max_regression_rate=0.0, max_success_drop=0.0)
    with pytest.raises(Conflict):  # a new move to v2 is refused ...
        policies.policy_label_move(
            actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
        )
    policies.policy_label_rollback(  # ... the rollback goes through at once
        actor=cast.user("reviewer"), artifact=v2.artifact, label="production", version=v2
    )
    assert _production(v2) == v2.pk


def test_without_a_run_the_move_is_allowed_unless_a_run_is_required(cast: Any) -> None:
    v1, v2 = prompt_versions(cast, 2)
    _block(cast)
    in_production(v1.artifact, v1)
    services.eval_settings_update(
        actor=cast.user("owner"), workspace=cast.workspace, require_run=True
    )
    with pytest.raises(Conflict, match="no eval run"):
        policies.policy_label_move(
            actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
        )


def test_other_labels_are_never_blocked(cast: Any, regressing: Any) -> None:
    _, v2 = regressing
    _block(cast, max_regression_rate=0.0, max_success_drop=0.0)
    moved = policies.policy_label_move(
        actor=cast.user("editor"), artifact=v2.artifact, label="staging", version=v2
    )
    assert moved.outcome == "moved"


def test_the_review_request_shows_the_eval_evidence(
    cast: Any, regressing: Any, client: Any
) -> None:
    _, v2 = regressing
    request = policies.policy_label_move(
        actor=cast.user("editor"), artifact=v2.artifact, label="production", version=v2
    ).request
    _block(cast, max_regression_rate=0.1)
    client.force_login(cast.user("reviewer"))

    page = client.get(f"/admin/reviews/reviewrequest/{request.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="eval-evidence"' in body
    assert body.count('data-testid="eval-evidence-row"') == 1
    assert "4/4" in body and "3/4" in body and ": b" in body
    assert 'data-testid="eval-blocked"' in body
