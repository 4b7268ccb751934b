"""The Textual app, headless under Textual's own test driver, against the real
reference server on 127.0.0.1 with a fast pace."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from textual.message import Message as TextualMessage
from textual.pilot import Pilot

from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.tui import PollwiseApp, TuiOptions
from pollwise.adapters.tui_widgets import GeneratingIndicator, Transcript
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.session import SessionView

FAST = Policy(
    initial_delay=0.02, max_delay=0.1, max_retry_after=0.05, timeout=10, stall_after=5
)

_T = TypeVar("_T")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ReferenceServer(ServerSettings(pace=0.05, count=3)) as running:
        yield running.url


def _conversation(url: str, *faults: str, pace: float | None = None) -> str:
    body: dict[str, Any] = {"faults": list(faults)} if faults else {}
    if pace is not None:
        # Slow enough that a message lands well before the end even when the
        # app's first paint holds the event loop for a while.
        body["pace"] = pace
    return str(httpx.post(f"{url}/conversations", json=body).json()["id"])


class Seen:
    """What the app's widgets announced, once each, in order, and what the
    app showed when the scenario ended (the widgets are gone after)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.final_view: SessionView | None = None
        self.indicator: list[bool] = []
        self.entries: list[str] = []
        self.screenshots: list[Path] = []
        self._messages: list[TextualMessage] = []
        self._changed: asyncio.Event | None = None

    def hook(self, message: TextualMessage) -> None:
        # A message bubbles up through the DOM: count it once.
        if any(message is known for known in self._messages):
            return
        if isinstance(message, GeneratingIndicator.Changed):
            self.indicator.append(message.active)
        elif isinstance(message, Transcript.EntryAdded):
            self.entries.append(message.entry.text)
        elif isinstance(message, PollwiseApp.ScreenshotSaved):
            self.screenshots.append(message.path)
        else:
            return
        self._messages.append(message)
        if self._changed is not None:
            self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (for at most 10 s) until ``condition`` holds."""

        async def wait() -> None:
            while not condition():
                self._changed = asyncio.Event()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), 10)
        except TimeoutError:
            pytest.fail(f"timed out; saw {self.entries} and {self.indicator}")

    def messages(self) -> list[str]:
        return [e for e in self.entries if e.startswith("assistant: ")]


def _run(
    app: PollwiseApp, scenario: Callable[[PollwiseApp, Pilot[int], Seen], Awaitable[_T]]
) -> tuple[_T, Seen]:
    seen = Seen()

    async def main() -> _T:
        async with app.run_test(size=(100, 30), message_hook=seen.hook) as pilot:
            assert app.loading is not None
            await app.loading.wait()
            result = await scenario(app, pilot, seen)
            if app.is_running:
                seen.texts = [entry.text for entry in app.transcript.entries]
                seen.final_view = app.status.view
        leftovers = [
            t for t in asyncio.all_tasks() if t.get_name().startswith("pollwise-")
        ]
        assert leftovers == []
        return result

    result = asyncio.run(asyncio.wait_for(main(), 30))
    assert not [t for t in threading.enumerate() if t.name.startswith("pollwise-gen")]
    return result, seen


async def _finish(app: PollwiseApp, pilot: Pilot[int]) -> None:
    assert app.following is not None
    await app.following.wait()
    await pilot.pause()


def _texts(app: PollwiseApp) -> list[str]:
    """The transcript's lines now (while the app runs)."""
    return [entry.text for entry in app.transcript.entries]


def test_a_generation_shows_each_message_as_it_lands_and_the_indicator(
    server: str,
) -> None:
    conversation = _conversation(server, pace=0.2)
    app = PollwiseApp(server, conversation, TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        assert not app.indicator.active
        await pilot.press("h", "i", "enter")
        await seen.until(lambda: len(seen.messages()) >= 1)
        assert app.indicator.active  # the first message landed mid-generation
        await _finish(app, pilot)

    _, seen = _run(app, scenario)
    assert seen.indicator == [True, False]
    texts = seen.texts
    assert texts[0] == "you: hi"
    assert seen.messages() == [
        "assistant: Let me think about that for a moment.",
        "assistant: Here is a first idea worth trying.",
        "assistant: A second approach trades speed for clarity.",
    ]
    assert texts[-1].startswith("done (status 'complete') · ")
    assert seen.final_view is not None
    assert seen.final_view.outcome is Outcome.DONE


def test_escape_cancels_and_enter_starts_again(server: str) -> None:
    conversation = _conversation(server, pace=0.2)
    app = PollwiseApp(server, conversation, TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await pilot.press("enter")
        await seen.until(lambda: len(seen.messages()) >= 1)
        await pilot.press("escape")
        await _finish(app, pilot)
        assert _texts(app)[-1].startswith("cancelled (cancelled by the user)")
        # Cancelling stops following, not the server: wait for it to finish.
        url = f"{server}/conversations/{conversation}"
        while httpx.get(url).json()["status"] != "complete":
            await pilot.pause()
        await pilot.press("enter")
        await _finish(app, pilot)

    _, seen = _run(app, scenario)
    assert seen.indicator == [True, False, True, False]
    assert seen.texts[-1].startswith("done (status 'complete')")
    # The first run's messages are history: each appears once, and the new
    # run brings three more.
    assert len(seen.messages()) == len(set(seen.messages())) >= 4


def test_a_start_the_server_refuses_as_busy_follows_its_generation(
    server: str,
) -> None:
    """A 409 to the trigger (still generating) is shown, then followed."""
    conversation = _conversation(server)
    app = PollwiseApp(server, conversation, TuiOptions(policy=FAST))
    generate = f"{server}/conversations/{conversation}/generate-sequence"
    follows = "the server is still generating: following it"

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        assert httpx.post(generate, json={"pace": 0.3}).status_code == 202
        await pilot.press("enter")
        await seen.until(lambda: follows in seen.entries)
        await seen.until(lambda: seen.entries[-1].startswith("done ("))

    _, seen = _run(app, scenario)
    texts = seen.texts
    assert texts[texts.index(follows) - 1].startswith(
        "failed (trigger answered HTTP 409)"
    )
    assert len(seen.messages()) == 3
    assert texts[-1].startswith("done (status 'complete')")


def test_a_second_enter_while_generating_is_refused_in_the_transcript(
    server: str,
) -> None:
    app = PollwiseApp(server, _conversation(server, "stall"), TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await pilot.press("enter")
        await pilot.press("enter")
        assert "already running" in _texts(app)[-1]
        await pilot.press("escape")
        await _finish(app, pilot)

    _, seen = _run(app, scenario)
    assert seen.texts[-1].startswith("cancelled")


@pytest.mark.parametrize(
    ("fault", "outcome", "shown"),
    [
        ("stall", "stalled", "no progress"),
        ("fail", "failed", "status 'failed'"),
        ("rate-limit", "done", "poll 1 failed: HTTP 429"),
        ("503", "done", "poll 3 failed: HTTP 503"),
        ("503-forever", "failed", "5 failed polls in a row"),
        ("slow", "done", "status 'complete'"),
        ("unreadable", "done", "poll 1 failed: body is not JSON"),
    ],
)
def test_each_fault_shows_in_the_ui_and_ends_with_its_outcome(
    server: str, fault: str, outcome: str, shown: str
) -> None:
    policy = FAST.replace(stall_after=0.3) if fault == "stall" else FAST
    app = PollwiseApp(server, _conversation(server, fault), TuiOptions(policy=policy))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await pilot.press("enter")
        await _finish(app, pilot)

    _, seen = _run(app, scenario)
    texts = seen.texts
    assert texts[-1].startswith(outcome + " ")
    assert any(shown in text for text in texts), texts
    assert seen.indicator == [True, False]
    assert seen.final_view is not None
    assert seen.final_view.outcome is Outcome(outcome)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "conversation", "problem"),
    [
        ("ftp://example.invalid", "c", "cannot use this URL: poll_url: "),
        ("not a url at all", "c", "cannot use this URL"),
        ("SERVER", "nope", "cannot load the conversation: HTTP 404: no conversation"),
        (
            f"http://127.0.0.1:{_free_port()}",
            "c",
            "cannot load the conversation: connect",
        ),
    ],
)
def test_bad_urls_and_server_errors_show_in_the_transcript(
    server: str, url: str, conversation: str, problem: str
) -> None:
    url = server if url == "SERVER" else url
    app = PollwiseApp(url, conversation, TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await pilot.press("enter")
        if app.following is not None:
            await _finish(app, pilot)
        await pilot.pause()

    _, seen = _run(app, scenario)
    texts = seen.texts
    assert texts[0].startswith(problem), texts
    assert app.return_code in (None, 0)
    assert texts[-1].startswith(("no conversation to generate in", "failed (trigger"))


def test_a_conversation_already_generating_is_followed_without_a_trigger(
    server: str,
) -> None:
    conversation = _conversation(server, pace=0.3)
    url = f"{server}/conversations/{conversation}/generate-sequence"
    assert httpx.post(url).status_code == 202
    app = PollwiseApp(server, conversation, TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await _finish(app, pilot)

    _, seen = _run(app, scenario)
    texts = seen.texts
    assert "a generation is running: following it" in texts
    assert texts[-1].startswith("done (status 'complete')")


def test_quitting_mid_generation_cancels_it_and_leaves_nothing_running(
    server: str,
) -> None:
    app = PollwiseApp(server, _conversation(server, "stall"), TuiOptions(policy=FAST))

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> Any:
        await pilot.press("enter")
        await seen.until(lambda: len(seen.messages()) >= 1)
        await pilot.press("ctrl+q")
        return app.generation

    generation, _ = _run(app, scenario)
    assert generation is not None
    assert generation.session.outcome is Outcome.CANCELLED
    assert generation.is_finished


def test_a_screenshot_is_saved_mid_generation(server: str, tmp_path: Path) -> None:
    target = tmp_path / "shot" / "app.svg"
    options = TuiOptions(
        policy=FAST,
        animated=False,
        prompt="Hello?",
        screenshot=str(target),
        subtitle="demo",
    )
    app = PollwiseApp(server, _conversation(server, "stall"), options)

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await seen.until(lambda: bool(seen.screenshots))

    _, seen = _run(app, scenario)
    assert seen.screenshots == [target]
    assert app.return_code == 0
    svg = target.read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    for text in ("you:&#160;Hello?", "assistant&#160;is&#160;typing", "backoff"):
        assert text in svg


@pytest.mark.parametrize(
    ("fault", "shown"),
    [("503-forever", "failed"), ("redirect", "HTTP&#160;307")],
)
def test_a_screenshot_is_saved_of_a_generation_that_ends_before_its_messages(
    server: str, tmp_path: Path, fault: str, shown: str
) -> None:
    """It was taken only once two messages had landed: a generation that
    failed first (or a conversation answering with a redirect, fatal)
    left ``--screenshot`` running for ever."""
    target = tmp_path / "end.svg"
    options = TuiOptions(
        policy=FAST, animated=False, prompt="Hello?", screenshot=str(target)
    )
    app = PollwiseApp(server, _conversation(server, fault), options)

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await seen.until(lambda: bool(seen.screenshots))

    _, seen = _run(app, scenario)
    assert seen.screenshots == [target]
    assert app.return_code == 0
    assert shown in target.read_text(encoding="utf-8")


def test_a_screenshot_is_saved_when_the_conversation_cannot_load(
    tmp_path: Path,
) -> None:
    target = tmp_path / "down.svg"
    options = TuiOptions(policy=FAST, animated=False, screenshot=str(target))
    app = PollwiseApp("http://127.0.0.1:1", "x", options)

    async def scenario(app: PollwiseApp, pilot: Pilot[int], seen: Seen) -> None:
        await seen.until(lambda: bool(seen.screenshots))

    _, seen = _run(app, scenario)
    assert seen.screenshots == [target]
    assert "cannot&#160;load" in target.read_text(encoding="utf-8")
