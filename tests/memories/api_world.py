"""The memory API's world: the shared cast (tests/conftest.py) plus agents with chosen token
scopes and one memory in every tier on both sides of the workspace boundary.

Each test module declares two small fixtures over `build_world` (tests/memories/conftest.py
belongs to the memory core's tests):

    @pytest.fixture
    def world(cast): return build_world(cast)

    @pytest.fixture
    def who(world): return world.client
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rest_framework.test import APIClient

from apps.memories.models import MemoryItem, Status, Tier
from apps.workspaces.models import Agent
from apps.workspaces.scopes import DEFAULT_SCOPES, Scope
from apps.workspaces.services import agent_token_issue
from tests.conftest import SYSTEM
from tests.memories.factories import MemoryItemFactory, memory_type
from tests.workspaces.factories import AgentFactory

ALL_MEMORY_SCOPES = [
    Scope.MEMORIES_READ.value,
    Scope.MEMORIES_WRITE_PERSONAL.value,
    Scope.MEMORIES_WRITE_TEAM.value,
    Scope.MEMORIES_WRITE_WORKSPACE.value,
]

# Extra agents beside the cast's "agent" (SDR Bot in Sales, DEFAULT_SCOPES) and "other_agent".
# name -> (agent, scopes)
AGENTS = {
    "agent_full": ("agent", ALL_MEMORY_SCOPES),  # SDR Bot again, with every memory scope
    "agent_noscope": ("agent", [Scope.SIGNALS_WRITE.value]),  # SDR Bot, no memory scope
    "teammate": ("teammate", ALL_MEMORY_SCOPES),  # another agent of Sales
    "mkt_agent": ("mkt_bot", ALL_MEMORY_SCOPES),  # an agent of Marketing
    "director": ("director", [*DEFAULT_SCOPES, Scope.DIRECTOR.value]),  # Sales director agent
    "mkt_director": ("mkt_director", [Scope.MEMORIES_READ.value, Scope.DIRECTOR.value]),
}

PEOPLE = [
    "owner",
    "admin",
    "reviewer",
    "editor",
    "auditor",
    "viewer",
    "team_admin",
    "team_viewer",
    "outsider",
    "nobody",
    "operator",
]
MACHINES = ["agent", "other_agent", *AGENTS]
EVERYONE = [*PEOPLE, *MACHINES, "anonymous"]


@dataclass
class World:
    cast: Any
    agents: dict[str, Agent]
    secrets: dict[str, str]
    items: dict[str, MemoryItem] = field(default_factory=dict)

    def client(self, who: str) -> APIClient:
        client = APIClient()
        if who == "anonymous":
            return client
        secret = self.secrets.get(who)
        if secret is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        else:
            client.force_authenticate(self.cast.user(who))
        return client


def make_item(workspace: Any, *, tier: str = Tier.WORKSPACE, **fields: Any) -> MemoryItem:
    key = fields.pop("type_key", "learning")
    return MemoryItemFactory(
        workspace=workspace, tier=tier, type=memory_type(workspace, key), **fields
    )


def build_world(cast: Any) -> World:
    ws, globex = cast.workspace, cast.other_workspace
    agents = {
        "agent": cast.agent,
        "other_agent": cast.other_agent,
        "teammate": AgentFactory(workspace=ws, team=cast.sales, name="Mate", slug="mate"),
        "mkt_bot": AgentFactory(workspace=ws, team=cast.marketing, name="Mkt", slug="mkt"),
        "director": AgentFactory(workspace=ws, team=cast.sales, name="Boss", slug="boss"),
        "mkt_director": AgentFactory(workspace=ws, team=cast.marketing, slug="mkt-boss"),
    }
    secrets = {"agent": cast.agent_secret, "other_agent": cast.other_agent_secret}
    for who, (agent_name, scopes) in AGENTS.items():
        _, secrets[who] = agent_token_issue(
            actor=SYSTEM, agent=agents[agent_name], name=who, scopes=scopes
        )
    world = World(cast=cast, agents=agents, secrets=secrets)
    world.items = {
        "workspace": make_item(ws, content="Acme buyers want annual billing"),
        "sales": make_item(ws, tier=Tier.TEAM, team=cast.sales, content="Sales: lead with ROI"),
        "marketing": make_item(
            ws, tier=Tier.TEAM, team=cast.marketing, content="Marketing: short subject lines"
        ),
        "own": make_item(
            ws, tier=Tier.PERSONAL, agent=cast.agent, content="I close best on Tuesdays"
        ),
        "mate": make_item(
            ws, tier=Tier.PERSONAL, agent=agents["teammate"], content="Mate prefers calls"
        ),
        "proposed": make_item(
            ws,
            tier=Tier.TEAM,
            team=cast.sales,
            status=Status.PROPOSED,
            created_by_agent=agents["teammate"],
            content="Sales: discounts close deals (unreviewed)",
        ),
        "globex": make_item(globex, content="Globex keeps its own secrets"),
    }
    return world
