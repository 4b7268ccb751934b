"""``watch``: one session against the reference server, drawn by the renderer
that suits the output."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import httpx
import pytest

from pollwise.adapters.httpx_api import Endpoint
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.watch import WatchOptions, watch
from pollwise.engine.events import MessagesDelivered
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer

FAST = Policy(initial_delay=0.02, max_delay=0.1, max_retry_after=0.05, timeout=10)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ReferenceServer(ServerSettings(pace=0.02, count=3)) as running:
        yield running.url


def _endpoint(url: str) -> Endpoint:
    conversation = httpx.post(f"{url}/conversations").json()["id"]
    return Endpoint.for_conversation(url, conversation)


def test_on_a_terminal_the_view_is_rich(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = _Terminal()
    view = watch(_endpoint(server), WatchOptions(policy=FAST), stdout=out)
    assert view.outcome is Outcome.DONE
    assert "\x1b[" in out.getvalue()
    assert "assistant: " in out.getvalue()


def test_no_color_degrades_a_terminal_to_plain_lines(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = _Terminal()
    view = watch(_endpoint(server), WatchOptions(policy=FAST), stdout=out)
    assert view.outcome is Outcome.DONE
    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue()
    assert lines[0].startswith("watching http://127.0.0.1:")
    assert sum(line.startswith("  assistant: ") for line in lines) == 3
    assert lines[-1].startswith("done (status 'complete')")


def test_observers_hear_the_session_and_nothing_is_left_running(server: str) -> None:
    delivered: list[str] = []

    class Listen(Observer):
        def messages_delivered(self, event: MessagesDelivered) -> None:
            delivered.extend(str(m.label) for m in event.messages)

    options = WatchOptions(policy=FAST, output="plain")
    watch(_endpoint(server), options, stdout=io.StringIO(), observers=[Listen()])
    assert delivered == ["m1", "m2", "m3"]
    assert not [t for t in threading.enumerate() if t.name.startswith("pollwise-gen")]
