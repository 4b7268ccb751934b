"""Replaying a recorded session: same answers, fake clock, same decisions?

``replay`` runs the engine again on a :class:`FakeClock` against a
:class:`ScriptedApi` built from the trace (the fake API of ``simulate``, in
its ``in_order`` form: the n-th poll gets the n-th recorded answer), and
compares what it decides with what the trace says was decided.

What "identical" means. A live trace's times come from a real clock, whose
sleeps end a few milliseconds late. So each recorded answer is given back
*at its recorded time* (``answer_at``): every decision is taken at exactly
the moment it was taken live, from exactly the same inputs, and must be
identical: the state path, progress and messages, the backoff step, the
hint, the reason and the next send time (to 1e-6 s, floating point). The
send times themselves are recomputed by the schedule and are compared
within a tolerance (``DEFAULT_TOLERANCE``): the live ones are later by the
sleep's overshoot, and never earlier. The request timeout and a hint read
from an HTTP-date without a Date header depend on the clock too and get the
same tolerance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from typing import Any, Final

import attrs

from pollwise.engine.events import PollSent
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

from .clocks import FakeClock
from .scripted_api import ScriptedApi
from .trace import (
    BeginRecord,
    Decision,
    EndRecord,
    Exchange,
    Record,
    StepRecord,
    Trace,
    trace_from_records,
)
from .trace_body import canonical_profile, entry_from_exchange
from .trace_recorder import MemorySink, TraceRecorder

__all__ = [
    "DEFAULT_TOLERANCE",
    "Divergence",
    "Mismatch",
    "ReplayResult",
    "format_divergence",
    "replay_trace",
    "replayed_trace",
]

#: Send times may differ from the recording by this much (seconds).
DEFAULT_TOLERANCE: Final = 0.25
#: Times that replay reproduces exactly, up to floating point.
EXACT: Final = 1e-6
#: The wall clock at t = 0 when a trace does not say (the scenarios' default).
_DEFAULT_WALL: Final = 1767225600.0


@attrs.frozen
class Mismatch:
    """One field that differs between the recording and the replay."""

    field: str
    recorded: Any
    replayed: Any


@attrs.frozen
class Divergence:
    """The first record where the replay decided differently."""

    #: "begin", "poll 4", "end", or "polls" (a different number of polls)
    where: str
    #: the line of the recorded record in the trace, when known
    line: int | None
    mismatches: tuple[Mismatch, ...]
    recorded: Record | None
    replayed: Record | None


@attrs.frozen
class ReplayResult:
    """What a replay found."""

    path: str
    polls: int
    divergence: Divergence | None
    #: the replayed session's records
    replayed: tuple[Record, ...]
    #: the largest difference between a recorded and a replayed send time
    max_send_drift: float
    tolerance: float
    notes: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        return self.divergence is None


class _StopAfter(Observer):
    """Cancels the replay when it would poll past a recording that stops."""

    def __init__(self, session: Session, polls: int) -> None:
        self.session = session
        self.polls = polls

    def poll_sent(self, event: PollSent) -> None:
        if event.number > self.polls:
            self.session.cancel()


def replayed_trace(trace: Trace) -> tuple[Record, ...]:
    """Run the engine again on the trace's answers; the replay's records."""
    header = trace.header
    policy = header.build_policy()
    profile = header.build_profile()
    begin = trace.begin
    wall = begin.wall if begin is not None and begin.wall is not None else _DEFAULT_WALL
    clock = FakeClock(start=0.0, wall_start=wall)
    session = Session(clock, policy, canonical_profile(profile), history=header.history)
    sink = MemorySink()
    recorder = TraceRecorder(
        sink,
        policy=policy,
        profile=profile,
        history=header.history,
        clock=clock,
        trigger=header.trigger,
        source={"tool": "pollwise replay", "file": trace.path},
    )
    session.add_observer(recorder)
    if trace.end is None:
        session.add_observer(_StopAfter(session, len(trace.steps)))
    elif trace.end.outcome == "cancelled":
        clock.call_at(trace.end.at, session.cancel)
    entries = [
        entry_from_exchange(step.exchange, answer_at=step.exchange.answered)
        for step in trace.steps
    ]
    trigger = None
    if begin is not None and begin.trigger is not None:
        trigger = entry_from_exchange(begin.trigger, default_status=202)
    api = ScriptedApi(entries, clock, trigger=trigger, origin=0.0, in_order=True)
    run_sync(session, recorder.wrap(api), trigger=header.trigger)
    return tuple(sink.records)


# -- comparing ----------------------------------------------------------------


_TRANSPORT_DETAIL: Final = re.compile(
    r"((?:last: |^trigger )(?:connect|timeout|reset|too_large|protocol)): .*$",
    re.DOTALL,
)


def _detail(text: str | None) -> str | None:
    """A verdict's words without a transport failure's own detail.

    The fake API fails a request with the recorded kind of failure, not
    with the HTTP library's words for it ("ConnectError", "no answer within
    2s"): those are data, not a decision.
    """
    return None if text is None else _TRANSPORT_DETAIL.sub(r"\1", text)


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance)


class _Comparer:
    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.found: list[Mismatch] = []
        self.drift = 0.0

    def same(self, name: str, recorded: Any, replayed: Any) -> None:
        if recorded != replayed:
            self.found.append(Mismatch(name, recorded, replayed))

    def time(
        self,
        name: str,
        recorded: float | None,
        replayed: float | None,
        tolerance: float,
    ) -> None:
        if not _close(recorded, replayed, tolerance):
            self.found.append(Mismatch(name, recorded, replayed))

    def exchange(self, prefix: str, recorded: Exchange, replayed: Exchange) -> None:
        self.same(f"{prefix}answer", recorded.answer, replayed.answer)
        if recorded.http_status is not None or prefix == "":
            # An observer alone never sees the trigger's status code.
            self.same(
                f"{prefix}http_status", recorded.http_status, replayed.http_status
            )
        self.same(f"{prefix}transport", recorded.transport, replayed.transport)
        self.time(f"{prefix}hint", recorded.hint, replayed.hint, self.tolerance)
        if recorded.sent is not None and replayed.sent is not None and prefix == "":
            self.drift = max(self.drift, abs(recorded.sent - replayed.sent))
            self.time("sent", recorded.sent, replayed.sent, self.tolerance)
        if prefix == "":
            self.time("answered", recorded.answered, replayed.answered, EXACT)

    def decision(self, recorded: Decision | None, replayed: Decision | None) -> None:
        if recorded is None or replayed is None:
            self.same("decision", recorded, replayed)
            return
        for name in ("action", "why", "no_progress_polls", "progress_reset"):
            self.same(
                f"decision.{name}", getattr(recorded, name), getattr(replayed, name)
            )
        for name in ("outcome", "reason"):
            self.same(
                f"decision.{name}", getattr(recorded, name), getattr(replayed, name)
            )
        self.same("decision.detail", _detail(recorded.detail), _detail(replayed.detail))
        self.time("decision.wait", recorded.wait, replayed.wait, EXACT)
        self.time("decision.next_at", recorded.next_at, replayed.next_at, EXACT)
        self.time("decision.hint", recorded.hint, replayed.hint, self.tolerance)


def _compare_begin(
    compare: _Comparer, recorded: BeginRecord, replayed: BeginRecord
) -> None:
    compare.same("state_after", recorded.state_after, replayed.state_after)
    if recorded.trigger is not None and replayed.trigger is not None:
        compare.exchange("trigger.", recorded.trigger, replayed.trigger)
    compare.decision(recorded.decision, replayed.decision)


def _compare_step(
    compare: _Comparer, recorded: StepRecord, replayed: StepRecord
) -> None:
    compare.exchange("", recorded.exchange, replayed.exchange)
    compare.time(
        "request_timeout",
        recorded.request_timeout,
        replayed.request_timeout,
        compare.tolerance,
    )
    compare.same("has_progress", recorded.has_progress, replayed.has_progress)
    compare.same(
        "new_messages", list(recorded.new_messages), list(replayed.new_messages)
    )
    compare.same("state_before", recorded.state_before, replayed.state_before)
    compare.same("state_after", recorded.state_after, replayed.state_after)
    compare.decision(recorded.decision, replayed.decision)


def _compare_end(compare: _Comparer, recorded: EndRecord, replayed: EndRecord) -> None:
    compare.same("outcome", recorded.outcome, replayed.outcome)
    compare.same("reason", recorded.reason, replayed.reason)
    compare.same("detail", _detail(recorded.detail), _detail(replayed.detail))
    compare.time("at", recorded.at, replayed.at, EXACT)
    if recorded.statistics is not None and replayed.statistics is not None:
        for name in ("polls", "failed_polls", "messages"):
            compare.same(
                f"statistics.{name}",
                getattr(recorded.statistics, name),
                getattr(replayed.statistics, name),
            )


def _pairs(
    trace: Trace, replay: Trace
) -> Iterator[tuple[str, int | None, Record, Record]]:
    if trace.begin is not None and replay.begin is not None:
        yield "begin", trace.lines.get("begin"), trace.begin, replay.begin
    for recorded, replayed in zip(trace.steps, replay.steps, strict=False):
        yield (
            f"poll {recorded.number}",
            trace.lines.get(recorded.number),
            recorded,
            replayed,
        )


def replay_trace(trace: Trace, *, tolerance: float = DEFAULT_TOLERANCE) -> ReplayResult:
    """Replay a pollwise trace and compare every decision and the outcome.

    Args:
        trace: a trace whose decisions are pollwise's (not an import).
        tolerance: how far a replayed send time may be from the recorded one.
    """
    records = replayed_trace(trace)
    replay = trace_from_records(records, path="<replay>")
    compare = _Comparer(tolerance)
    divergence: Divergence | None = None
    for where, line, recorded, replayed in _pairs(trace, replay):
        compare.found = []
        if isinstance(recorded, BeginRecord) and isinstance(replayed, BeginRecord):
            _compare_begin(compare, recorded, replayed)
        elif isinstance(recorded, StepRecord) and isinstance(replayed, StepRecord):
            _compare_step(compare, recorded, replayed)
        if compare.found:
            divergence = Divergence(
                where, line, tuple(compare.found), recorded, replayed
            )
            break
    notes: list[str] = list(trace.warnings)
    if divergence is None:
        divergence = _compare_tail(trace, replay, compare)
    if trace.end is None:
        notes.append(
            f"the trace has no end record: the recording stopped after poll "
            f"{len(trace.steps)}, and only that much was compared"
        )
    return ReplayResult(
        path=trace.path,
        polls=len(trace.steps),
        divergence=divergence,
        replayed=records,
        max_send_drift=compare.drift,
        tolerance=tolerance,
        notes=tuple(notes),
    )


def _compare_tail(trace: Trace, replay: Trace, compare: _Comparer) -> Divergence | None:
    if trace.end is None:
        if len(replay.steps) < len(trace.steps):
            return Divergence(
                "polls",
                None,
                (Mismatch("polls", len(trace.steps), len(replay.steps)),),
                None,
                replay.end,
            )
        return None
    if len(trace.steps) != len(replay.steps):
        return Divergence(
            "polls",
            trace.lines.get("end"),
            (Mismatch("polls", len(trace.steps), len(replay.steps)),),
            trace.end,
            replay.end,
        )
    assert replay.end is not None
    compare.found = []
    _compare_end(compare, trace.end, replay.end)
    if compare.found:
        return Divergence(
            "end", trace.lines.get("end"), tuple(compare.found), trace.end, replay.end
        )
    return None


# -- telling -----------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _describe(record: Record | None) -> str:
    if isinstance(record, StepRecord):
        e = record.exchange
        what = (
            f"HTTP {e.http_status}"
            if e.http_status is not None
            else (e.transport or "no answer")
        )
        status = f" status {e.body.status!r}" if e.body.kind == "json" else ""
        return (
            f"sent {_show(e.sent)}, answered {_show(e.answered)}, {what} "
            f"({e.answer}){status}, hint {_show(e.hint)}"
        )
    if isinstance(record, EndRecord):
        return (
            f"{record.outcome} at {_show(record.at)} ({record.reason}: {record.detail})"
        )
    if isinstance(record, BeginRecord):
        return f"begin, then {record.state_after}"
    return ""


def format_divergence(result: ReplayResult) -> list[str]:
    """The first divergence as a readable table of lines."""
    divergence = result.divergence
    if divergence is None:
        return []
    where = f" (line {divergence.line} of the trace)" if divergence.line else ""
    lines = [f"{result.path}: the replay diverged at {divergence.where}{where}"]
    rows = [("field", "recorded", "replayed")]
    rows += [
        (m.field, _show(m.recorded), _show(m.replayed)) for m in divergence.mismatches
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        lines.append(
            "  "
            + "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )
    if divergence.recorded is not None:
        lines.append(f"  recorded: {_describe(divergence.recorded)}")
    if divergence.replayed is not None:
        lines.append(f"  replayed: {_describe(divergence.replayed)}")
    return lines


def summary_line(result: ReplayResult, trace: Trace) -> str:
    """The one line ``replay`` prints when every decision was identical."""
    end = trace.end
    ending = (
        f"{end.outcome} at {end.at:g}s ({end.reason})" if end is not None else "no end"
    )
    return (
        f"{result.path}: identical: {result.polls} polls, every decision and the "
        f"outcome ({ending}); send times within {result.max_send_drift:.3g}s of the "
        f"recording (tolerance {result.tolerance:g}s)"
    )


def steps_of(records: Sequence[Record]) -> list[StepRecord]:
    """The step records among ``records``."""
    return [r for r in records if isinstance(r, StepRecord)]
