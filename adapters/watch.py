"""``pollwise watch``: trigger a job over HTTP and follow it live.

The wiring between the engine and the outside world for one session: an
:class:`~pollwise.adapters.httpx_api.HttpConversationApi`, the system clock,
the sync runner, and a view chosen by where the output goes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Final, TextIO

import attrs
from rich.console import Console

from pollwise.engine.answers import Readable, classify
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer
from pollwise.engine.profile import Profile
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session, SessionView

from .clocks import SystemClock
from .httpx_api import Endpoint, HttpConversationApi
from .live_view import JsonView, PlainView, RichView, summary_line
from .redaction import redact_url

__all__ = ["EXIT_CODES", "WatchOptions", "exit_code", "watch"]

#: Exit code of ``pollwise watch`` for each outcome.
EXIT_CODES: Final = {
    Outcome.DONE: 0,
    Outcome.FAILED: 1,
    Outcome.TIMED_OUT: 3,
    Outcome.STALLED: 4,
    Outcome.CANCELLED: 130,
}


def exit_code(outcome: Outcome) -> int:
    """The process exit code for an outcome (0 done, 1 failed, 3, 4, 130)."""
    return EXIT_CODES[outcome]


@attrs.frozen(kw_only=True)
class WatchOptions:
    """Everything ``watch`` needs besides the endpoint."""

    policy: Policy = attrs.field(factory=Policy)
    profile: Profile = attrs.field(factory=Profile)
    trigger: bool = True
    output: str = "auto"  # "auto", "plain", "rich" or "json"


def _wants_plain(stream: TextIO) -> bool:
    return not stream.isatty() or "NO_COLOR" in os.environ


def _history(api: HttpConversationApi, options: WatchOptions) -> list[object]:
    """Ids of the messages that exist before the trigger (never new)."""
    reply = api.fetch(options.policy.request_timeout)
    answer = classify(reply, options.profile, SystemClock().wall_time())
    if not isinstance(answer, Readable):
        return []
    return [m.id for m in answer.messages if m.key[0] == "id"]


def _attach_view(
    session: Session, mode: str, out: TextIO, console: Console, url: str
) -> contextlib.AbstractContextManager[object]:
    """Print the header and attach the observer that renders ``mode``."""
    if mode == "json":
        session.add_observer(JsonView(out))
        return contextlib.nullcontext()
    if mode == "plain":
        print(f"watching {url}", file=out, flush=True)
        session.add_observer(PlainView(out))
        return contextlib.nullcontext()
    console.print(f"watching [bold]{url}[/bold]")
    rich_view = RichView(session, console)
    session.add_observer(rich_view)
    return rich_view


def _print_summary(view: SessionView, mode: str, out: TextIO, console: Console) -> None:
    if mode == "json":
        stats = view.statistics
        JsonView(out).emit(
            "summary",
            view.elapsed,
            outcome=view.outcome.value if view.outcome else None,
            polls=stats.polls,
            failed_polls=stats.failed_polls,
            messages=stats.messages,
            elapsed=stats.elapsed,
        )
    elif mode == "plain":
        print(summary_line(view), file=out, flush=True)
    else:
        style = "green" if view.outcome is Outcome.DONE else "yellow"
        console.print(summary_line(view), style=style)


def watch(
    endpoint: Endpoint,
    options: WatchOptions,
    stdout: TextIO | None = None,
    observers: Sequence[Observer] = (),
) -> SessionView:
    """Run one session against ``endpoint`` and render it; returns the end view.

    A KeyboardInterrupt (Ctrl-C) at any point cancels the session; the view
    then says ``cancelled``.
    """
    out = stdout if stdout is not None else sys.stdout
    mode = options.output
    if mode == "auto":
        mode = "plain" if _wants_plain(out) else "rich"
    console = Console(file=out, highlight=False)
    session: Session | None = None
    with HttpConversationApi(endpoint) as api:
        try:
            history = _history(api, options) if options.trigger else []
            session = Session(
                SystemClock(),
                options.policy,
                options.profile,
                history=history,
                observers=observers,
            )
            url = redact_url(endpoint.poll_url)
            with _attach_view(session, mode, out, console, url):
                run_sync(session, api, trigger=options.trigger)
        except KeyboardInterrupt:
            if session is None:  # interrupted before the session existed
                session = Session(SystemClock(), options.policy, options.profile)
            session.cancel()
    view = session.view()
    _print_summary(view, mode, out, console)
    return view
