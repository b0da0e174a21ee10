"""A trace's admin page reads as a run: the task, its status, timing, cost and tokens; steps
and tool calls as lists and tables (not JSON dumps); the output; the memories its context
held, linked, with rank and score; the policy versions, linked; the feedback with its diff;
the outcomes. Masked values are chips. The page's queries do not grow with what it lists."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.memories.models import ContextAssembly, ContextAssemblyItem, Strategy
from apps.signals import services
from apps.signals.models import Trace
from tests.memories.api_world import make_item
from tests.policies.conftest import artifact, version
from tests.signals.conftest import EMAIL, outcome_item, stored_trace

STEPS = [
    {"thought": "look up the account in the CRM", "tool": "crm.search"},
    {"thought": f"draft a reply to {EMAIL}"},
    "a step that is only text",
]
TOOL_CALLS = [
    {
        "tool": "crm.search",
        "arguments": {"q": "Initech"},
        "result": {"accounts": 1},
        "ms": 120,
    },
    {"name": "calendar.book", "input": {"slot": "Tuesday 10:00"}, "error": "slot taken"},
]


def _assembly(cast, memories, task="Answer Initech's pricing question"):
    assembly = ContextAssembly.objects.create(
        workspace=cast.workspace,
        agent=cast.agent,
        task_text=task,
        k=5,
        strategy=Strategy.EXACT,
    )
    for rank, memory in enumerate(memories, start=1):
        ContextAssemblyItem.objects.create(
            assembly=assembly,
            item=memory,
            rank=rank,
            score=0.9 / rank,
            importance_part=0.1,
            recency_part=0.1,
            relevance_part=0.5,
            vector_similarity=0.7,
            text_rank=0.2,
        )
    return assembly


@pytest.fixture
def run(cast):
    memories = [
        make_item(cast.workspace, content="Initech buys annual plans"),
        make_item(cast.workspace, content="Quote the price when asked"),
    ]
    voice = version(artifact(cast, "brand-voice"), "Write plainly.")
    trace = stored_trace(
        cast.agent,
        task=f"Reply to {EMAIL} about pricing",
        task_kind="pricing_reply",
        steps=STEPS,
        tool_calls=TOOL_CALLS,
        output="Hi,\nthe starter plan is 49 EUR a seat.\n",
        context_assembly=_assembly(cast, memories).pk,
        policy_versions=[voice.pk],
        tokens_in=1234,
        tokens_out=567,
        cost=0.0123,
    )
    services.feedback_ingest(
        actor=cast.user("editor"),
        workspace=cast.workspace,
        items=[
            {
                "trace": trace.pk,
                "rating": 2,
                "thumbs": "down",
                "explanation": "Always quote the price",
                "edited_output": "Hi,\nthe starter plan is 59 EUR a seat.\n",
            }
        ],
    )
    services.outcomes_ingest(
        actor=cast.agent,
        items=[
            outcome_item("r", trace=trace.pk, kind="positive_reply"),
            outcome_item(
                "s", trace=trace.pk, kind="stage_move", from_stage="lead", to_stage="opportunity"
            ),
        ],
    )
    return {"trace": trace, "memories": memories, "version": voice}


def _page(client, trace):
    return client.get(f"/admin/signals/trace/{trace.pk}/change/")


def test_the_page_reads_as_a_run(client, cast, run):
    client.force_login(cast.user("viewer"))

    page = _page(client, run["trace"])
    html = page.content.decode()

    assert page.status_code == 200
    # steps as a list, tool calls as a table: no JSON dump of either
    assert "look up the account in the CRM" in html and "Step 3" in html
    assert '[{"thought"' not in html and "&quot;thought&quot;" not in html
    assert "<td><code>crm.search</code></td>" in html and "calendar.book" in html
    assert "slot taken" in html and "Tuesday 10:00" in html and "error: slot taken" in html
    assert "&quot;q&quot;" not in html and ">q</span>: Initech" in html  # arguments as pairs
    # cost, tokens, kind, output
    assert "0.012300" in html and "1,234 / 567" in html
    assert "pricing_reply" in html and "49 EUR a seat" in html


def test_the_context_memories_and_policy_versions_are_linked(client, cast, run):
    client.force_login(cast.user("owner"))

    html = _page(client, run["trace"]).content.decode()

    first, second = run["memories"]
    assert f'href="/admin/memories/memoryitem/{first.pk}/change/"' in html
    assert f'href="/admin/memories/memoryitem/{second.pk}/change/"' in html
    assert "Initech buys annual plans" in html and "0.900" in html and "0.450" in html
    assert f'href="/admin/policies/artifactversion/{run["version"].pk}/change/"' in html
    assert "brand-voice v1" in html


def test_feedback_shows_its_diff_and_outcomes_are_listed(client, cast, run):
    client.force_login(cast.user("auditor"))

    html = _page(client, run["trace"]).content.decode()

    assert "Always quote the price" in html and "thumbs down, 2/5" in html
    assert re.search(r'color:#b91c1c">-the starter plan is 49 EUR', html)
    assert re.search(r'color:#15803d">\+the starter plan is 59 EUR', html)
    assert "Positive reply" in html and "lead → opportunity" in html
    assert "/admin/signals/feedback/" in html and "/admin/signals/outcome/" in html


def test_masked_values_are_chips_on_the_page(client, cast, run):
    client.force_login(cast.user("owner"))

    html = _page(client, run["trace"]).content.decode()

    assert EMAIL not in html
    assert "&lt;EMAIL" not in html and "<EMAIL" not in html
    assert html.count("pii-chip") >= 2  # the task and a step


def test_a_forgotten_memory_and_a_deleted_version_are_named_not_linked(client, cast, run):
    from apps.memories.services import memory_forget
    from tests.conftest import SYSTEM

    first = run["memories"][0]
    memory_forget(actor=SYSTEM, item=first, reason="stale")
    Trace.objects.filter(pk=run["trace"].pk).update(
        policy_versions=[{"id": 999_999, "artifact": "gone", "kind": "prompt", "version": 3}]
    )
    client.force_login(cast.user("owner"))

    html = _page(client, run["trace"]).content.decode()

    assert f"#{first.pk} (forgotten since)" in html
    assert f"/admin/memories/memoryitem/{first.pk}/change/" not in html
    assert "prompt gone v3 (deleted since)" in html
    assert "/admin/policies/artifactversion/999999/" not in html


def test_a_bare_run_says_what_it_lacks(client, cast):
    trace = stored_trace(cast.agent, steps=[], tool_calls=[], output="")
    client.force_login(cast.user("owner"))

    html = _page(client, trace).content.decode()

    for text in (
        "No steps recorded.",
        "No tool calls recorded.",
        "No output recorded.",
        "The run named no context assembly.",
        "The run named no policy, prompt or skill versions.",
        "No feedback on this run.",
        "No outcomes attributed to this run.",
    ):
        assert text in html


def test_odd_json_shapes_render_without_error(client, cast):
    trace = stored_trace(
        cast.agent,
        steps=[[1, 2], None, {"nested": {"deep": ["x" * 300]}}, 7],
        tool_calls=[42, {"no_name": True}],
        experiment_assignments={"subject-line": "B"},
    )
    client.force_login(cast.user("owner"))

    page = _page(client, trace)

    assert page.status_code == 200
    assert "subject-line" in page.content.decode() and "Step 4" in page.content.decode()


def test_long_runs_are_clipped_with_a_note(client, cast):
    trace = stored_trace(cast.agent, steps=[{"n": n} for n in range(130)])
    client.force_login(cast.user("owner"))

    html = _page(client, trace).content.decode()

    assert "Step 100" in html and "Step 101" not in html
    assert "and 30 more" in html


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_page_costs_the_same_queries_however_much_it_lists(client, cast, run):
    client.force_login(cast.user("owner"))
    url = f"/admin/signals/trace/{run['trace'].pk}/change/"
    before = _queries(client, url)

    more = [make_item(cast.workspace, content=f"Fact {n}") for n in range(8)]
    assembly = _assembly(cast, more)
    Trace.objects.filter(pk=run["trace"].pk).update(context_assembly=assembly)
    services.feedback_ingest(
        actor=cast.agent,
        items=[{"trace": run["trace"].pk, "explanation": f"note {n}"} for n in range(10)],
    )
    services.outcomes_ingest(
        actor=cast.agent,
        items=[outcome_item(f"k{n}", trace=run["trace"].pk) for n in range(10)],
    )

    assert _queries(client, url) == before
    assert before <= 16


def test_a_memorys_page_links_the_runs_that_used_it(client, cast, run):
    client.force_login(cast.user("viewer"))
    first = run["memories"][0]

    html = client.get(f"/admin/memories/memoryitem/{first.pk}/change/").content.decode()

    trace = run["trace"]
    assert f'href="/admin/signals/trace/{trace.pk}/change/">run #{trace.pk}</a>' in html
