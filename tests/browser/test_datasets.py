"""A dataset's page in a real browser: while the version is queued it says it is building and
reloads itself; once the worker's build is done the reload shows the download link and the
rebuild button, which queues a new version with the same snapshot."""

from __future__ import annotations

from typing import Any

from apps.datasets import services
from apps.datasets.models import DatasetVersion
from tests.conftest import SYSTEM
from tests.datasets.conftest import give_feedback, post_trace


def test_the_page_follows_a_build_and_offers_download_and_rebuild(
    admin_login: Any, cast: Any, live_server: Any
) -> None:
    # given: an edited run and a queued version (no worker: the test builds it)
    trace = post_trace(cast, output="draft")
    give_feedback(cast, trace.pk, edited_output="final")
    version = services.dataset_version_create(
        actor=SYSTEM, workspace=cast.workspace, name="Edits", format="trl_dpo"
    )
    page = admin_login("owner")
    page.goto(f"{live_server.url}/admin/datasets/datasetversion/{version.pk}/change/")
    page.get_by_test_id("dataset-building").wait_for()
    assert version.filename not in page.content()

    # when: the build runs, the page reloads itself
    services.dataset_build(version_id=version.pk)

    # then: the download link and the rebuild button appear without a click
    page.get_by_role("link", name=version.filename).wait_for(timeout=10_000)
    assert page.get_by_test_id("dataset-building").count() == 0

    # when: rebuild, confirmed
    page.get_by_role("link", name="Rebuild").click()
    page.get_by_test_id("dataset-rebuild-confirm").wait_for()
    page.get_by_role("button", name="Rebuild").click()

    # then: the new version's page, building, with the same snapshot
    copy = DatasetVersion.objects.get(rebuilt_from=version)
    page.wait_for_url(f"**/admin/datasets/datasetversion/{copy.pk}/change/")
    page.get_by_test_id("dataset-building").wait_for()
    version.refresh_from_db()
    assert copy.snapshot == version.snapshot
