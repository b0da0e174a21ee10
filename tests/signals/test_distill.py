"""Distilling a cluster into one rule with an OpenAI-compatible chat endpoint: a local fake
server in the test, never the network. Off unless the deployment configures the endpoint and
the workspace turns it on; any failure falls back to the representative explanation."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.memories.models import MemoryItem
from apps.signals import distill, services
from apps.signals.learning import learning_settings_update
from apps.signals.models import LearningCandidate
from tests.signals.conftest import stored_trace

OBJECTION = "The customer says the e-mail is too long; keep the first touch short."
RULE = "Keep first-touch e-mails under five sentences."

Reply = Callable[[dict[str, Any]], tuple[int, Any]]


class FakeChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Reply = lambda body: (
            200,
            {"choices": [{"message": {"role": "assistant", "content": f"  {RULE}\n"}}]},
        )
        self.url = ""


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    fake = FakeChat()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            fake.requests.append({"path": self.path, **body})
            fake.headers.append(dict(self.headers))
            status, payload = fake.reply(body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def configured(settings, chat):
    settings.SIGNALS_DISTILL_BASE_URL = chat.url
    settings.SIGNALS_DISTILL_MODEL = "tiny-chat"
    settings.SIGNALS_DISTILL_API_KEY = "sk-test"
    settings.SIGNALS_DISTILL_TIMEOUT_SECONDS = 5
    return chat


def _three(cast):
    for _ in range(3):
        trace = stored_trace(cast.agent)
        services.feedback_ingest(
            actor=cast.agent,
            items=[{"trace": trace.pk, "kind": "end_customer", "explanation": OBJECTION}],
        )


def test_distilled_rule_is_proposed(cast, configured):
    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, distill=True)

    _three(cast)

    memory = MemoryItem.objects.get()
    assert memory.content == RULE
    assert memory.status == "proposed"  # still reviewed by a person
    candidate = LearningCandidate.objects.get()
    assert (candidate.distilled, candidate.proposed_content) == (True, RULE)
    assert candidate.content == OBJECTION  # the representative stays
    (request,) = configured.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "tiny-chat"
    assert request["messages"][1]["content"].count(OBJECTION) == 3
    assert configured.headers[0]["Authorization"] == "Bearer sk-test"


def test_workspace_off_calls_nothing(cast, configured):
    _three(cast)

    assert configured.requests == []
    assert MemoryItem.objects.get().content == OBJECTION


def test_not_configured_calls_nothing(cast, settings):
    settings.SIGNALS_DISTILL_BASE_URL = None
    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, distill=True)

    _three(cast)

    assert MemoryItem.objects.get().content == OBJECTION
    assert LearningCandidate.objects.get().distilled is False


@pytest.mark.parametrize(
    "reply",
    [
        lambda body: (500, {"error": {"message": "boom"}}),
        lambda body: (200, {"choices": []}),
        lambda body: (200, {"unexpected": True}),
        lambda body: (200, b"not json"),
        lambda body: (200, {"choices": [{"message": {"content": "   "}}]}),
        lambda body: (200, {"choices": [{"message": {"content": 42}}]}),
    ],
    ids=["500", "no-choices", "wrong-shape", "not-json", "empty", "not-text"],
)
def test_a_failing_endpoint_falls_back_to_the_representative(cast, configured, reply):
    configured.reply = reply
    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, distill=True)

    _three(cast)

    assert MemoryItem.objects.get().content == OBJECTION
    assert LearningCandidate.objects.get().distilled is False


def test_an_unreachable_endpoint_falls_back(settings):
    settings.SIGNALS_DISTILL_BASE_URL = "http://127.0.0.1:9/v1"
    settings.SIGNALS_DISTILL_MODEL = "m"
    settings.SIGNALS_DISTILL_TIMEOUT_SECONDS = 1

    assert distill.distilled_rule(["a", "b"]) is None


def test_personal_data_in_the_answer_is_masked(cast, configured):
    configured.reply = lambda body: (
        200,
        {"choices": [{"message": {"content": "Write to jane.doe@example.com first."}}]},
    )
    learning_settings_update(actor=cast.user("owner"), workspace=cast.workspace, distill=True)

    _three(cast)

    assert "jane.doe@example.com" not in MemoryItem.objects.get().content
    assert "jane.doe@example.com" not in LearningCandidate.objects.get().proposed_content
