"""``pollwise tui``: a Textual chat app that follows generations live.

The app shows a conversation's transcript, a prompt (Enter starts a
generation), a typing indicator while the generation is active, the state
and the next poll in a status bar, and the outcome when it ends; Escape
cancels. It is built from the reusable widgets of
:mod:`pollwise.adapters.tui_widgets` and runs each generation as an asyncio
task of its own event loop through :class:`~pollwise.adapters.generations.
Generations` (one at a time per conversation). Every problem, from a bad
URL to a server that answers 500, is shown in the transcript, never as a
traceback.

The reference API takes no prompt text: the prompt is shown in the
transcript and the generation is started with an empty body. Cancelling
stops following, not the server: a start that the server refuses with 409
(still generating) follows that generation instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import ClassVar

import attrs
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message as TextualMessage
from textual.timer import Timer
from textual.widgets import Footer, Header, Input
from textual.worker import Worker

from pollwise.engine.answers import Readable, Reply, Response, classify
from pollwise.engine.events import PollFailed
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile, StatusKind
from pollwise.engine.session import Session
from pollwise.engine.updates import Update

from .clocks import SystemClock
from .generations import Generation, GenerationRunningError, Generations
from .httpx_api import AsyncHttpConversationApi, Endpoint
from .live_view import summary_line
from .redaction import redact_url
from .tui_widgets import (
    EntryKind,
    GeneratingIndicator,
    SessionStatus,
    Transcript,
    follow,
)

__all__ = ["PollwiseApp", "TuiOptions"]

logger = logging.getLogger("pollwise.adapters.tui")

_OUTCOME_KINDS: dict[Outcome, EntryKind] = {
    Outcome.DONE: "outcome",
    Outcome.CANCELLED: "note",
    Outcome.FAILED: "error",
    Outcome.TIMED_OUT: "error",
    Outcome.STALLED: "error",
}


@attrs.frozen(kw_only=True)
class TuiOptions:
    """How the app polls and what it shows.

    Attributes:
        policy: the polling policy of every generation.
        profile: where status, messages and ids are in a body.
        headers: sent with every request (never shown or logged).
        subtitle: the line under the title; the URL and the conversation
            by default.
        animated: move the typing indicator's dots.
        prompt: submitted once the conversation is loaded, as if typed.
        screenshot: save an SVG of the screen to this path once
            ``screenshot_after`` messages of a generation have landed and
            the next poll is scheduled, then exit; or, if the generation
            ends first (or cannot begin), of that end.
        screenshot_after: see ``screenshot``.
    """

    policy: Policy = attrs.field(factory=Policy)
    profile: Profile = attrs.field(factory=Profile)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    subtitle: str | None = None
    animated: bool = True
    prompt: str | None = None
    screenshot: str | None = None
    screenshot_after: int = 2


def _server_says(reply: Reply) -> str:
    """The ``error`` text of a JSON error body, when there is one."""
    if not isinstance(reply, Response):
        return ""
    try:
        body = json.loads(reply.body)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f": {error}" if isinstance(error, str) else ""


class PollwiseApp(App[int]):
    """A chat transcript of one conversation, with live generations.

    Args:
        base_url: the API's base URL (the reference API's layout).
        conversation: the conversation's id.
        options: policy, profile, headers and display options.
    """

    TITLE = "pollwise"
    CSS = """
    #prompt { margin: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_generation", "Cancel generation"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    class ScreenshotSaved(TextualMessage):
        """Posted when the screenshot is saved, just before the app exits."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(
        self, base_url: str, conversation: str, options: TuiOptions | None = None
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.conversation = conversation
        self.options = options if options is not None else TuiOptions()
        self.generations = Generations()
        #: the latest generation started from this app
        self.generation: Generation | None = None
        #: the worker that shows the latest generation (ends after its end)
        self.following: Worker[None] | None = None
        #: the worker that loads the conversation at start
        self.loading: Worker[None] | None = None
        self.endpoint: Endpoint | None = None
        self._known: list[object] = []
        self._ticker: Timer | None = None
        self._frozen = False
        self.sub_title = self.options.subtitle or (
            f"{redact_url(base_url)} · conversation {conversation}"
        )

    def compose(self) -> ComposeResult:
        yield Header()
        yield Transcript(id="transcript")
        yield GeneratingIndicator(animated=self.options.animated, id="indicator")
        yield Input(
            placeholder="Type a prompt and press Enter to generate", id="prompt"
        )
        yield SessionStatus("loading the conversation…", id="status")
        yield Footer()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def indicator(self) -> GeneratingIndicator:
        return self.query_one(GeneratingIndicator)

    @property
    def status(self) -> SessionStatus:
        return self.query_one(SessionStatus)

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._ticker = self.set_interval(0.2, self._tick)
        self.loading = self.run_worker(
            self._load(), name="pollwise-load", group="pollwise", exit_on_error=False
        )

    async def on_unmount(self) -> None:
        # Cancel and await every generation: nothing of pollwise outlives
        # the app.
        await self.generations.aclose()

    # -- loading the conversation ------------------------------------------

    async def _load(self) -> None:
        try:
            await self._load_conversation()
        except Exception as exc:  # shown, never a traceback on the screen
            logger.exception("loading the conversation failed")
            self._problem(f"cannot load the conversation: {type(exc).__name__}")

    async def _load_conversation(self) -> None:
        try:
            self.endpoint = Endpoint.for_conversation(
                self.base_url, self.conversation, headers=self.options.headers
            )
        except ValueError as exc:
            self._problem(f"cannot use this URL: {exc}")
            return
        policy, profile = self.options.policy, self.options.profile
        async with AsyncHttpConversationApi(self.endpoint) as api:
            reply = await api.fetch(policy.request_timeout)
        answer = classify(reply, profile, SystemClock().wall_time())
        if not isinstance(answer, Readable):
            self._problem(
                f"cannot load the conversation: {answer.reason}{_server_says(reply)}"
            )
            return
        self._known.extend(m.id for m in answer.messages)
        self.transcript.add_messages(answer.messages)
        if answer.status_kind in (StatusKind.RUNNING, StatusKind.UNKNOWN):
            self.transcript.add("a generation is running: following it", "note")
            self._start(trigger=False)
        elif self.options.prompt is not None:
            self._submit(self.options.prompt)
        else:
            self.status.update("ready: type a prompt and press Enter")
            self._end_screenshot()  # nothing will happen without a prompt

    def _problem(self, text: str) -> None:
        self.transcript.add(text, "error")
        self.status.update("not connected")
        self._end_screenshot()

    # -- generations ----------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.clear()
        self._submit(event.value)

    def _submit(self, text: str) -> None:
        if self.endpoint is None:
            self.transcript.add("no conversation to generate in (see above)", "error")
            return
        running = self.generations.get(self.conversation)
        if running is not None:
            self.transcript.add(
                "a generation is already running; Escape cancels it", "error"
            )
            return
        if text.strip():
            self.transcript.add(f"you: {text.strip()}", "prompt")
        self._start(trigger=True)

    def _start(self, trigger: bool) -> None:
        endpoint = self.endpoint
        assert endpoint is not None
        session = Session(
            SystemClock(),
            self.options.policy,
            self.options.profile,
            history=self._known,
        )
        try:
            generation = self.generations.start_task(
                self.conversation,
                session,
                lambda: AsyncHttpConversationApi(endpoint),
                trigger=trigger,
            )
        except GenerationRunningError:
            self.transcript.add("a generation is already running", "error")
            return
        self.generation = generation
        # The task has not run yet (this is the loop's thread), so the
        # stream sees every event.
        self.following = follow(self, session, self)

    def show(self, update: Update) -> None:
        """Render one update of the current generation."""
        if self._frozen:
            return
        self.transcript.show(update)
        self.indicator.show(update)
        self.status.show(update)
        self._known.extend(m.id for m in update.new_messages)
        for event in update.events:
            if isinstance(event, PollFailed):
                self.transcript.add(
                    f"poll {event.number} failed: {event.answer.reason}", "note"
                )
        view = update.view
        if update.is_final and view.outcome is not None:
            self.transcript.add(summary_line(view), _OUTCOME_KINDS[view.outcome])
            if view.reason is EndReason.TRIGGER_FAILED and "HTTP 409" in view.detail:
                # The server is still generating (say, after a cancel here):
                # what the user asked for is that generation; follow it.
                self.transcript.add("the server is still generating: following it")
                self.call_later(self._start, trigger=False)
            else:
                self._end_screenshot()
        elif self._wants_screenshot(update):
            self._freeze()

    def action_cancel_generation(self) -> None:
        """Cancel the running generation (Escape)."""
        if not self.generations.cancel(self.conversation):
            self.notify("no generation is running")

    def _tick(self) -> None:
        generation = self.generation
        if generation is not None and generation.is_active and not self._frozen:
            self.status.show_view(generation.view())

    # -- screenshots ----------------------------------------------------------

    def _wants_screenshot(self, update: Update) -> bool:
        view = update.view
        return (
            self.options.screenshot is not None
            and view.state == "backoff"
            and view.statistics.messages >= self.options.screenshot_after
        )

    def _end_screenshot(self) -> None:
        """A screenshot was asked for, but the generation ended (or never
        began) before its messages landed: take the picture of that end."""
        if self.options.screenshot is not None and not self._frozen:
            self._freeze()

    def _freeze(self) -> None:
        self._frozen = True
        if self._ticker is not None:
            self._ticker.stop()
        # Let the last lines mount and lay out before the picture.
        self.set_timer(0.3, self._save_screenshot)

    def _save_screenshot(self) -> None:
        assert self.options.screenshot is not None
        path = Path(self.options.screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.export_screenshot(), encoding="utf-8")
        self.post_message(self.ScreenshotSaved(path))
        self.exit(0)
