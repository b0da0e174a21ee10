"""The write policy through the API: who may read, change, list versions, restore and preview
(every role of the workspace, team-level roles, the other workspace's people and agents,
anonymous), and bad input answered 400 naming the field."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.memories import services
from apps.memories.models import Tier, WritePolicy, WritePolicyVersion
from tests.conftest import SYSTEM
from tests.memories.api_world import EVERYONE, World, build_world, make_item

USER_ONLY = {"auto_approve": [{"actor_kind": "user"}]}
STRICT = {"auto_approve": [{"tier": "personal", "min_confidence": 0.95}]}
PEOPLE_READERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")
MANAGERS = ("owner", "admin", "operator")
ACME_AGENTS_READING = ("agent", "agent_full", "teammate", "mkt_agent", "director", "mkt_director")


@pytest.fixture
def world(cast: Any) -> World:
    built = build_world(cast)
    for rules, reason in ((USER_ONLY, "v1"), (STRICT, "v2")):
        services.write_policy_update(
            actor=SYSTEM, workspace=cast.workspace, rules=rules, reason=reason
        )
    return built


@pytest.fixture
def who(world: World) -> Any:
    return world.client


def expected(default: int, **groups: tuple[str, ...]) -> list[Any]:
    table = dict.fromkeys(EVERYONE, default)
    table["anonymous"] = 401
    for key, members in groups.items():
        for name in members:
            table[name] = int(key.removeprefix("s"))
    return [pytest.param(name, table[name], id=f"{name}-{table[name]}") for name in EVERYONE]


def state() -> tuple[Any, ...]:
    return (
        list(WritePolicy.objects.order_by("pk").values()),
        list(WritePolicyVersion.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    )


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()["error"]
    return body


# Team-level roles see the workspace but hold no role in it: refused (403). The other
# workspace's people and agent do not see it at all: "unknown workspace" (400), as for any
# reference to an object they may not see. Agents without memories:read: 403.
READ_MATRIX = expected(
    400,
    s200=(*PEOPLE_READERS, *ACME_AGENTS_READING),
    s403=("team_admin", "team_viewer", "agent_noscope"),
)
PEOPLE_ONLY = expected(
    400,
    s200=PEOPLE_READERS,
    s403=("team_admin", "team_viewer", *ACME_AGENTS_READING, "agent_noscope", "other_agent"),
)
CHANGE_MATRIX = expected(
    400,
    s200=MANAGERS,
    s403=(
        "reviewer",
        "editor",
        "auditor",
        "viewer",
        "team_admin",
        "team_viewer",
        *ACME_AGENTS_READING,
        "agent_noscope",
        "other_agent",
    ),
)


@pytest.mark.parametrize(("caller", "status"), READ_MATRIX)
def test_read(world, who, caller, status):
    response = who(caller).get(f"/api/v1/write-policy?workspace={world.cast.workspace.pk}")

    if status != 200:
        assert_error(response, status)
        return
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["workspace"] == world.cast.workspace.pk
    assert body["version"] == 2
    assert body["rules"] == STRICT
    assert body["dedup_threshold"] == 0.9
    assert body["may_change"] is (caller in MANAGERS)


@pytest.mark.parametrize(("caller", "status"), CHANGE_MATRIX)
def test_change(world, who, caller, status):
    before = state()
    body = {
        "workspace": world.cast.workspace.pk,
        "rules": USER_ONLY,
        "dedup_threshold": 0.85,
        "reason": "Agents' notes go to review",
    }

    response = who(caller).put("/api/v1/write-policy", body, format="json")

    if status != 200:
        assert_error(response, status)
        assert state() == before
        return
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 3
    assert response.json()["rules"] == USER_ONLY
    version = WritePolicyVersion.objects.filter(workspace=world.cast.workspace).first()
    assert (version.number, version.reason, version.after["dedup_threshold"]) == (
        3,
        "Agents' notes go to review",
        0.85,
    )
    assert version.actor_label == world.cast.user(caller).username
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == "memory.write_policy_update"
    assert event.reason == "Agents' notes go to review"
    assert (event.before["rules"], event.after["rules"]) == (STRICT, USER_ONLY)


def test_a_change_based_on_an_older_version_is_refused_with_409_and_saves_nothing(world, who):
    body = {"workspace": world.cast.workspace.pk, "rules": USER_ONLY, "reason": "loosen"}
    before = state()

    stale = who("owner").put("/api/v1/write-policy", {**body, "version": 1}, format="json")

    assert stale.status_code == 409, stale.content
    error = stale.json()["error"]
    assert error["code"] == "conflict" and "changed since you looked" in error["message"]
    assert state() == before
    fresh = who("owner").put("/api/v1/write-policy", {**body, "version": 2}, format="json")
    assert fresh.status_code == 200, fresh.content
    assert fresh.json()["version"] == 3


@pytest.mark.parametrize(("caller", "status"), PEOPLE_ONLY)
def test_versions(world, who, caller, status):
    response = who(caller).get(f"/api/v1/write-policy/versions?workspace={world.cast.workspace.pk}")

    if status != 200:
        assert_error(response, status)
        return
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["number"] for row in rows] == [2, 1]
    assert rows[0]["reason"] == "v2"
    assert rows[0]["actor"] == {"kind": "system", "label": "system:tests"}
    assert rows[0]["before"]["rules"] == USER_ONLY and rows[0]["after"]["rules"] == STRICT
    assert rows[0]["changes"] == [
        "- approve at once: written by a person",
        "+ approve at once: personal tier, confidence >= 0.95",
    ]


@pytest.mark.parametrize(("caller", "status"), CHANGE_MATRIX)
def test_restore(world, who, caller, status):
    before = state()
    body = {"workspace": world.cast.workspace.pk, "version": 1, "reason": "back to v1"}

    response = who(caller).post("/api/v1/write-policy/restore", body, format="json")

    if status != 200:
        assert_error(response, status)
        assert state() == before
        return
    assert response.status_code == 200, response.content
    assert (response.json()["version"], response.json()["rules"]) == (3, USER_ONLY)
    newest = WritePolicyVersion.objects.filter(workspace=world.cast.workspace).first()
    assert (newest.restored_from, newest.reason) == (1, "back to v1")
    assert AuditEvent.objects.order_by("-id").first().action == "memory.write_policy_restore"


@pytest.mark.parametrize(("caller", "status"), PEOPLE_ONLY)
def test_preview(world, who, caller, status):
    cast = world.cast
    make_item(
        cast.workspace,
        tier=Tier.PERSONAL,
        agent=cast.agent,
        created_by_agent=cast.agent,
        confidence=0.97,
        created_at=timezone.now() - datetime.timedelta(days=2),
    )
    before = state()

    response = who(caller).post(
        "/api/v1/write-policy/preview",
        {"workspace": cast.workspace.pk, "rules": USER_ONLY},
        format="json",
    )

    assert state() == before
    if status != 200:
        assert_error(response, status)
        return
    assert response.status_code == 200, response.content
    body = response.json()
    # build_world's items are a moment old: they count too (6 of them in Acme)
    assert body["writes"] == 7 and body["truncated"] is False
    assert (body["to_review"], body["to_approve"]) == (1, 0)
    assert [row["confidence"] for row in body["sample"]] == [0.97]
    assert body["sample"][0]["before"] == "approve" and body["sample"][0]["after"] == "review"


# --- bad input ---------------------------------------------------------------------------------


def _put(who: Any, world: World, **changes: Any) -> Any:
    body = {"workspace": world.cast.workspace.pk, "rules": USER_ONLY, "reason": "r", **changes}
    for key, value in list(body.items()):
        if value is ...:
            del body[key]
    return who("owner").put("/api/v1/write-policy", body, format="json")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rules": {"auto_approve": [{"tier": "galaxy"}]}}, "rules"),
        ({"rules": {"auto_approve": [{"min_confidence": 1.5}]}}, "rules"),
        ({"rules": {"auto_approve": [{"min_confidence": -0.5}]}}, "rules"),
        ({"rules": {"auto_approve": [{"min_confidence": "0.9"}]}}, "rules"),
        ({"rules": {"auto_approve": [{"types": ["galaxy"]}]}}, "rules"),
        ({"rules": {"auto_approve": [{"types": []}]}}, "rules"),
        ({"rules": {"auto_approve": [{"types": "learning"}]}}, "rules"),
        ({"rules": {"auto_approve": [{"actor_kind": "robot"}]}}, "rules"),
        ({"rules": {"auto_approve": [{"colour": "red"}]}}, "rules"),
        ({"rules": {"auto_approve": ["tier=personal"]}}, "rules"),
        ({"rules": {"auto_approve": {"tier": "personal"}}}, "rules"),
        ({"rules": {"auto_approve": [], "more": []}}, "rules"),
        ({"rules": ["personal"]}, "rules"),
        ({"rules": ...}, "rules"),
        ({"reason": ...}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": 5}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"dedup_threshold": 0.3}, "dedup_threshold"),
        ({"dedup_threshold": 1.2}, "dedup_threshold"),
        ({"dedup_threshold": "0.9"}, "dedup_threshold"),
        ({"workspace": str(0)}, "workspace"),
        ({"workspace": 10**9}, "workspace"),
        ({"workspace": ...}, "workspace"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_changes_are_400_naming_the_field(world, who, changes, field):
    before = state()

    error = assert_error(_put(who, world, **changes), 400)

    assert field in error["fields"], error
    assert state() == before


def test_a_body_that_is_not_an_object_is_400(world, who):
    response = who("owner").put("/api/v1/write-policy", ["rules"], format="json")

    assert_error(response, 400)


@pytest.mark.parametrize("query", ["", "?workspace=", "?workspace=abc", "?workspace=-1"])
def test_reads_need_a_workspace_id(world, who, query):
    for path in ("/api/v1/write-policy", "/api/v1/write-policy/versions"):
        error = assert_error(who("owner").get(path + query), 400)
        assert "workspace" in error["fields"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": 99, "reason": "r"}, 404, None),
        ({"version": 0, "reason": "r"}, 400, "version"),
        ({"version": "1", "reason": "r"}, 400, "version"),
        ({"version": 2, "reason": "r"}, 400, "version"),  # the policy in force
        ({"version": 1}, 400, "reason"),
        ({"version": 1, "reason": " "}, 400, "reason"),
    ],
)
def test_bad_restores(world, who, body, status, field):
    before = state()

    response = who("owner").post(
        "/api/v1/write-policy/restore",
        {"workspace": world.cast.workspace.pk, **body},
        format="json",
    )

    error = assert_error(response, status)
    if field:
        assert field in error["fields"]
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "rules"),
        ({"rules": {"auto_approve": [{"tier": "galaxy"}]}}, "rules"),
        ({"rules": USER_ONLY, "reason": "r"}, "reason"),  # a preview takes no reason
        ({"rules": USER_ONLY, "dedup_threshold": 2}, "dedup_threshold"),
    ],
)
def test_bad_previews(world, who, body, field):
    response = who("owner").post(
        "/api/v1/write-policy/preview",
        {"workspace": world.cast.workspace.pk, **body},
        format="json",
    )

    assert field in assert_error(response, 400)["fields"]
