"""The trace and outcome lists: who opens them, the filters that matter (agent, status, task
kind, date), bad filter values, and what keeps them fast at a million rows (a capped count,
newest first by id, sorting by id only, the same dozen queries whatever the table holds)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.signals import services
from apps.signals.models import Outcome, Trace
from tests.api_helpers import WHO
from tests.signals.conftest import outcome_item, stored_trace, trace_item
from tests.workspaces.factories import AgentFactory

TRACES = "/admin/signals/trace/"
OUTCOMES = "/admin/signals/outcome/"
READERS = ("owner", "admin", "reviewer", "editor", "auditor", "viewer", "operator")
UNCAPPED_COUNT = re.compile(r"SELECT COUNT\(\*\)(?!.*LIMIT)", re.IGNORECASE | re.DOTALL)
MAX_QUERIES = 12


def _ids(response: Any) -> list[int]:
    return [row.pk for row in response.context["cl"].result_list]


def _rows_sql(statements: list[str], table: str) -> str:
    return next(
        sql for sql in statements if sql.startswith(f'SELECT "{table}"') and "ORDER BY" in sql
    )


def _queries(client: Any, url: str) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response, [q["sql"] for q in captured.captured_queries]


def _many(cast: Any, n: int, agent: Any = None) -> list[int]:
    """`n` traces in one batch (through the service, as the API stores them), each with an
    outcome and a third of them with feedback."""
    agent = agent or cast.agent
    kinds = ("follow_up_email", "pricing_reply", "call_prep")
    statuses = ("success", "success", "failure", "escalated")
    items = [
        trace_item(task=f"Run {k}", task_kind=kinds[k % 3], status=statuses[k % 4])
        for k in range(n)
    ]
    result = services.traces_ingest(actor=agent, items=items)
    ids = [item["id"] for item in result.items]
    services.outcomes_ingest(
        actor=agent,
        items=[outcome_item(f"{agent.pk}-{k}", trace=pk) for k, pk in enumerate(ids)],
    )
    services.feedback_ingest(actor=agent, items=[{"trace": pk, "rating": 4} for pk in ids[::3]])
    return ids


# --- who opens what ------------------------------------------------------------------------


@pytest.fixture
def rows(cast):
    mine = stored_trace(cast.agent, task="Acme follow-up", task_kind="follow_up_email")
    services.outcomes_ingest(actor=cast.agent, items=[outcome_item("m", trace=mine.pk)])
    theirs = stored_trace(cast.other_agent, task="Globex secret plan")
    services.outcomes_ingest(actor=cast.other_agent, items=[outcome_item("t", trace=theirs.pk)])
    return {
        "trace": mine,
        "outcome": Outcome.objects.get(trace=mine),
        "their_trace": theirs,
        "their_outcome": Outcome.objects.get(trace=theirs),
    }


PEOPLE = [who for who in WHO if who not in ("agent", "other_agent", "anonymous")]
# Members with a workspace role read its traces and outcomes (operators all); team roles open
# the console but hold no workspace role, so the lists are empty and the pages not found;
# somebody with no membership is refused the console.
LIST_STATUS = {who: 403 if who == "nobody" else 200 for who in PEOPLE}
SEES_OURS = set(READERS)
SEES_THEIRS = {"outsider", "operator"}


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("kind", ["trace", "outcome"])
def test_who_sees_which_rows_in_the_lists(client, cast, rows, who, kind):
    client.force_login(cast.user(who))

    response = client.get(TRACES if kind == "trace" else OUTCOMES)

    assert response.status_code == LIST_STATUS[who]
    if response.status_code == 200:
        listed = set(_ids(response))
        assert (rows[kind].pk in listed) is (who in SEES_OURS)
        assert (rows[f"their_{kind}"].pk in listed) is (who in SEES_THEIRS)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("kind", ["trace", "outcome"])
def test_who_opens_a_page(client, cast, rows, who, kind):
    client.force_login(cast.user(who))

    response = client.get(f"/admin/signals/{kind}/{rows[kind].pk}/change/")

    if who in SEES_OURS:
        assert response.status_code == 200
    else:  # missing and forbidden alike: not found (the admin redirects) or refused
        assert response.status_code in (302, 403, 404)
        assert b"Acme follow-up" not in response.content


@pytest.mark.parametrize("kind", ["trace", "outcome"])
@pytest.mark.parametrize("who", ["agent", "anonymous"])
def test_agents_and_strangers_never_use_the_admin(client, cast, rows, who, kind):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {cast.agent_secret}"} if who == "agent" else {}

    listing = client.get(TRACES if kind == "trace" else OUTCOMES, **headers)
    page = client.get(f"/admin/signals/{kind}/{rows[kind].pk}/change/", **headers)

    for response in (listing, page):
        assert response.status_code == 302
        assert "/login/" in response["Location"]


@pytest.mark.parametrize("kind", ["trace", "outcome"])
def test_nothing_is_written_from_the_lists(client, cast, rows, kind):
    client.force_login(cast.user("owner"))
    before = (Trace.objects.count(), Outcome.objects.count())

    client.post(
        TRACES if kind == "trace" else OUTCOMES,
        {"action": "delete_selected", "_selected_action": [rows[kind].pk], "post": "yes"},
    )

    assert (Trace.objects.count(), Outcome.objects.count()) == before


# --- filters -------------------------------------------------------------------------------


def test_the_trace_filters_narrow_the_list(client, cast):
    ids = _many(cast, 12)
    other = AgentFactory(workspace=cast.workspace, team=cast.sales, slug="mate")
    theirs = _many(cast, 3, agent=other)
    client.force_login(cast.user("owner"))

    by_agent = _ids(client.get(f"{TRACES}?agent={other.pk}"))
    by_status = _ids(client.get(f"{TRACES}?status__exact=failure"))
    by_kind = _ids(client.get(f"{TRACES}?task_kind=pricing_reply"))
    kinds_offered = client.get(TRACES).content.decode()

    assert sorted(by_agent) == sorted(theirs)
    assert set(by_status) == set(
        Trace.objects.filter(status="failure").values_list("pk", flat=True)
    )
    assert by_status and set(by_kind) == set(
        Trace.objects.filter(task_kind="pricing_reply").values_list("pk", flat=True)
    )
    assert "pricing reply" in kinds_offered and "call prep" in kinds_offered
    assert _ids(client.get(TRACES)) == sorted([*ids, *theirs], reverse=True)


def test_the_date_filter_narrows_by_start(client, cast):
    old = stored_trace(
        cast.agent,
        started_at=(timezone.now() - dt.timedelta(days=40)).isoformat(),
        ended_at=(timezone.now() - dt.timedelta(days=40)).isoformat(),
    )
    new = stored_trace(cast.agent)
    client.force_login(cast.user("owner"))
    since = (timezone.now() - dt.timedelta(days=7)).strftime("%Y-%m-%d")

    recent = _ids(client.get(f"{TRACES}?started_at_from_0={since}&started_at_from_1=00:00"))

    assert new.pk in recent and old.pk not in recent


def test_the_task_kind_filter_offers_only_the_persons_workspaces(client, cast):
    stored_trace(cast.agent, task_kind="our_kind")
    stored_trace(cast.other_agent, task_kind="their_secret_kind")
    client.force_login(cast.user("owner"))

    html = client.get(TRACES).content.decode()

    assert "our kind" in html and "their secret kind" not in html


def test_the_outcome_filters_narrow_the_list(client, cast):
    _many(cast, 6)
    services.outcomes_ingest(actor=cast.agent, items=[outcome_item("b", kind="bounce")])
    client.force_login(cast.user("owner"))

    bounced = _ids(client.get(f"{OUTCOMES}?kind__exact=bounce"))
    of_trace = Outcome.objects.exclude(trace=None).first()
    by_trace = _ids(client.get(f"{OUTCOMES}?trace={of_trace.trace_id}"))

    assert bounced == list(Outcome.objects.filter(kind="bounce").values_list("pk", flat=True))
    assert by_trace == [of_trace.pk]


@pytest.mark.parametrize(
    "query",
    [
        "?agent=abc",
        "?agent=999999",
        "?task_kind=no_such_kind",
        "?task_kind=%00%27;drop",
        "?started_at_from_0=not-a-date",
        "?status__exact=bogus",
        "?o=5",
        "?o=-2.3",
    ],
)
def test_bad_filter_values_list_nothing_or_are_ignored(client, cast, query):
    stored_trace(cast.agent)
    client.force_login(cast.user("owner"))

    response = client.get(TRACES + query)

    assert response.status_code in (200, 302)
    if response.status_code == 200 and query.startswith(("?agent", "?task_kind", "?status")):
        assert _ids(response) == []


def test_another_workspaces_agent_in_the_filter_lists_nothing(client, cast):
    stored_trace(cast.other_agent)
    client.force_login(cast.user("owner"))

    response = client.get(f"{TRACES}?agent={cast.other_agent.pk}")

    assert response.status_code == 200 and _ids(response) == []


# --- fast at scale -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [TRACES, OUTCOMES])
def test_the_lists_cost_the_same_few_queries_at_any_size(client, cast, url):
    # Given a few rows, measured
    _many(cast, 3)
    client.force_login(cast.user("owner"))
    _, few = _queries(client, url)

    # When the table holds many more rows, over several agents
    for n in range(3):
        agent = AgentFactory(workspace=cast.workspace, team=cast.sales, slug=f"bot-{n}")
        _many(cast, 60, agent=agent)
    response, many = _queries(client, url)

    # Then a full page costs the same queries: none per row, at most a dozen
    assert response.status_code == 200 and len(_ids(response)) == 50
    assert len(many) == len(few) <= MAX_QUERIES, many


@pytest.mark.parametrize("url", [TRACES, OUTCOMES])
def test_the_lists_never_count_a_whole_table(client, cast, settings, url):
    settings.ADMIN_COUNT_CAP = 5
    _many(cast, 8)
    client.force_login(cast.user("owner"))

    response, statements = _queries(client, url)

    assert response.context["cl"].result_count == 6
    assert "5+" in response.content.decode()
    counts = [sql for sql in statements if "COUNT(" in sql.upper()]
    assert counts and not any(UNCAPPED_COUNT.search(sql) for sql in counts)


@pytest.mark.parametrize("url", [TRACES, OUTCOMES])
def test_the_lists_are_newest_first_by_id_and_sort_by_id_only(client, cast, url):
    _many(cast, 5)
    client.force_login(cast.user("operator"))

    response, statements = _queries(client, url)
    rows_sql = _rows_sql(statements, "signals_trace" if url == TRACES else "signals_outcome")

    assert re.search(r'ORDER BY "signals_\w+"\."id" DESC', rows_sql)
    assert response.context["cl"].model_admin.sortable_by == ["id"]


def test_the_trace_list_reads_no_run_json(client, cast):
    _many(cast, 3)
    client.force_login(cast.user("owner"))

    _, statements = _queries(client, TRACES)
    rows_sql = _rows_sql(statements, "signals_trace")

    for heavy in ("steps", "tool_calls", "output", "policy_versions"):
        assert f'"signals_trace"."{heavy}"' not in rows_sql


def test_the_task_kinds_come_from_an_index_walk_not_a_scan(cast):
    from apps.signals.selectors import trace_task_kinds

    _many(cast, 9)
    stored_trace(cast.other_agent, task_kind="theirs")

    assert trace_task_kinds([cast.workspace.pk]) == [
        "call_prep",
        "follow_up_email",
        "pricing_reply",
    ]
    assert "theirs" in trace_task_kinds(None)
    assert trace_task_kinds([]) == []


@pytest.mark.parametrize(("url", "field"), [(TRACES, "started_at"), (OUTCOMES, "occurred_at")])
def test_a_date_range_lists_newest_first_by_that_date(client, cast, url, field):
    # Given runs and outcomes stored out of time order (a late batch of older runs)
    now = timezone.now()
    for days in (2, 9, 5):
        when = (now - dt.timedelta(days=days)).isoformat()
        trace = stored_trace(cast.agent, started_at=when, ended_at=when)
        services.outcomes_ingest(
            actor=cast.agent, items=[outcome_item(f"d{days}", trace=trace.pk, occurred_at=when)]
        )
    client.force_login(cast.user("owner"))
    since = (now - dt.timedelta(days=30)).strftime("%Y-%m-%d")

    # When the list is filtered by a date range
    response, statements = _queries(client, f"{url}?{field}_from_0={since}&{field}_from_1=00:00")

    # Then it reads newest first by that date (its index), not by id
    rows = response.context["cl"].result_list
    assert [getattr(row, field) for row in rows] == sorted(
        (getattr(row, field) for row in rows), reverse=True
    )
    assert [row.pk for row in rows] != sorted((row.pk for row in rows), reverse=True)
    table = "signals_trace" if url == TRACES else "signals_outcome"
    assert f'ORDER BY "{table}"."{field}" DESC' in _rows_sql(statements, table)
