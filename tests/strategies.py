"""Shared hypothesis strategies, test doubles and a tiny model of the contract.

Three things live here because several test modules need them:

- strategies for policies (arbitrary floats, or values on a grid of quarter
  seconds where float arithmetic is exact), for replies and for backend
  timelines;
- :class:`ReplySpec`, one scripted answer together with what the contract
  says about it (readable, failed or fatal; its status, messages, progress
  value and hint), so that a test never has to ask the engine how to read
  the answer it made up;
- :class:`ContractModel`, an independent re-implementation of the contract
  in exact rational arithmetic (n, consecutive errors, last progress, the
  send-time formula and the stop rules in order), driven step by step.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import math
import threading
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any, Final, Literal, TypeVar

import attrs
from hypothesis import strategies as st

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry, Scenario
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.engine.answers import (
    FailureKind,
    Message,
    Reply,
    Response,
    TransportFailure,
)
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.policy import JITTER_KINDS, Policy
from pollwise.engine.profile import Profile
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

_T = TypeVar("_T")

#: the wall clock at t = 0 in every fake run (the scenarios' default)
WALL: Final = 1767225600

# The reference statuses, copied from the contract (not from the engine).
RUNNING: Final = ("generating", "queued", "pending", "running", "in_progress")
DONE: Final = ("complete", "completed", "done", "succeeded", "idle")
FAILED: Final = ("failed", "error", "cancelled", "canceled", "expired")

#: an id that only ever appears in failed or fatal answers: never delivered
POISON: Final = "never-read"


def http_date(moment: int) -> str:
    """An IMF-fixdate for whole seconds since the epoch."""
    return email.utils.formatdate(moment, usegmt=True)


def quarters(low: float, high: float) -> st.SearchStrategy[float]:
    """Multiples of 1/4 from ``low`` to ``high``: float sums of them are exact."""
    return st.integers(math.ceil(low * 4), math.floor(high * 4)).map(lambda k: k / 4)


# -- policies -----------------------------------------------------------------


@st.composite
def policies(
    draw: st.DrawFn,
    *,
    min_initial: float = 0.0,
    max_initial: float = 1e6,
    max_multiplier: float = 1e6,
    max_timeout: float = 1e6,
    jitters: Sequence[str] = JITTER_KINDS,
) -> Policy:
    """Any valid policy, with arbitrary floats in the given ranges."""
    initial = draw(st.floats(min_initial, max_initial))
    return Policy(
        initial_delay=initial,
        max_delay=draw(st.floats(initial, max(initial, max_initial * 10))),
        multiplier=draw(st.floats(1.0, max_multiplier)),
        jitter=draw(st.sampled_from(jitters)),
        seed=draw(st.integers(0, 2**32)),
        timeout=draw(st.floats(1e-3, max_timeout)),
        stall_after=draw(st.none() | st.floats(1e-3, max_timeout)),
        max_polls=draw(st.none() | st.integers(1, 1000)),
        reset_on_progress=draw(st.booleans()),
        max_consecutive_errors=draw(st.integers(1, 20)),
        max_retry_after=draw(st.floats(0.0, 1e4)),
        request_timeout=draw(st.floats(0.0, 1e3)),
    )


@st.composite
def session_policies(
    draw: st.DrawFn, *, jitters: Sequence[str] = JITTER_KINDS
) -> Policy:
    """Policies of a size a session test can run (at most a few hundred polls)."""
    initial = draw(weighted((3, st.floats(0.5, 3.0)), (1, st.floats(3.0, 10.0))))
    timeout = draw(weighted((1, st.floats(0.5, 10.0)), (3, st.floats(10.0, 120.0))))
    return Policy(
        initial_delay=initial,
        max_delay=draw(st.floats(initial, initial * 20)),
        multiplier=draw(st.floats(1.0, 4.0)),
        jitter=draw(st.sampled_from(jitters)),
        seed=draw(st.integers(0, 2**32)),
        timeout=timeout,
        stall_after=draw(st.none() | st.floats(0.1, 60.0)),
        max_polls=draw(st.none() | st.integers(1, 40)),
        reset_on_progress=draw(st.booleans()),
        max_consecutive_errors=draw(weighted((1, st.just(1)), (3, st.integers(2, 8)))),
        max_retry_after=draw(st.floats(0.0, 30.0)),
        request_timeout=draw(
            weighted((1, st.floats(0.0, 15.0)), (3, st.floats(5.0, 15.0)))
        ),
    )


@st.composite
def grid_policies(draw: st.DrawFn) -> Policy:
    """Un-jittered policies on the quarter-second grid (exact float arithmetic)."""
    initial = draw(st.sampled_from([0.25, 0.5, 1.0, 2.0]))
    return Policy(
        initial_delay=initial,
        max_delay=initial * draw(st.sampled_from([1, 2, 4, 8, 16])),
        multiplier=draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])),
        timeout=draw(weighted((1, quarters(0.25, 8)), (4, quarters(8, 48)))),
        stall_after=draw(st.none() | quarters(0.25, 40)),
        max_polls=draw(st.none() | st.integers(1, 30)),
        reset_on_progress=draw(st.booleans()),
        max_consecutive_errors=draw(weighted((1, st.just(1)), (3, st.integers(2, 6)))),
        max_retry_after=draw(quarters(0, 20)),
        request_timeout=draw(weighted((1, quarters(0, 12)), (3, quarters(4, 12)))),
    )


# -- replies --------------------------------------------------------------------


@attrs.frozen
class HintSpec:
    """Hint headers, and the hint the contract reads from them (unclamped)."""

    headers: tuple[tuple[str, str], ...] = ()
    #: a fixed hint in seconds (None: no hint, unless ``date`` is set)
    seconds: Fraction | None = None
    #: an HTTP-date without a Date header: measured against the wall clock
    date: int | None = None

    def value(self, wall: Fraction) -> Fraction | None:
        """The hint for an answer that arrived when the wall clock read ``wall``."""
        if self.date is not None:
            return max(Fraction(0), self.date - wall)
        return self.seconds


NO_HINT: Final = HintSpec()


@attrs.frozen
class ReplySpec:
    """One scripted answer and what the contract says it is."""

    #: "readable", "failed" or "fatal"
    kind: str
    http_status: int = 200
    content: bytes = b""
    error: FailureKind | None = None
    #: readable only: the status value found (None: absent)
    status: Any = None
    #: readable only: the messages, as listed
    messages: tuple[Any, ...] = ()
    #: readable only: the value at progress_path (None: nothing found)
    progress: Any = None
    hint: HintSpec = NO_HINT
    latency: float = 0.0

    def reply(self) -> Reply:
        """The reply an API port returns for this answer."""
        if self.error is not None:
            return TransportFailure(self.error, "scripted")
        return Response(self.http_status, self.hint.headers, self.content)

    def entry(self, at: float) -> BackendEntry:
        """This answer as a scenario backend entry from ``at`` on."""
        return BackendEntry(
            at=at,
            http_status=self.http_status,
            headers=self.hint.headers,
            body=self.content,
            error=self.error,
            latency=self.latency,
        )


def _encode(document: Any) -> bytes:
    return json.dumps(document).encode()


_DIGITS: Final = ("0", "1", "2", "3", "0.5", "2.25", "7", "30", "100")
_MILLIS: Final = ("0", "250", "500", "1500", "2000", "12000", "90000")
_GARBAGE: Final = ("soon", "-1", "1e1", "+3", "NaN", "", "2 s")


def weighted(*choices: tuple[int, st.SearchStrategy[_T]]) -> st.SearchStrategy[_T]:
    """One of the strategies, each drawn about as often as its weight says.

    (``st.one_of`` spreads over distinct branches, whatever their number of
    copies, so weights need a draw of their own.) Shrinks to the first.
    """
    live = tuple((weight, strategy) for weight, strategy in choices if weight > 0)
    index = st.integers(0, sum(weight for weight, _ in live) - 1)
    return _pick(index, live)


@st.composite
def _pick(
    draw: st.DrawFn,
    index: st.SearchStrategy[int],
    choices: tuple[tuple[int, st.SearchStrategy[_T]], ...],
) -> _T:
    left = draw(index)
    for weight, strategy in choices:
        if left < weight:
            return draw(strategy)
        left -= weight
    raise AssertionError("unreachable")


_DIGIT_HINTS: Final = st.sampled_from(_DIGITS)
_MILLI_HINTS: Final = st.sampled_from(_MILLIS)
_GARBAGE_HINTS: Final = st.sampled_from(_GARBAGE)

_SOME_HINT: Final = st.one_of(
    _DIGIT_HINTS.map(lambda d: HintSpec((("Retry-After", d),), Fraction(d))),
    _MILLI_HINTS.map(lambda m: HintSpec((("retry-after-ms", m),), Fraction(m) / 1000)),
    st.tuples(_MILLI_HINTS, _DIGIT_HINTS).map(
        lambda md: HintSpec(
            (("retry-after-ms", md[0]), ("Retry-After", md[1])),
            Fraction(md[0]) / 1000,
        )
    ),
    st.tuples(_GARBAGE_HINTS, _DIGIT_HINTS).map(
        lambda gd: HintSpec(
            (("retry-after-ms", gd[0]), ("Retry-After", gd[1])), Fraction(gd[1])
        )
    ),
    _GARBAGE_HINTS.map(lambda g: HintSpec((("Retry-After", g),))),
    st.integers(-5, 40).map(
        lambda k: HintSpec(
            (
                ("Retry-After", http_date(WALL + 5000 + k)),
                ("Date", http_date(WALL + 5000)),
            ),
            Fraction(max(k, 0)),
        )
    ),
    st.integers(-5, 60).map(
        lambda k: HintSpec((("Retry-After", http_date(WALL + k)),), date=WALL + k)
    ),
)

#: hint headers of every kind the contract names, with their meaning; most
#: answers carry none
HINTS: Final = weighted((8, st.just(NO_HINT)), (1, _SOME_HINT))

#: ids drawn from a small alphabet (with 7 and "7" both in it); None: no id
MESSAGE_IDS: Final = ("a", "b", "c", "d", 7, "7", None)


def _message(message_id: Any) -> dict[str, Any]:
    if message_id is None:
        return {"role": "assistant", "content": "no id"}
    return {"id": message_id, "role": "assistant", "content": f"{message_id!r}"}


_RUNNING_LIKE: Final = (*RUNNING, "Running", "GENERATING", None, "provisioning")
_FINISHED: Final = (*DONE, *FAILED, "Succeeded", "COMPLETE", "FAILED", "Expired")
_STILL_RUNNING: Final = st.sampled_from(_RUNNING_LIKE)
_ENDING: Final = st.sampled_from(_FINISHED)
_MESSAGE_LISTS: Final = st.lists(st.sampled_from(MESSAGE_IDS), max_size=5)
_PROGRESS_VALUES: Final = st.none() | st.sampled_from([0, 1, 2, "x", "y", [1, 2]])
_OK_STATUSES: Final = st.sampled_from([200, 201, 203])


@functools.cache
def readable_json(finished_weight: int = 1) -> st.SearchStrategy[ReplySpec]:
    """2xx JSON conversation snapshots; final statuses weigh ``finished_weight``
    against 12 parts in progress (or absent, or unknown)."""
    statuses = weighted((12, _STILL_RUNNING), (finished_weight, _ENDING))
    return _readable_json(statuses)


@st.composite
def _readable_json(draw: st.DrawFn, statuses: st.SearchStrategy[Any]) -> ReplySpec:
    status = draw(statuses)
    messages = tuple(_message(i) for i in draw(_MESSAGE_LISTS))
    progress = draw(_PROGRESS_VALUES)
    show_null_status: bool = draw(st.booleans())
    show_empty_messages: bool = draw(st.booleans())
    document: dict[str, Any] = {"id": "conv"}
    if status is not None or show_null_status:
        document["status"] = status
    if messages or show_empty_messages:
        document["messages"] = list(messages)
    if progress is not None:
        document["progress"] = progress
    return ReplySpec(
        kind="readable",
        http_status=draw(_OK_STATUSES),
        content=_encode(document),
        status=status,
        messages=messages,
        progress=progress,
    )


_SCRIPTED_FAILURES: Final = (
    FailureKind.CONNECT,
    FailureKind.RESET,
    FailureKind.TIMEOUT,
)

_COMPLETE_BODY: Final = _encode(
    {"status": "complete", "messages": [{"id": POISON}], "progress": 99}
)

#: empty, blank, 204 and 304 answers: readable, with nothing in them
NO_NEWS: Final = st.sampled_from(
    [
        ReplySpec(kind="readable", http_status=200, content=b""),
        ReplySpec(kind="readable", http_status=200, content=b" \r\n\t"),
        ReplySpec(kind="readable", http_status=204),
        ReplySpec(kind="readable", http_status=304),
    ]
)

#: answers that failed: their bodies claim completion, and must not be read
FAILED_ANSWERS: Final = st.one_of(
    st.sampled_from([500, 502, 503, 408, 425, 429]).map(
        lambda code: ReplySpec(kind="failed", http_status=code, content=_COMPLETE_BODY)
    ),
    st.sampled_from(
        [
            b"<html>upstream error</html>",
            b'{"status": "gener',
            b'{"status": "complete", "messages": [{"id": NaN}]}',
            _encode({"status": "complete", "messages": {"id": POISON}}),
        ]
    ).map(lambda content: ReplySpec(kind="failed", content=content)),
    st.sampled_from(_SCRIPTED_FAILURES).map(
        lambda kind: ReplySpec(kind="failed", http_status=0, error=kind)
    ),
)

#: answers no retry can fix
FATAL_ANSWERS: Final = st.sampled_from([404, 400, 410, 301, 101, 418]).map(
    lambda code: ReplySpec(kind="fatal", http_status=code, content=_COMPLETE_BODY)
)

_NO_LATENCY: Final = st.just(0.0)


@functools.cache
def reply_specs(
    *,
    latencies: st.SearchStrategy[float] = _NO_LATENCY,
    readable: int = 8,
    failed: int = 2,
    fatal: int = 1,
    finished_weight: int = 1,
) -> st.SearchStrategy[ReplySpec]:
    """Any answer, with an optional hint and a latency.

    The weights set how often each kind comes up, against two parts of
    no-news answers.
    """
    kinds = weighted(
        (readable, readable_json(finished_weight)),
        (2, NO_NEWS),
        (failed, FAILED_ANSWERS),
        (fatal, FATAL_ANSWERS),
    )
    return _with_hint_and_latency(kinds, latencies)


@st.composite
def _with_hint_and_latency(
    draw: st.DrawFn,
    kinds: st.SearchStrategy[ReplySpec],
    latencies: st.SearchStrategy[float],
) -> ReplySpec:
    spec = draw(kinds)
    hint = draw(HINTS) if spec.error is None else NO_HINT
    return attrs.evolve(spec, hint=hint, latency=draw(latencies))


GRID_LATENCIES: Final = st.sampled_from([0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 3.0, 20.0])

_TRIGGER_CHOICES: Final = st.sampled_from(["none"] * 4 + ["ok"] * 3 + ["failed"])
_TRIGGER_OK: Final = st.sampled_from([200, 201, 202, 204])
_TRIGGER_FAILURES: Final = st.sampled_from(
    [
        ReplySpec(kind="failed", http_status=500),
        ReplySpec(kind="failed", http_status=404),
        ReplySpec(kind="failed", http_status=304),
        ReplySpec(kind="failed", http_status=0, error=FailureKind.CONNECT),
    ]
)


@st.composite
def trigger_specs(draw: st.DrawFn) -> ReplySpec | None:
    """The trigger's answer: None (a plain 202), a 2xx with a hint, or a failure."""
    choice = draw(_TRIGGER_CHOICES)
    if choice == "none":
        return None
    if choice == "ok":
        status = draw(_TRIGGER_OK)
        return ReplySpec(kind="readable", http_status=status, hint=draw(HINTS))
    failed = draw(_TRIGGER_FAILURES)
    return attrs.evolve(failed, hint=draw(HINTS) if failed.error is None else NO_HINT)


@st.composite
def timelines(
    draw: st.DrawFn,
    until: float,
    *,
    times: st.SearchStrategy[float] | None = None,
    latencies: st.SearchStrategy[float] = GRID_LATENCIES,
    max_size: int = 8,
) -> tuple[tuple[float, ReplySpec], ...]:
    """A backend timeline: an entry at 0, then entries at (maybe equal) times."""
    at = times if times is not None else quarters(0, until + 1)
    first = draw(readable_json(finished_weight=0))
    rest = draw(
        st.lists(st.tuples(at, reply_specs(latencies=latencies)), max_size=max_size)
    )
    return ((0.0, first), *rest)


def history_ids() -> st.SearchStrategy[tuple[Any, ...]]:
    """Ids known before the trigger."""
    return st.lists(
        st.sampled_from([i for i in MESSAGE_IDS if i is not None]),
        max_size=2,
        unique_by=lambda i: json.dumps(i),
    ).map(tuple)


def entry_for(timeline: Sequence[tuple[float, ReplySpec]], t: float) -> ReplySpec:
    """The entry with the greatest ``at`` <= t; of equal ones, the later."""
    best: tuple[float, ReplySpec] | None = None
    for at, spec in timeline:
        if at <= t and (best is None or at >= best[0]):
            best = (at, spec)
    assert best is not None, "timelines start at 0"
    return best[1]


# -- the model ----------------------------------------------------------------

#: each reason a session ends for (the engine's EndReason values), and the
#: final state it leads to
_OUTCOME_OF_REASON: Final = {
    "completed": "done",
    "server_failed": "failed",
    "fatal_answer": "failed",
    "too_many_errors": "failed",
    "trigger_failed": "failed",
    "deadline": "timed_out",
    "poll_budget": "timed_out",
    "hint_past_deadline": "timed_out",
    "stalled": "stalled",
    "cancelled": "cancelled",
}


def canonical_json(value: Any) -> str:
    """One text per JSON value: ``7``, ``"7"`` and ``7.0`` differ."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def message_key(message: Any, position: int) -> tuple[str, str]:
    """The contract's identity of a message: its id, else its position."""
    if isinstance(message, dict) and message.get("id") is not None:
        return ("id", canonical_json(message["id"]))
    return ("position", str(position))


def identity(message: Message) -> tuple[str, str]:
    """The same identity, read from a message the engine reported."""
    if message.key[0] == "id":
        return ("id", canonical_json(message.id))
    return ("position", str(message.position))


def message_label(message: Any, position: int) -> Any:
    """How a message is reported: its id, or ``#<position>``."""
    if isinstance(message, dict) and message.get("id") is not None:
        return message["id"]
    return f"#{position}"


def status_kind(status: Any) -> str:
    """absent, running, done, failed or unknown (reference lists, any case)."""
    if status is None:
        return "absent"
    if not isinstance(status, str):
        return "unknown"
    folded = status.lower()
    if folded in DONE:
        return "done"
    if folded in FAILED:
        return "failed"
    return "running" if folded in RUNNING else "unknown"


class ContractModel:
    """The contract, step by step, in exact rational arithmetic.

    Drive it like a session: :meth:`begin`, then :meth:`send` and
    :meth:`answer` in turn, :meth:`cancel` at any time. Times are seconds
    since t = 0 as :class:`~fractions.Fraction`.
    """

    def __init__(
        self,
        policy: Policy,
        history: Iterable[Any] = (),
        *,
        progress_path: bool = False,
    ) -> None:
        self.policy = policy
        self.initial = Fraction(policy.initial_delay)
        self.multiplier = Fraction(policy.multiplier)
        self.max_delay = Fraction(policy.max_delay)
        self.timeout = Fraction(policy.timeout)
        self.stall_after = (
            None if policy.stall_after is None else Fraction(policy.stall_after)
        )
        self.progress_path = progress_path
        self.seen = {("id", canonical_json(i)) for i in history}
        self.state = "idle"
        self.n = 0
        self.errors = 0
        self.polls = 0
        self.last_progress = Fraction(0)
        self.progress_value: Any = None
        self.progress_value_seen = False
        self.next_at: Fraction | None = None
        self.delivered: list[tuple[tuple[str, str], Any]] = []
        self.reason: str | None = None
        self.ended_at: Fraction | None = None

    @property
    def ended(self) -> bool:
        return self.reason is not None

    @property
    def outcome(self) -> str | None:
        return None if self.reason is None else _OUTCOME_OF_REASON[self.reason]

    def _end(self, reason: str, now: Fraction) -> None:
        self.reason, self.ended_at, self.next_at = reason, now, None
        self.state = _OUTCOME_OF_REASON[reason]

    def wait(self) -> Fraction:
        """``min(max_delay, initial_delay * multiplier ** n)``."""
        value = self.initial
        for _ in range(self.n):
            if value >= self.max_delay:
                break
            value *= self.multiplier
        return min(self.max_delay, value)

    def hint(self, spec: ReplySpec | None, now: Fraction) -> Fraction:
        """``h``: the clamped hint of an answer that arrived at ``now``, or 0."""
        if spec is None:
            return Fraction(0)
        value = spec.hint.value(WALL + now)
        if value is None:
            return Fraction(0)
        return min(value, Fraction(self.policy.max_retry_after))

    def _schedule(self, now: Fraction, wait: Fraction, hint: Fraction) -> None:
        if now + hint > self.timeout:
            self._end("hint_past_deadline", now)
            return
        terms = [now + wait, self.timeout]
        if self.stall_after is not None:
            terms.append(self.last_progress + self.stall_after)
        self.next_at = max(min(terms), now + hint)
        self.state = "backoff"

    def begin(self, trigger: ReplySpec | None) -> None:
        """The trigger answered at t = 0."""
        if self.ended:
            return
        if trigger is not None and trigger.kind != "readable":
            self._end("trigger_failed", Fraction(0))
            return
        self._schedule(Fraction(0), self.initial, self.hint(trigger, Fraction(0)))

    def cancel(self, now: Fraction) -> bool:
        """A user cancel; False when the session had already ended."""
        if self.ended:
            return False
        self._end("cancelled", now)
        return True

    def send(self, now: Fraction) -> Fraction:
        """A poll goes out at ``now``; returns its request timeout."""
        assert self.state == "backoff"
        self.polls += 1
        self.state = "polling"
        return min(Fraction(self.policy.request_timeout), self.timeout - now)

    def answer(self, now: Fraction, spec: ReplySpec | None) -> None:
        """The poll ended at ``now`` with ``spec`` (None: no answer in time)."""
        assert self.state == "polling"
        kind = "failed" if spec is None else spec.kind
        fresh: list[tuple[tuple[str, str], Any]] = []
        progress = False
        if spec is not None and kind == "readable":
            self.errors = 0
            keys: set[tuple[str, str]] = set()
            for position, message in enumerate(spec.messages):
                key = message_key(message, position)
                if key not in self.seen and key not in keys:
                    keys.add(key)
                    fresh.append((key, message_label(message, position)))
            if self.progress_path and spec.progress is not None:
                text = json.dumps(spec.progress)
                if self.progress_value_seen and text != self.progress_value:
                    progress = True
                self.progress_value, self.progress_value_seen = text, True
            progress = progress or bool(fresh)
        else:
            self.errors += 1
        if progress:
            self.last_progress = now
        self.n = 0 if progress and self.policy.reset_on_progress else self.n + 1
        self.seen.update(key for key, _ in fresh)
        self.delivered.extend(fresh)

        reason = self._stop_rule(kind, spec, now)
        if reason is not None:
            self._end(reason, now)
            return
        self._schedule(now, self.wait(), self.hint(spec, now))

    def _stop_rule(
        self, kind: str, spec: ReplySpec | None, now: Fraction
    ) -> str | None:
        """The contract's six stop rules, in order."""
        status = status_kind(spec.status) if spec is not None else "absent"
        rules = [
            (kind == "readable" and status == "done", "completed"),
            (kind == "readable" and status == "failed", "server_failed"),
            (kind == "fatal", "fatal_answer"),
            (
                kind == "failed" and self.errors >= self.policy.max_consecutive_errors,
                "too_many_errors",
            ),
            (now >= self.timeout, "deadline"),
            (
                self.policy.max_polls is not None
                and self.polls >= self.policy.max_polls,
                "poll_budget",
            ),
            (
                self.stall_after is not None
                and now - self.last_progress >= self.stall_after,
                "stalled",
            ),
        ]
        return next((reason for holds, reason in rules if holds), None)


@attrs.frozen
class ModelRun:
    """What the model says a whole scenario does."""

    outcome: str
    reason: str
    ended_at: Fraction
    request_times: tuple[Fraction, ...]
    #: when each poll ended (answered, failed, or timed out)
    answer_times: tuple[Fraction, ...]
    scheduled: tuple[Fraction, ...]
    delivered: tuple[tuple[tuple[str, str], Any], ...]


def run_model(
    policy: Policy,
    timeline: Sequence[tuple[float, ReplySpec]],
    *,
    trigger: ReplySpec | None = None,
    cancel_at: float | None = None,
    history: Iterable[Any] = (),
    progress_path: bool = False,
) -> ModelRun:
    """Play a scripted backend (as ``pollwise simulate`` reads it) on the model."""
    model = ContractModel(policy, history, progress_path=progress_path)
    cancel = None if cancel_at is None else Fraction(cancel_at)
    requests: list[Fraction] = []
    answers: list[Fraction] = []
    scheduled: list[Fraction] = []
    if cancel is not None and cancel <= 0:
        model.cancel(Fraction(0))
    model.begin(trigger)
    while not model.ended:
        assert model.next_at is not None
        send = model.next_at
        scheduled.append(send)
        if cancel is not None and cancel <= send:
            model.cancel(cancel)
            break
        request_timeout = model.send(send)
        requests.append(send)
        spec: ReplySpec | None = entry_for(timeline, float(send))
        assert spec is not None
        latency = Fraction(spec.latency)
        if spec.error is FailureKind.TIMEOUT or latency > request_timeout:
            end, spec = send + request_timeout, None
        else:
            end = send + latency
        if cancel is not None and cancel <= end:
            model.cancel(cancel)
            break
        answers.append(end)
        model.answer(end, spec)
    assert model.reason is not None
    assert model.ended_at is not None
    return ModelRun(
        outcome=_OUTCOME_OF_REASON[model.reason],
        reason=model.reason,
        ended_at=model.ended_at,
        request_times=tuple(requests),
        answer_times=tuple(answers),
        scheduled=tuple(scheduled),
        delivered=tuple(model.delivered),
    )


# -- running real sessions ------------------------------------------------------

Event = (
    StateChanged
    | PollScheduled
    | PollSent
    | PollAnswered
    | PollFailed
    | MessagesDelivered
    | SessionEnded
)


class Recorder:
    """An observer that keeps every event, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def state_changed(self, event: StateChanged) -> None:
        self.events.append(event)

    def poll_scheduled(self, event: PollScheduled) -> None:
        self.events.append(event)

    def poll_sent(self, event: PollSent) -> None:
        self.events.append(event)

    def poll_answered(self, event: PollAnswered) -> None:
        self.events.append(event)

    def poll_failed(self, event: PollFailed) -> None:
        self.events.append(event)

    def messages_delivered(self, event: MessagesDelivered) -> None:
        self.events.append(event)

    def session_ended(self, event: SessionEnded) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        """The recorded events of one type."""
        return [event for event in self.events if isinstance(event, kind)]


class BlockingApi:
    """Answers the trigger at once; each fetch blocks until released (or
    interrupted, as the HTTP adapter can be), 10 s at most."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def trigger(self, timeout: float) -> Reply:
        return Response(202)

    def fetch(self, timeout: float) -> Reply:
        self.entered.set()
        self.release.wait(10)
        return Response(200, (), b'{"status": "running"}')

    def interrupt(self) -> None:
        self.release.set()


class BoundedApi(ScriptedApi):
    """A :class:`ScriptedApi` that fails the test, instead of looping forever,
    when a session sends far more requests than any test needs."""

    LIMIT: Final = 1000

    def fetch(self, timeout: float) -> Reply:
        if len(self.requests) >= self.LIMIT:
            raise AssertionError(f"runaway session: {self.LIMIT} requests")
        return super().fetch(timeout)


class GuardedApi:
    """A :class:`ScriptedApi` that notices requests sent after the end, and
    cancels a runaway session (polls standing still in time) so that a test
    ends even when the engine would loop.
    """

    #: polls in a row at one instant before the guard cancels the session
    STANDSTILL: Final = 25

    def __init__(self, api: ScriptedApi, clock: FakeClock, session: Session) -> None:
        self.api = api
        self.clock = clock
        self.session = session
        self.after_end = 0
        self.runaway = False
        self._last: float | None = None
        self._streak = 0

    def trigger(self, timeout: float) -> Reply:
        return self.api.trigger(timeout)

    def fetch(self, timeout: float) -> Reply:
        if self.session.is_ended:
            self.after_end += 1
        now = self.clock.now()
        self._streak = self._streak + 1 if now == self._last else 0
        self._last = now
        if self._streak >= self.STANDSTILL:
            self.runaway = True
            self.session.cancel()
        return self.api.fetch(timeout)


class AsyncGuardedApi:
    """The asyncio face of a :class:`GuardedApi`."""

    def __init__(self, api: GuardedApi) -> None:
        self.api = api

    async def trigger(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.trigger(timeout)

    async def fetch(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.fetch(timeout)


@attrs.frozen(eq=False)
class Run:
    """A session run to its end on a fake clock, with what it did."""

    session: Session
    recorder: Recorder
    api: GuardedApi
    clock: FakeClock
    start: float

    @property
    def requests(self) -> list[float]:
        """Send times of every fetch the API saw, seconds since t = 0."""
        return self.api.api.requests


def drive(
    policy: Policy,
    timeline: Sequence[tuple[float, ReplySpec]],
    *,
    trigger: ReplySpec | None = None,
    cancel_at: float | None = None,
    history: Iterable[Any] = (),
    profile: Profile | None = None,
    runner: Literal["sync", "async"] = "sync",
    start: float = 0.0,
) -> Run:
    """Run a session against a scripted backend with one of the engine's runners.

    ``start`` is the fake clock's reading at t = 0 (the wall clock then reads
    :data:`WALL`).
    """
    clock = FakeClock(start=start, wall_start=WALL)
    recorder = Recorder()
    session = Session(clock, policy, profile, history=history, observers=[recorder])
    if cancel_at is not None:
        clock.call_at(start + cancel_at, session.cancel)
    scripted = ScriptedApi(
        [spec.entry(at) for at, spec in timeline],
        clock,
        trigger=None if trigger is None else trigger.entry(0.0),
    )
    api = GuardedApi(scripted, clock, session)
    if runner == "sync":
        run_sync(session, api)
    else:
        asyncio.run(run_async(session, AsyncGuardedApi(api)))
    return Run(session, recorder, api, clock, start)


# -- whole cases ------------------------------------------------------------------


@attrs.frozen
class Case:
    """Everything one generated session needs."""

    policy: Policy
    timeline: tuple[tuple[float, ReplySpec], ...]
    trigger: ReplySpec | None = None
    cancel_at: float | None = None
    history: tuple[Any, ...] = ()
    progress_path: bool = False
    #: the fake clock's reading at t = 0
    start: float = 0.0

    @property
    def profile(self) -> Profile:
        return Profile(progress_path="progress") if self.progress_path else Profile()

    def scenario(self) -> Scenario:
        """The case as a scenario for ``simulate`` (which starts its clock at 0)."""
        assert self.start == 0.0
        return Scenario(
            name="generated",
            policy=self.policy,
            profile=self.profile,
            history=self.history,
            cancel_at=self.cancel_at,
            trigger=None if self.trigger is None else self.trigger.entry(0.0),
            wall_clock=float(WALL),
            backend=tuple(spec.entry(at) for at, spec in self.timeline),
        )

    def drive(self, runner: Literal["sync", "async"] = "sync") -> Run:
        """Run the case with one of the engine's runners."""
        return drive(
            self.policy,
            self.timeline,
            trigger=self.trigger,
            cancel_at=self.cancel_at,
            history=self.history,
            profile=self.profile,
            runner=runner,
            start=self.start,
        )

    def model(self) -> ModelRun:
        """What the contract says this case does."""
        return run_model(
            self.policy,
            self.timeline,
            trigger=self.trigger,
            cancel_at=self.cancel_at,
            history=self.history,
            progress_path=self.progress_path,
        )


def _fractions_of(length: float) -> st.SearchStrategy[float]:
    """Arbitrary floats spread evenly over [0, length]."""
    return st.integers(0, 2**24).map(lambda k: length * k / 2**24)


@st.composite
def float_cases(draw: st.DrawFn, *, jitters: Sequence[str] = JITTER_KINDS) -> Case:
    """Arbitrary policies and timelines, with arbitrary float times."""
    policy = draw(session_policies(jitters=jitters))
    until = policy.timeout
    latencies = weighted((3, st.just(0.0)), (1, st.floats(0.0, 20.0)))
    return Case(
        policy=policy,
        timeline=draw(
            timelines(until, times=_fractions_of(until + 1), latencies=latencies)
        ),
        trigger=draw(trigger_specs()),
        cancel_at=draw(
            weighted((6, st.none()), (1, st.just(0.0)), (2, _fractions_of(until + 1)))
        ),
        history=draw(history_ids()),
        progress_path=draw(st.booleans()),
        start=draw(st.just(0.0) | st.floats(0.0, 1e5)),
    )


@st.composite
def grid_cases(draw: st.DrawFn) -> Case:
    """Un-jittered cases on the quarter-second grid, where the model is exact.

    A cancel, when there is one, is often aimed at a moment that matters:
    exactly a send, exactly an answer, or while a request is in flight.
    """
    policy = draw(grid_policies())
    until = policy.timeout
    case = Case(
        policy=policy,
        timeline=draw(timelines(until)),
        trigger=draw(trigger_specs()),
        history=draw(history_ids()),
        progress_path=draw(st.booleans()),
    )
    uncancelled = case.model()
    sends = [float(t) for t in uncancelled.request_times]
    answers = [float(t) for t in uncancelled.answer_times]
    in_flight = [(s + a) / 2 for s, a in zip(sends, answers, strict=False) if a > s]
    moments = [
        (1, quarters(0, until + 2)),
        (1 if sends else 0, st.sampled_from(sends or [0.0])),
        (1 if answers else 0, st.sampled_from(answers or [0.0])),
        (2 if in_flight else 0, st.sampled_from(in_flight or [0.0])),
    ]
    cancel_at = draw(weighted((4, st.none()), *moments))
    return attrs.evolve(case, cancel_at=cancel_at)
