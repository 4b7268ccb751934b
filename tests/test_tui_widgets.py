"""The reusable Textual widgets, embedded in small apps of the tests' own."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest
from textual.app import App, ComposeResult

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.generations import Generations
from pollwise.adapters.tui_widgets import (
    GeneratingIndicator,
    SessionStatus,
    Transcript,
    follow,
)
from pollwise.engine.answers import Reply, Response
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.session import Session
from pollwise.engine.updates import Update

#: The README's embedding example, word for word (the README runs it too).
README_EXAMPLE = """
import asyncio

import httpx
from textual.app import App, ComposeResult

from pollwise.adapters import SystemClock
from pollwise.adapters.generations import Generations
from pollwise.adapters.httpx_api import AsyncHttpConversationApi, Endpoint
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.tui_widgets import GeneratingIndicator, Transcript, follow
from pollwise.engine import Policy, Session


class Chat(App[None]):
    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.generations = Generations()

    def compose(self) -> ComposeResult:
        yield Transcript()
        yield GeneratingIndicator()

    def on_mount(self) -> None:
        session = Session(SystemClock(), Policy(initial_delay=0.05, max_delay=0.2))
        self.generations.start_task(
            "chat", session, lambda: AsyncHttpConversationApi(self.endpoint)
        )
        widgets = self.query_one(Transcript), self.query_one(GeneratingIndicator)
        self.shown = follow(self, session, *widgets)  # ends with the session

    async def on_unmount(self) -> None:
        await self.generations.aclose()  # nothing is left running


async def main(endpoint: Endpoint) -> list[str]:
    app = Chat(endpoint)
    async with app.run_test():  # headless; app.run() in a terminal
        await app.shown.wait()
        return [entry.text for entry in app.query_one(Transcript).entries]


with ReferenceServer(ServerSettings(pace=0.05, count=3)) as server:
    conversation = httpx.post(f"{server.url}/conversations").json()["id"]
    endpoint = Endpoint.for_conversation(server.url, conversation)
    lines = asyncio.run(main(endpoint))

assert len(lines) == 3
print(lines[0])
"""


def test_the_readme_embedding_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(README_EXAMPLE, "README:tui", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.startswith("assistant: ")


class Gate:
    """A fake API on a fake clock whose second poll waits for the test."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.polls = 0

    def trigger(self, timeout: float) -> Reply:
        return Response(202, (), b"")

    def fetch(self, timeout: float) -> Reply:
        self.polls += 1
        if self.polls == 1:
            body = b'{"status": "generating", "messages": [{"id": 1, '
            body += b'"role": "assistant", "content": "[b]not markup[/b]"}]}'
            return Response(200, (), body)
        self.opened.wait(10)
        return Response(200, (), b'{"status": "complete", "messages": []}')


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Transcript()
        yield GeneratingIndicator(animated=False)
        yield SessionStatus()


def test_widgets_follow_a_session_run_on_another_thread() -> None:
    """The session runs on a thread; the widgets change on the app's loop."""
    session = Session(FakeClock(), Policy(initial_delay=1, max_delay=1))
    gate = Gate()
    shown_on: set[int] = set()

    class Spy:
        def show(self, update: Update) -> None:
            shown_on.add(threading.get_ident())
            if update.view.statistics.messages == 1:
                gate.opened.set()

    async def main() -> dict[str, Any]:
        app = Host()
        async with app.run_test() as pilot, Generations() as generations:
            indicator = app.query_one(GeneratingIndicator)
            assert indicator.has_class("-idle")
            widgets = (
                app.query_one(Transcript),
                indicator,
                app.query_one(SessionStatus),
                Spy(),
            )
            worker = follow(app, session, *widgets)
            generations.start("c", session, lambda: contextlib.nullcontext(gate))
            await worker.wait()
            await pilot.pause()
            return {
                "loop": threading.get_ident(),
                "lines": [entry.text for entry in app.query_one(Transcript).entries],
                "idle": indicator.has_class("-idle"),
                "active": indicator.active,
                "status": app.query_one(SessionStatus).view,
            }

    seen = asyncio.run(asyncio.wait_for(main(), 20))
    assert shown_on == {seen["loop"]}
    assert seen["lines"] == ["assistant: [b]not markup[/b]"]
    assert seen["idle"]
    assert not seen["active"]
    assert seen["status"].outcome is Outcome.DONE


def test_the_indicator_turns_on_and_off_and_says_so() -> None:
    changes: list[bool] = []

    class Listen(App[None]):
        def compose(self) -> ComposeResult:
            yield GeneratingIndicator(label="thinking")

        def on_generating_indicator_changed(
            self, message: GeneratingIndicator.Changed
        ) -> None:
            changes.append(message.active)

    async def main() -> tuple[str, str]:
        app = Listen()
        async with app.run_test() as pilot:
            indicator = app.query_one(GeneratingIndicator)
            indicator.active = True
            await pilot.pause()
            shown = str(indicator.render())
            display = indicator.styles.display
            indicator.active = False
            await pilot.pause()
            return shown, f"{display}/{indicator.styles.display}"

    shown, display = asyncio.run(main())
    assert changes == [True, False]
    assert shown.endswith(" thinking")
    assert display == "block/none"


def test_a_view_that_raises_is_logged_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = Session(FakeClock(), Policy())

    class Broken:
        def show(self, update: Update) -> None:
            raise RuntimeError("boom")

    async def main() -> int:
        app = Host()
        async with app.run_test():
            status = app.query_one(SessionStatus)
            worker = follow(app, session, Broken(), status)
            session.cancel()
            await worker.wait()
            assert status.view is not None
            return status.view.version

    assert asyncio.run(main()) >= 1
    assert "boom" in caplog.text
