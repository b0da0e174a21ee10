"""A re-scan masks old rows with bulk_update, which sends no signals: it reports the rows it
changed, so they get erasure fingerprints like rows saved by the services, and an erasure then
finds a subject whose value the re-scan replaced by a placeholder (which carries nothing)."""

from __future__ import annotations

from typing import Any

from apps.compliance import erasure
from apps.compliance.fingerprints import fingerprint_of
from apps.compliance.models import ErasureStatus, PiiFingerprint
from apps.privacy import rescan
from apps.privacy.services import pii_rescan_start
from apps.workspaces.models import Agent
from tests.compliance.conftest import EMAIL, OTHER_EMAIL, PHONE, PHONE_E164
from tests.workspaces.factories import AgentFactory


def old_agents(cast: Any) -> list[Agent]:
    """Agents whose descriptions were stored before anything masked them."""
    agents = [AgentFactory(workspace=cast.workspace, slug=f"old-{i}") for i in range(5)]
    texts = [
        f"Ask {EMAIL} or {PHONE}",
        "Nothing personal here.",
        f"Escalate to {OTHER_EMAIL}",
        f"Backup: {EMAIL}",
        f"Ask {EMAIL} or {PHONE}",
    ]
    for agent, text in zip(agents, texts, strict=True):
        Agent.objects.filter(pk=agent.pk).update(description=text)
    return agents


def run_rescan(cast: Any) -> None:
    job, created = pii_rescan_start(actor=cast.user("owner"), workspace=cast.workspace)
    assert created
    assert rescan.pii_rescan_execute(job_id=job.pk, batch_size=2)


def links(agent: Agent) -> set[tuple[str, str, str]]:
    return set(
        PiiFingerprint.objects.filter(
            model_label="workspaces.Agent", object_id=agent.pk, field_name="description"
        ).values_list("entity_type", "fingerprint", "token")
    )


def test_rows_masked_by_a_rescan_get_their_fingerprints(cast):
    agents = old_agents(cast)
    workspace = cast.workspace.pk

    run_rescan(cast)

    descriptions = [Agent.objects.get(pk=a.pk).description for a in agents]
    assert descriptions[0] == descriptions[4] == "Ask <EMAIL_1> or <PHONE_1>"
    email = ("EMAIL", fingerprint_of(workspace, "EMAIL", EMAIL), "<EMAIL_1>")
    phone = ("PHONE", fingerprint_of(workspace, "PHONE", PHONE_E164), "<PHONE_1>")
    assert links(agents[0]) == links(agents[4]) == {email, phone}
    assert links(agents[1]) == set()
    assert links(agents[2]) == {
        ("EMAIL", fingerprint_of(workspace, "EMAIL", OTHER_EMAIL), "<EMAIL_1>")
    }
    assert links(agents[3]) == {email}


def test_a_second_rescan_changes_nothing_and_links_nothing_more(cast):
    old_agents(cast)
    run_rescan(cast)
    count = PiiFingerprint.objects.count()

    run_rescan(cast)

    assert PiiFingerprint.objects.count() == count


def test_erasure_finds_and_scrubs_what_a_rescan_masked_with_placeholders(cast):
    agents = old_agents(cast)
    run_rescan(cast)

    request = erasure.erasure_request_create(
        actor=cast.user("owner"), workspace=cast.workspace, emails=[EMAIL]
    )
    assert set(request.plan["scrub"]["workspaces.Agent"]["ids"]) == {
        agents[0].pk,
        agents[3].pk,
        agents[4].pk,
    }
    erasure.erasure_request_approve(actor=cast.user("admin"), request=request)
    erasure.erasure_execute(request_id=request.pk)
    request.refresh_from_db()

    assert request.status == ErasureStatus.DONE
    descriptions = [Agent.objects.get(pk=a.pk).description for a in agents]
    assert descriptions == [
        "Ask <REDACTED> or <PHONE_1>",
        "Nothing personal here.",
        "Escalate to <EMAIL_1>",
        "Backup: <REDACTED>",
        "Ask <REDACTED> or <PHONE_1>",
    ]
    assert links(agents[2]) != set()  # another subject's link stays
    assert not PiiFingerprint.objects.filter(
        fingerprint=fingerprint_of(cast.workspace.pk, "EMAIL", EMAIL)
    ).exists()
