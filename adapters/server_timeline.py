"""The server's side of a recorded session, rebuilt as a timeline.

A recording shows the server only at the moments it was asked. To run
another policy against it, the timeline is rebuilt with two rules:

- an answer seen at t holds from t (its send time) until the next one;
- a message is available from its ``created_at`` when the body has one
  (never later than it was first seen), else from the first time it was
  seen.

Before the first recorded poll, its answer is assumed to hold (unless it
already shows the job finished: then an empty 200, "no news", stands in).
After the last one, the last answer is assumed to hold. A change seen
without ``created_at`` (a new message, a status moving to its next phase,
the job finishing) is known only to lie between the last poll that did
not see it and the first that did: :class:`Event` keeps both ends, so
every figure computed from it can say it is a bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import attrs

from pollwise.engine.answers import canonical
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile, StatusKind

from .recording import parse_timestamp
from .scenario import BackendEntry
from .trace import StepRecord, Trace, json_line
from .trace_body import canonical_profile, entry_from_exchange

__all__ = ["Event", "ServerTimeline", "message_key", "rebuild_timeline"]

_DEFAULT_WALL: Final = 1767225600.0


def message_key(message_id: Any, position: int) -> tuple[str, str]:
    """A message's identity, as the engine keys it (id, or position)."""
    if message_id is None:
        return ("position", str(position))
    return ("id", canonical(message_id))


@attrs.frozen(kw_only=True)
class Event:
    """Something that became visible on the server at a moment in between.

    Attributes:
        kind: "message", "phase" (the status moved) or "completion".
        label: how it is shown (a message id, a status value).
        match: what identifies it in an answer (a message key, a status).
        earliest: it was not yet there then (the last poll that missed it).
        latest: it was there by then (the timeline shows it from here).
        exact: known exactly (a ``created_at``): earliest == latest.
    """

    kind: str
    label: str
    match: Any
    earliest: float
    latest: float
    exact: bool


@attrs.frozen(kw_only=True)
class ServerTimeline:
    """A recorded session's server, as the fake API's timeline."""

    entries: tuple[BackendEntry, ...]
    trigger: BackendEntry | None
    has_trigger: bool
    #: the recorded profile's lists on canonical paths
    profile: Profile
    #: the recorded policy (a default one for an import)
    policy: Policy
    history: tuple[Any, ...]
    wall: float
    events: tuple[Event, ...]
    #: send time of the first recorded poll, and answer time of the last
    first_poll: float
    recorded_until: float
    #: whether the first recorded answer stands in for the time before it
    first_answer_holds: bool = False


def _readable(step: StepRecord) -> bool:
    return step.exchange.answer == "readable" and step.exchange.body.kind == "json"


def _message_events(
    steps: Sequence[StepRecord], wall: float | None, history: set[tuple[str, str]]
) -> tuple[list[Event], dict[tuple[str, str], tuple[Any, float]]]:
    """Every message: when it is available, and its id, in first-seen order."""
    events: list[Event] = []
    known: dict[tuple[str, str], tuple[Any, float]] = {}
    previous = 0.0
    for step in steps:
        sent = step.exchange.sent or 0.0
        if _readable(step):
            for position, message in enumerate(step.exchange.body.messages):
                key = message_key(message.id, position)
                if key in known:
                    continue
                created = parse_timestamp(message.created_at)
                if created is not None and wall is not None:
                    at = min(max(created - wall, 0.0), sent)
                    earliest, exact = at, True
                else:
                    at, earliest, exact = sent, previous, False
                known[key] = (message.id, at)
                if key not in history:
                    label = message.id if message.id is not None else f"#{position}"
                    events.append(
                        Event(
                            kind="message",
                            label=str(label),
                            match=key,
                            earliest=earliest,
                            latest=at,
                            exact=exact,
                        )
                    )
            # Only a readable answer shows what was not there yet.
            previous = sent
    return events, known


def _status_events(
    steps: Sequence[StepRecord], profile: Profile, gone_at: int | None
) -> list[Event]:
    """Each move of the status to another value, and the job finishing."""
    events: list[Event] = []
    last: Any = None
    seen_any = False
    previous = 0.0
    # A server that answered at all without saying "finished" was not
    # finished then (a 503 "not yet available" says so): the completion is
    # bounded by any earlier HTTP answer, a phase only by a readable one.
    answered_before = 0.0
    for step in steps:
        sent = step.exchange.sent or 0.0
        if _readable(step) and step.exchange.body.status is not None:
            status = step.exchange.body.status
            if profile.status_kind(status) in (StatusKind.DONE, StatusKind.FAILED):
                events.append(
                    Event(
                        kind="completion",
                        label=f"completion ({status})",
                        match=("status", status),
                        earliest=answered_before,
                        latest=sent,
                        exact=False,
                    )
                )
                return events
            if seen_any and status != last:
                events.append(
                    Event(
                        kind="phase",
                        label=f"status {status}",
                        match=("status", status),
                        earliest=previous,
                        latest=sent,
                        exact=False,
                    )
                )
            last, seen_any = status, True
            previous = sent
        if step.exchange.http_status is not None:
            answered_before = sent
    if gone_at is not None:
        # A 404 or 410 after a DELETE: the client was done (see import_trace).
        step = steps[gone_at]
        events.append(
            Event(
                kind="completion",
                label=f"completion (HTTP {step.exchange.http_status})",
                match=("http", step.exchange.http_status),
                earliest=steps[gone_at - 1].exchange.sent or 0.0 if gone_at else 0.0,
                latest=step.exchange.sent or 0.0,
                exact=False,
            )
        )
    return events


def _is_final(step: StepRecord, profile: Profile) -> bool:
    exchange = step.exchange
    if exchange.answer == "fatal":
        return True
    return _readable(step) and profile.status_kind(exchange.body.status) in (
        StatusKind.DONE,
        StatusKind.FAILED,
    )


def _body(
    status: Any, messages: list[tuple[Any, float]], progress: Any, at: float
) -> bytes:
    document: dict[str, Any] = {
        "messages": [{} if i is None else {"id": i} for i, t in messages if t <= at]
    }
    if status is not None:
        document["status"] = status
    if progress is not None:
        document["progress"] = progress
    return json_line(document, ensure_ascii=True).encode()


def rebuild_timeline(trace: Trace) -> ServerTimeline:
    """The server of a recorded (or imported) session, as a timeline."""
    header = trace.header
    recorded_profile = header.build_profile()
    profile = canonical_profile(recorded_profile)
    begin = trace.begin
    wall = begin.wall if begin is not None else None
    steps = [s for s in trace.steps if s.exchange.answer != "abandoned"]
    history = {
        message_key(i, 0) for i in header.history
    }  # history ids are never positions
    events, known = _message_events(steps, wall, history)
    gone_at = None
    end = trace.end
    if end is not None and end.outcome == "done" and steps:
        gone_at = len(steps) - 1 if steps[-1].exchange.answer == "fatal" else None
    events += _status_events(steps, profile, gone_at)
    messages = list(known.values())
    # Before the first recorded poll, the server is taken to answer as it
    # did then (messages still from their own times), unless that answer
    # already ended the job: then nothing is known and it says "no news".
    early = steps[0] if steps and not _is_final(steps[0], profile) else None
    times = {s.exchange.sent or 0.0 for s in steps} | {t for _, t in messages}
    if early is not None:
        times.add(0.0)
    entries: list[BackendEntry] = []
    for at in sorted(times):
        base = early
        for step in steps:
            if (step.exchange.sent or 0.0) <= at:
                base = step
        if base is None:
            entries.append(BackendEntry(at=at, body=_body(None, messages, None, at)))
            continue
        exchange = base.exchange
        latency = max(0.0, (exchange.answered or 0.0) - (exchange.sent or 0.0))
        entry = entry_from_exchange(exchange, at=at, latency=latency)
        if _readable(base):
            body = exchange.body
            entry = attrs.evolve(
                entry, body=_body(body.status, messages, body.progress, at)
            )
        entries.append(entry)
    trigger = None
    if begin is not None and begin.trigger is not None:
        trigger = entry_from_exchange(begin.trigger, default_status=202)
    first = steps[0].exchange.sent or 0.0 if steps else 0.0
    last = max((s.exchange.answered or 0.0 for s in steps), default=0.0)
    return ServerTimeline(
        entries=tuple(entries),
        trigger=trigger,
        has_trigger=header.trigger,
        profile=profile,
        policy=header.build_policy(),
        history=tuple(header.history),
        wall=wall if wall is not None else _DEFAULT_WALL,
        events=tuple(events),
        first_poll=first,
        recorded_until=last,
        first_answer_holds=early is not None,
    )
