"""What if the session had run with another policy?

``pollwise replay FILE --policy field=value ...`` rebuilds the server's
timeline from the recording (:mod:`pollwise.adapters.server_timeline`),
runs pollwise with the other policy against it on a fake clock (the fake
API of ``simulate``), and sets the two sessions side by side: requests,
failed polls, the outcome, when each message, each move of the status and
the job's completion were seen, and how long after they happened. For an
imported recording the recorded session is the other client's, and
pollwise runs with its default policy unless told otherwise.

Every figure a recording cannot pin down is shown as a range and said to
be a bound (see :func:`format_comparison`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

from .clocks import FakeClock
from .scripted_api import ScriptedApi
from .server_timeline import Event, ServerTimeline, message_key, rebuild_timeline
from .trace import EndRecord, StepRecord, Trace, trace_from_records
from .trace_recorder import MemorySink, TraceRecorder

__all__ = [
    "Comparison",
    "SessionFigures",
    "compare_policies",
    "format_comparison",
    "policy_changes",
    "run_policy",
    "session_figures",
]

#: A change that happened at t is seen by a poll sent at t or later.
_EPSILON: Final = 1e-9
#: Messages shown one by one; the rest are summed up.
_MAX_MESSAGES: Final = 8


@attrs.frozen(kw_only=True)
class SessionFigures:
    """One session, as the comparison sees it."""

    label: str
    requests: int
    failed: int
    outcome: str
    reason: str
    ended_at: float
    #: per timeline event: when the session saw it (an answer time), or None
    seen: tuple[float | None, ...]
    first_sent: float | None
    last_sent: float | None


@attrs.frozen(kw_only=True)
class Comparison:
    """A recorded session and pollwise's run on the same rebuilt timeline."""

    trace: Trace
    timeline: ServerTimeline
    policy: Policy
    recorded: SessionFigures
    candidate: SessionFigures


def _listed(step: StepRecord, key: tuple[str, str]) -> bool:
    body = step.exchange.body
    if step.exchange.answer != "readable" or body.kind != "json":
        return False
    return any(
        message_key(m.id, position) == key for position, m in enumerate(body.messages)
    )


def _matches(step: StepRecord, match: tuple[str, Any]) -> bool:
    kind, value = match
    exchange = step.exchange
    if kind == "http":
        return bool(exchange.http_status == value)
    return bool(
        exchange.answer == "readable"
        and exchange.body.kind == "json"
        and exchange.body.status == value
    )


def _seen(steps: Sequence[StepRecord], event: Event) -> float | None:
    if event.kind == "message":
        step = next((s for s in steps if _listed(s, event.match)), None)
        return None if step is None else step.exchange.answered
    after = [
        s
        for s in steps
        if s.exchange.answer != "abandoned"
        and (s.exchange.sent or 0.0) >= event.latest - _EPSILON
        and (s.exchange.answer == "readable" or event.match[0] == "http")
    ]
    if after and _matches(after[0], event.match):
        return after[0].exchange.answered
    return None


def session_figures(
    label: str,
    steps: Sequence[StepRecord],
    end: EndRecord | None,
    events: Sequence[Event],
) -> SessionFigures:
    """What one session's steps show of each timeline event."""
    sent = [s.exchange.sent for s in steps if s.exchange.sent is not None]
    return SessionFigures(
        label=label,
        requests=len(steps),
        failed=sum(1 for s in steps if s.exchange.answer in ("failed", "fatal")),
        outcome=end.outcome if end is not None else "unknown",
        reason=end.reason if end is not None else "the recording stops",
        ended_at=end.at if end is not None else max(sent, default=0.0),
        seen=tuple(_seen(steps, e) for e in events),
        first_sent=min(sent, default=None),
        last_sent=max(sent, default=None),
    )


def run_policy(timeline: ServerTimeline, policy: Policy) -> Trace:
    """Run pollwise with ``policy`` against a rebuilt timeline; its trace."""
    clock = FakeClock(start=0.0, wall_start=timeline.wall)
    session = Session(clock, policy, timeline.profile, history=timeline.history)
    sink = MemorySink()
    recorder = TraceRecorder.attach(
        session, sink, history=timeline.history, trigger=timeline.has_trigger
    )
    api = ScriptedApi(timeline.entries, clock, trigger=timeline.trigger, origin=0.0)
    run_sync(session, recorder.wrap(api), trigger=timeline.has_trigger)
    return trace_from_records(sink.records, "<what-if>")


def policy_changes(policy: Policy, base: Policy) -> dict[str, Any]:
    """The fields of ``policy`` that differ from ``base``.

    Every field is compared, including those :meth:`Policy.to_mapping`
    leaves out at their defaults (``mode`` back to ``"backoff"`` is a change).
    """
    mine, theirs = attrs.asdict(policy), attrs.asdict(base)
    return {k: v for k, v in mine.items() if theirs[k] != v}


def compare_policies(trace: Trace, policy: Policy | None = None) -> Comparison:
    """Set a recorded session beside pollwise's run with ``policy``.

    Args:
        trace: a pollwise trace or an imported recording.
        policy: the policy to try; the recorded one (pollwise default for
            an import) when None.
    """
    timeline = rebuild_timeline(trace)
    chosen = policy if policy is not None else timeline.policy
    run = run_policy(timeline, chosen)
    recorded_label = (
        "recorded (another client)" if trace.is_imported else "recorded (pollwise)"
    )
    changes = policy_changes(chosen, Policy() if trace.is_imported else timeline.policy)
    what = ", ".join(f"{k}={_value(v)}" for k, v in changes.items())
    if not what:
        what = "default policy" if trace.is_imported else "the recorded policy"
    events = timeline.events
    return Comparison(
        trace=trace,
        timeline=timeline,
        policy=chosen,
        recorded=session_figures(recorded_label, trace.steps, trace.end, events),
        candidate=session_figures(f"pollwise ({what})", run.steps, run.end, events),
    )


# -- telling -------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seconds(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "s"


def _lag(event: Event, seen: float | None) -> str:
    if seen is None:
        return "not seen"
    if event.exact:
        return f"{_seconds(seen)} (+{_seconds(seen - event.latest)})"
    low, high = seen - event.latest, seen - event.earliest
    return f"{_seconds(seen)} (+{_seconds(max(0.0, low))} to +{_seconds(high)})"


def _outcome(figures: SessionFigures) -> str:
    return f"{figures.outcome} at {_seconds(figures.ended_at)} ({figures.reason})"


def _event_rows(comparison: Comparison) -> list[tuple[str, str, str]]:
    rows = []
    events = comparison.timeline.events
    recorded, candidate = comparison.recorded, comparison.candidate
    messages = [i for i, e in enumerate(events) if e.kind == "message"]
    shown = set(messages[:_MAX_MESSAGES])
    for index, event in enumerate(events):
        if event.kind == "message" and index not in shown:
            continue
        name = (
            f"message {event.label} seen"
            if event.kind == "message"
            else f"{event.label} seen"
        )
        rows.append(
            (
                name,
                _lag(event, recorded.seen[index]),
                _lag(event, candidate.seen[index]),
            )
        )
    rest = messages[_MAX_MESSAGES:]
    if rest:
        rows.append(
            (
                f"{len(rest)} more messages, mean lag",
                _mean_lag(events, recorded.seen, rest),
                _mean_lag(events, candidate.seen, rest),
            )
        )
    return rows


def _mean_lag(
    events: Sequence[Event], seen: Sequence[float | None], indices: Sequence[int]
) -> str:
    lags = [seen[i] - events[i].latest for i in indices if seen[i] is not None]  # type: ignore[operator]
    missing = len(indices) - len(lags)
    text = f"+{_seconds(sum(lags) / len(lags))}" if lags else "none seen"
    return text + (f", {missing} not seen" if missing else "")


def _notes(comparison: Comparison) -> list[str]:
    timeline, candidate = comparison.timeline, comparison.candidate
    header = comparison.trace.header
    notes = [
        "The server is rebuilt from the recording: an answer seen at t holds "
        "from t; a message is there from its created_at, else from when it "
        "was first seen."
    ]
    if any(not e.exact for e in timeline.events):
        notes.append(
            "Figures 'a to b' are bounds: without created_at, a change is only "
            "known to lie between the last poll that missed it and the first "
            "that saw it, so its lag is at least a and at most b. No policy can "
            "see it here before the recorded poll that first saw it, so the "
            "pollwise figures are upper bounds for a policy that polls more often."
        )
    if candidate.first_sent is not None and candidate.first_sent < timeline.first_poll:
        taken = (
            "as the first recorded one (messages from their own times)"
            if timeline.first_answer_holds
            else "as empty 200s (no news)"
        )
        notes.append(
            f"pollwise polled before the first recorded poll "
            f"({_seconds(timeline.first_poll)}): the server's answers then are "
            f"not in the recording and are taken {taken}."
        )
    if (
        candidate.last_sent is not None
        and candidate.last_sent > timeline.recorded_until
    ):
        notes.append(
            f"pollwise polled after the recording ends "
            f"({_seconds(timeline.recorded_until)}): the server is assumed to "
            "keep its last recorded answer."
        )
    timing: Mapping[str, Any] = header.timing
    if comparison.trace.is_imported:
        assumed = " (an ASSUMPTION)" if timing.get("assumed") else ""
        notes.append(f"Times: {timing.get('note', '')}{assumed}.")
        notes.append(
            "The other client's policy is not in the recording; its figures "
            "are what it did."
        )
    return notes


def format_comparison(comparison: Comparison) -> list[str]:
    """The two sessions side by side, then what the figures can't know."""
    trace = comparison.trace
    source = trace.header.source
    if trace.is_imported:
        title = (
            f"{trace.path}: session {source.get('session', 1)} imported from "
            f"{source.get('format', '?')}, {source.get('poll', '')}"
        )
    else:
        title = f"{trace.path}: what if"
    recorded, candidate = comparison.recorded, comparison.candidate
    rows = [
        ("", recorded.label, candidate.label),
        ("requests", str(recorded.requests), str(candidate.requests)),
        ("failed polls", str(recorded.failed), str(candidate.failed)),
        ("outcome", _outcome(recorded), _outcome(candidate)),
    ]
    rows += _event_rows(comparison)
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [title]
    for first, second, third in rows:
        lines.append(
            f"  {first.ljust(widths[0])}  {second.ljust(widths[1])}  {third}".rstrip()
        )
    lines.append("")
    lines.extend(f"note: {text}" for text in _notes(comparison))
    return lines
