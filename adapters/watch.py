"""``pollwise watch``: trigger a job over HTTP and follow it live.

The wiring between the engine and the outside world for one session: an
:class:`~pollwise.adapters.httpx_api.AsyncHttpConversationApi`, the system
clock, a generation run as an asyncio task, and a renderer chosen by where
the output goes. The renderer reads the session's update stream, exactly as
any other UI would; asyncio lets Ctrl-C abandon a request in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import Final, TextIO

import attrs
from rich.console import Console

from pollwise.engine.answers import Readable, classify
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import AsyncConversationApi, Observer
from pollwise.engine.profile import Profile
from pollwise.engine.session import Session, SessionView

from .clocks import SystemClock
from .generations import Generations
from .httpx_api import AsyncHttpConversationApi, Endpoint
from .live_view import (
    JsonView,
    PlainView,
    RichView,
    UpdateView,
    summary_line,
    wants_plain,
    write_line,
)
from .redaction import redact_url
from .trace_recorder import TraceRecorder

__all__ = ["EXIT_CODES", "WatchOptions", "exit_code", "watch"]

logger = logging.getLogger("pollwise.adapters.watch")

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
    #: write the session's trace to this file (``--record``)
    record: str | None = None
    #: keep each body's text in the trace (``--keep-content``)
    keep_content: bool = False


async def _history(
    api: AsyncHttpConversationApi, options: WatchOptions
) -> list[object]:
    """Ids of the messages that exist before the trigger (never new).

    This read comes before t = 0, but a user's --timeout bounds the whole
    run, so it waits no longer than that either."""
    policy = options.policy
    reply = await api.fetch(min(policy.request_timeout, policy.timeout))
    answer = classify(reply, options.profile, SystemClock().wall_time())
    if not isinstance(answer, Readable):
        logger.warning(
            "could not read the conversation before the trigger (%s): every "
            "message it already holds will be shown as new",
            answer.reason,
        )
        return []
    return [m.id for m in answer.messages if m.key[0] == "id"]


def _renderer(
    session: Session, mode: str, out: TextIO, console: Console, url: str
) -> tuple[UpdateView, contextlib.AbstractContextManager[object]]:
    """Print the header; the renderer of ``mode`` and the context it needs."""
    if mode == "json":
        return JsonView(out), contextlib.nullcontext()
    if mode == "plain":
        write_line(out, f"watching {url}")
        return PlainView(out), contextlib.nullcontext()
    console.print(f"watching [bold]{url}[/bold]")
    rich_view = RichView(console, current=session.view)
    return rich_view, rich_view


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
        write_line(out, summary_line(view))
    else:
        style = "green" if view.outcome is Outcome.DONE else "yellow"
        console.print(summary_line(view), style=style)


@attrs.define
class _Run:
    """What the coroutine leaves behind for the summary, however it ends."""

    session: Session | None = None


async def _follow(
    endpoint: Endpoint,
    options: WatchOptions,
    mode: str,
    out: TextIO,
    console: Console,
    observers: Sequence[Observer],
    run: _Run,
) -> None:
    async with AsyncHttpConversationApi(endpoint) as api:
        history = await _history(api, options) if options.trigger else []
        session = Session(
            SystemClock(),
            options.policy,
            options.profile,
            history=history,
            observers=observers,
        )
        run.session = session
        url = redact_url(endpoint.poll_url)
        port: AsyncConversationApi = api
        if options.record is not None:
            recorder = TraceRecorder.attach(
                session,
                options.record,
                history=history,
                keep_content=options.keep_content,
                trigger=options.trigger,
                source={"tool": "pollwise watch", "url": url},
            )
            port = recorder.wrap_async(api)
        renderer, context = _renderer(session, mode, out, console, url)
        with context, session.updates() as updates:
            async with Generations() as generations:
                generations.start_task(
                    url,
                    session,
                    lambda: contextlib.nullcontext(port),
                    trigger=options.trigger,
                )
                try:
                    async for update in updates:
                        renderer.show(update)
                except asyncio.CancelledError:
                    # Ctrl-C: end the session while the renderer still
                    # listens, so its last events (cancelled, ended) show.
                    session.cancel()
                    while (last := updates.get_nowait()) is not None:
                        renderer.show(last)
                    raise


def watch(
    endpoint: Endpoint,
    options: WatchOptions,
    stdout: TextIO | None = None,
    observers: Sequence[Observer] = (),
) -> SessionView:
    """Run one session against ``endpoint`` and render it; returns the end view.

    It runs its own event loop, so call it from code that is not in one. A
    KeyboardInterrupt (Ctrl-C) at any point cancels the session at once,
    abandoning a request in flight; the view then says ``cancelled``.
    """
    out = stdout if stdout is not None else sys.stdout
    mode = options.output
    if mode == "auto":
        mode = "plain" if wants_plain(out) else "rich"
    console = Console(file=out, highlight=False)
    run = _Run()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_follow(endpoint, options, mode, out, console, observers, run))
    if run.session is None:  # interrupted before the session existed
        run.session = Session(SystemClock(), options.policy, options.profile)
    run.session.cancel()
    view = run.session.view()
    _print_summary(view, mode, out, console)
    return view
