"""Fuzzing: arbitrary response sequences against the engine, on a fake clock.

hypothesis makes up what an API could possibly do: any status code (not
only the ones HTTP knows), any headers (hint headers in every form, and
garbage), any body (conversation snapshots with ids of every JSON type,
arbitrary JSON, malformed and non-UTF-8 bytes, deep nesting), latencies
longer than the request timeout, every kind of transport failure, and a
cancel at any moment (while sleeping or while a request is in flight).
After every session, whichever runner drove it, these must hold:

- nothing escapes the runner but the documented typed errors;
- the session ends, no later than its timeout;
- no request goes out after the end, and none earlier (or later) than the
  schedule ``max(min(t + w, stall deadline, timeout), t + h)`` allows;
- every message is delivered exactly once, in the order the API first
  listed it, never from a failed poll or the history;
- the sync and async runners make the same decisions, event for event;
- the trace the session recorded replays to the same decisions.

How many examples: twice the active hypothesis profile's ``max_examples``
(``ci``: 200, so 400 sessions per runner; ``HYPOTHESIS_PROFILE=nightly``:
5000, so 10000).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from typing import Any, Final

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.replay import format_divergence, replay_trace
from pollwise.adapters.trace import Record, trace_from_records
from pollwise.adapters.trace_recorder import MemorySink, TraceRecorder
from pollwise.engine.answers import (
    FailureKind,
    Reply,
    Response,
    TransportFailure,
    canonical,
)
from pollwise.engine.errors import PollingError
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.hints import read_hint
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import JITTER_KINDS, Policy
from pollwise.engine.rules import rounding_slack
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

#: Examples per fuzz test: a multiple of the active profile's.
_ACTIVE = settings.default
EXAMPLES: Final = 2 * (_ACTIVE.max_examples if _ACTIVE is not None else 100)
FUZZ = settings(
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The wall clock at t = 0 (1 Jan 2026).
WALL: Final = 1767225600.0
#: Float slack for times that the contract gives exactly.
EPS: Final = 1e-9


# -- what an API can answer -------------------------------------------------------
def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, drawn about as often as its weight says."""
    total = sum(weight for weight, _ in choices)

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        index = draw(st.integers(0, total - 1))
        for weight, strategy in choices:
            if index < weight:
                return draw(strategy)
            index -= weight
        raise AssertionError("unreachable")

    return pick()


_DATES: Final = (
    "Thu, 01 Jan 2026 00:00:03 GMT",
    "Thu, 01 Jan 2026 00:00:00 GMT",
    "Wed, 31 Dec 2025 23:59:00 GMT",
    "Sun, 01 Feb 2026 00:00:00 GMT",
    "Thursday, 01-Jan-26 00:00:05 GMT",
    "Thu Jan  1 00:00:07 2026",
    "Thu, 31 Feb 2026 00:00:00 GMT",
    "Thu, 01 Jan 2026 25:00:00 GMT",
    "Thu, 01 Foo 2026 00:00:00 GMT",
)
_HINT_VALUES: Final = (
    "0",
    "1",
    "2.5",
    "0.0001",
    "30",
    "-1",
    "-0",
    "+3",
    "1e1",
    "NaN",
    "inf",
    " 3 ",
    "",
    "3 s",
    "9" * 400,
    "1.5.5",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit to str.isdigit, not a hint
)
_HINT_NAMES: Final = ("Retry-After", "retry-after-ms", "RETRY-AFTER", "Date")


_OTHER_VALUES: Final = ("12", "-7", "1e-7", "0.30000000000000004", "1" * 30)


def _header_values() -> st.SearchStrategy[str]:
    # Mostly values from fixed lists (cheap to draw), now and then any text.
    return weighted(
        (8, st.sampled_from(_HINT_VALUES + _DATES + _OTHER_VALUES)),
        (1, st.text(max_size=30)),
    )


def headers() -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    name = weighted(
        (8, st.sampled_from((*_HINT_NAMES, "Content-Type", "Set-Cookie"))),
        (1, st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)),
    )
    return st.lists(st.tuples(name, _header_values()), max_size=3).map(tuple)


#: Ids of every JSON type; 7, 7.0, "7" and true are all different ids.
_ID_CHOICES: Final[list[Any]] = [
    *("a", "b", "c", "#0", "", "7"),
    *(0, 1, 7, -1, 2**64, 1.0, 7.0, 0.5, 1e308, -0.0),
    *(True, False, [1, "a"], {"k": 1}, None),
]
_IDS: Final = st.sampled_from(_ID_CHOICES)


_STATUSES: Final = weighted(
    (2, st.sampled_from(["complete", "Completed", "DONE", "succeeded", "idle"])),
    (4, st.sampled_from(["generating", "queued", "running", "pending", "in_progress"])),
    (1, st.sampled_from(["failed", "ERROR", "cancelled", "canceled", "expired"])),
    (1, st.sampled_from(["provisioning", "", "ready", None, -1, 2, ["done"]])),
)


@st.composite
def _message(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))
    message: dict[str, Any] = {"role": "assistant", "content": "x"}
    if kind != 1:
        message["id"] = draw(_IDS)
    return message


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["status", "messages", "id", "k"]), inner)
        ),
        max_leaves=6,
    )


@st.composite
def snapshots(draw: st.DrawFn) -> bytes:
    """Conversation-shaped JSON, sometimes with a part of the wrong type."""
    document: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        document["status"] = draw(_STATUSES)
    shape = draw(st.integers(0, 12))
    if shape == 0:
        document["messages"] = draw(json_values())
    elif shape != 1:
        document["messages"] = draw(st.lists(_message(), max_size=5))
    if draw(st.booleans()):
        document["extra"] = draw(json_values())
    return json.dumps(document).encode()


_ODD_BODIES: Final = (
    b"",
    b"  \r\n\t ",
    b"<html><body>Bad gateway</body></html>",
    b'{"status": "complete", "messages": [{"id": NaN}]}',
    b'{"status": "complete", "messages": [{"id": Infinity}]}',
    b'{"status": "gener',
    b"\xef\xbb\xbf" + b'{"status": "done", "messages": []}',
    b'{"status": "done", "messages": []}garbage',
    b"\xff\xfe\x00{",
    b"null",
    b"[" * 5_000 + b"]" * 5_000,
    b'{"messages": [{"id": 1}, {"id": 1.0}, {"id": "1"}, {"id": true}]}',
)


@st.composite
def _truncated(draw: st.DrawFn) -> bytes:
    body = draw(snapshots())
    return body[: draw(st.integers(0, len(body)))]


def bodies() -> st.SearchStrategy[bytes]:
    return weighted(
        (5, snapshots()),
        (1, st.sampled_from(_ODD_BODIES)),
        (1, json_values().map(lambda v: json.dumps(v).encode())),
        (1, st.binary(max_size=64)),
        (1, _truncated()),
    )


_STATUS_CODES: Final = weighted(
    (6, st.sampled_from([200, 200, 200, 201, 202, 204, 206, 299])),
    (2, st.sampled_from([304, 408, 425, 429, 500, 502, 503, 504])),
    (1, st.integers(100, 599)),
    # Status 0 is left to the test below that shows how replay trips on it.
    (1, st.integers(1, 999)),
)


@attrs.frozen
class Step:
    """What the API does for one request."""

    reply: Reply
    latency: float = 0.0


@st.composite
def steps(draw: st.DrawFn) -> Step:
    if draw(st.integers(0, 7)) == 0:
        kind = draw(st.sampled_from(list(FailureKind)))
        # Line breaks in a failure's detail are left to the test below that
        # shows how replay trips on them.
        detail = draw(st.text(st.characters(blacklist_characters="\r\n"), max_size=10))
        reply: Reply = TransportFailure(kind, detail)
    else:
        reply = Response(draw(_STATUS_CODES), draw(headers()), draw(bodies()))
    latency = draw(
        weighted(
            (4, st.just(0.0)),
            (2, st.floats(0.0, 1.0)),
            (1, st.floats(0.0, 30.0)),
            (1, st.sampled_from([0.25, 2.0, 10.0, 1e6])),
        )
    )
    return Step(reply, latency)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    timeout = draw(weighted((1, st.floats(0.01, 10.0)), (1, st.floats(10.0, 200.0))))
    # At most a few hundred polls before the timeout, so an example is quick.
    initial = draw(st.floats(max(0.05, timeout / 200), max(5.0, timeout / 200)))
    return Policy(
        initial_delay=initial,
        multiplier=draw(st.floats(1.0, 5.0)),
        max_delay=draw(st.floats(initial, initial * 30)),
        jitter=draw(st.sampled_from(JITTER_KINDS)),
        seed=draw(st.integers(0, 2**32)),
        timeout=timeout,
        stall_after=draw(st.none() | st.floats(0.01, 100.0)),
        max_polls=draw(st.none() | st.integers(1, 50)),
        reset_on_progress=draw(st.booleans()),
        max_consecutive_errors=draw(st.integers(1, 8)),
        max_retry_after=draw(st.floats(0.0, 120.0)),
        request_timeout=draw(
            weighted((1, st.floats(0.0, 1.0)), (4, st.floats(1.0, 20.0)))
        ),
    )


@attrs.frozen
class Case:
    policy: Policy
    trigger: Step | None
    steps: tuple[Step, ...]
    cancel_at: float | None
    history: tuple[Any, ...]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    policy = draw(policies())
    cancel_at = draw(
        weighted(
            (6, st.none()),
            (1, st.just(0.0)),
            (3, st.floats(0.0, policy.timeout * 1.2)),
        )
    )
    # A few distinct answers, repeated in any order: bursts and recoveries
    # come cheap, and long sequences cost no more to draw than short ones.
    pool = draw(st.lists(steps(), min_size=1, max_size=3))
    order = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=12))
    return Case(
        policy=policy,
        trigger=draw(weighted((3, st.none()), (1, steps()))),
        steps=tuple(pool[index] for index in order),
        cancel_at=cancel_at,
        history=tuple(draw(st.lists(_IDS, max_size=3))),
    )


# -- the fake API and what it saw -------------------------------------------------


class FuzzApi:
    """Answers the n-th request with the n-th step (the last one for ever),
    taking each step's latency on the fake clock; the request times out when
    the latency is longer than the request's timeout.

    It notes every request sent after the session ended, and cancels a
    session that runs away (many polls at one instant, or thousands), so a
    fuzz run always ends; a runaway is then reported as a failure.
    """

    STANDSTILL: Final = 50
    MOST: Final = 5000

    def __init__(
        self, case: Case, clock: FakeClock, session: Session, origin: float
    ) -> None:
        self.case = case
        self.clock = clock
        self.session = session
        self.origin = origin
        self.sent: list[float] = []
        self.replies: list[tuple[Reply, float]] = []
        self.after_end = 0
        self.runaway = False
        self._streak = 0

    def trigger(self, timeout: float) -> Reply:
        if self.case.trigger is None:
            return Response(202)
        return self.case.trigger.reply

    def fetch(self, timeout: float) -> Reply:
        if self.session.is_ended:
            self.after_end += 1
        now = self.clock.now() - self.origin
        self._streak = self._streak + 1 if self.sent and now == self.sent[-1] else 0
        self.sent.append(now)
        if self._streak >= self.STANDSTILL or len(self.sent) >= self.MOST:
            self.runaway = True
            self.session.cancel()
        step = self.case.steps[min(len(self.sent), len(self.case.steps)) - 1]
        if step.latency > timeout:
            self.clock.advance(timeout)
            reply: Reply = TransportFailure(FailureKind.TIMEOUT, "fuzz")
        else:
            self.clock.advance(step.latency)
            reply = step.reply
        # when it arrived, in session time: the wall clock is WALL plus that
        self.replies.append((reply, self.clock.now() - self.origin))
        return reply


class AsyncFuzzApi:
    def __init__(self, api: FuzzApi) -> None:
        self.api = api

    async def trigger(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.trigger(timeout)

    async def fetch(self, timeout: float) -> Reply:
        await asyncio.sleep(0)
        return self.api.fetch(timeout)


class Events:
    """Every event of a session, in order."""

    def __init__(self) -> None:
        self.all: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        if name in _EVENT_METHODS:
            return self.all.append
        raise AttributeError(name)

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.all if isinstance(event, kind)]


_EVENT_METHODS: Final = frozenset(
    {
        "state_changed",
        "poll_scheduled",
        "poll_sent",
        "poll_answered",
        "poll_failed",
        "messages_delivered",
        "session_ended",
    }
)


@attrs.frozen(eq=False)
class Run:
    case: Case
    session: Session
    api: FuzzApi
    events: Events
    escaped: BaseException | None
    #: the trace the session recorded as it ran
    trace: tuple[Record, ...]


def run(case: Case, runner: str, start: float = 0.0) -> Run:
    clock = FakeClock(start=start, wall_start=WALL)
    events = Events()
    session = Session(clock, case.policy, history=case.history, observers=[events])
    sink = MemorySink()
    recorder = TraceRecorder.attach(session, sink, history=case.history)
    api = FuzzApi(case, clock, session, start)
    if case.cancel_at is not None:
        clock.call_at(start + case.cancel_at, session.cancel)
    escaped: BaseException | None = None
    try:
        if runner == "sync":
            run_sync(session, recorder.wrap(api))
        else:
            asyncio.run(run_async(session, recorder.wrap_async(AsyncFuzzApi(api))))
    except PollingError as exc:  # documented and typed: allowed by the contract
        escaped = exc
    return Run(case, session, api, events, escaped, tuple(sink.records))


# -- the properties -----------------------------------------------------------------


def _backoff(policy: Policy, n: int) -> float:
    if n == 0 or policy.multiplier == 1:
        return min(policy.max_delay, policy.initial_delay)
    ceiling = math.log(policy.max_delay / policy.initial_delay) + 1
    if n * math.log(policy.multiplier) > ceiling:
        return policy.max_delay
    return min(policy.max_delay, policy.initial_delay * policy.multiplier**n)


def _lowest_jitter(policy: Policy, wait: float) -> float:
    return {
        "none": wait,
        "full": 0.0,
        "equal": wait / 2,
        "floored": min(policy.initial_delay, wait),
    }[policy.jitter]


def _hint(reply: Reply, elapsed: float, policy: Policy) -> float:
    if isinstance(reply, TransportFailure):
        return 0.0
    hint = read_hint(reply.header_map(), WALL, elapsed)
    return 0.0 if hint is None else min(hint, policy.max_retry_after)


def check_schedule(result: Run) -> None:
    """Each poll goes out inside the window the contract gives it."""
    policy = result.case.policy
    sends = result.events.of(PollSent)
    ends = {e.number: e for e in result.events.all if isinstance(e, PollAnswered)}
    ends.update({e.number: e for e in result.events.of(PollFailed)})
    trigger = result.case.trigger
    t, hint = 0.0, 0.0
    if trigger is not None:
        hint = _hint(trigger.reply, 0.0, policy)
    no_progress, last_progress = 0, 0.0
    for sent in sends:
        wait = (
            policy.initial_delay if sent.number == 1 else _backoff(policy, no_progress)
        )
        floor = t + (wait if sent.number == 1 else _lowest_jitter(policy, wait))
        ceiling = t + wait
        deadlines = [policy.timeout]
        if policy.stall_after is not None:
            deadlines.append(last_progress + policy.stall_after)
        earliest = max(min(floor, *deadlines), t + hint)
        latest = max(min(ceiling, *deadlines), t + hint)
        assert earliest - EPS <= sent.at <= latest + EPS, (sent, earliest, latest)
        end = ends.get(sent.number)
        if end is None:
            break
        progress = isinstance(end, PollAnswered) and end.has_progress
        if progress:
            last_progress = end.at
        no_progress = 0 if progress and policy.reset_on_progress else no_progress + 1
        reply, arrived = result.api.replies[sent.number - 1]
        t, hint = end.at, _hint(reply, arrived, policy)


def check_delivery(result: Run) -> None:
    """Each message once, in the order readable answers first listed it."""
    history = {("id", canonical(i)) for i in result.case.history}
    delivered = [m.key for e in result.events.of(MessagesDelivered) for m in e.messages]
    assert len(delivered) == len(set(delivered))
    assert not history & set(delivered)
    listed: list[tuple[str, str]] = []
    for answered in result.events.of(PollAnswered):
        for message in answered.answer.messages:
            if message.key not in history and message.key not in listed:
                listed.append(message.key)
    assert delivered == listed
    assert [m.key for m in result.session.view().messages] == delivered


def check_run(result: Run) -> None:
    policy = result.case.policy
    session = result.session
    assert result.escaped is None, result.escaped
    assert not result.api.runaway, "the session polled without end"
    assert session.is_ended
    ended = result.events.of(SessionEnded)
    assert len(ended) == 1
    assert result.events.all[-1] is ended[0]
    assert session.ended_at is not None
    assert session.ended_at <= policy.timeout + EPS
    assert result.api.after_end == 0
    assert result.api.sent == [e.at for e in result.events.of(PollSent)]
    assert all(
        later.at >= earlier.at - EPS
        for earlier, later in zip(
            result.events.all, result.events.all[1:], strict=False
        )
        if hasattr(earlier, "at") and hasattr(later, "at")
    )
    if policy.max_polls is not None:
        assert len(result.api.sent) <= policy.max_polls
    verdict = session.verdict
    assert verdict is not None
    if result.case.cancel_at is None:
        assert verdict.reason is not EndReason.CANCELLED
    if verdict.reason is EndReason.CANCELLED:
        assert result.case.cancel_at is not None
        # At the cancel's instant: exactly, or a rounding from it (the fake
        # clock runs a callback due within rounding_slack of where it moves).
        cancel_at = result.case.cancel_at
        assert abs(session.ended_at - cancel_at) <= rounding_slack(cancel_at)
    check_schedule(result)
    check_delivery(result)
    check_replay(result)


def check_replay(result: Run) -> None:
    """The trace the session recorded replays to the very same decisions."""
    replayed = replay_trace(trace_from_records(result.trace))
    assert replayed.identical, format_divergence(replayed)
    assert replayed.polls == len(result.api.sent)


def _decisions(result: Run) -> list[Any]:
    return [
        (type(e).__name__, e.at, getattr(e, "number", None))
        for e in result.events.all
        if isinstance(e, PollSent | PollScheduled | StateChanged | SessionEnded)
    ]


@FUZZ
@given(cases())
def test_any_response_sequence_keeps_the_contracts_promises(case: Case) -> None:
    """Arbitrary codes, headers, bodies, latencies, failures and cancels."""
    sync = run(case, "sync")
    check_run(sync)

    asynchronous = run(case, "async")
    check_run(asynchronous)
    assert _decisions(asynchronous) == _decisions(sync)
    assert [m.key for m in asynchronous.session.view().messages] == [
        m.key for m in sync.session.view().messages
    ]
    assert asynchronous.session.outcome is sync.session.outcome


def test_the_fuzzer_reaches_every_outcome() -> None:
    """A fuzzer that never cancels, never finishes or never fails proves little:
    over a fixed sample, every outcome and most end reasons occur."""
    outcomes: set[Outcome] = set()
    reasons: set[EndReason] = set()

    @settings(max_examples=200, database=None, derandomize=True)
    @given(cases())
    def sample(case: Case) -> None:
        result = run(case, "sync")
        assert result.session.verdict is not None
        outcomes.add(result.session.verdict.outcome)
        reasons.add(result.session.verdict.reason)

    sample()
    assert outcomes == set(Outcome)
    assert len(reasons) >= 7, reasons


def _one_case(steps: Sequence[Step], **policy: Any) -> Case:
    return Case(Policy(**policy), None, tuple(steps), None, ())


def test_a_deeply_nested_body_is_a_failed_poll_not_a_crash() -> None:
    """50 000 nested brackets overflow a recursive parser: failed, not raised."""
    deep = Step(Response(200, (), b"[" * 50_000 + b"]" * 50_000))

    result = run(_one_case([deep], max_consecutive_errors=2), "sync")

    check_run(result)
    assert result.session.verdict is not None
    assert result.session.verdict.reason is EndReason.TOO_MANY_ERRORS


def test_a_failure_detail_with_a_line_break_replays_identically() -> None:
    broken = Step(TransportFailure(FailureKind.CONNECT, "peer said\nbye"))

    result = run(_one_case([broken], max_consecutive_errors=1), "sync")

    check_replay(result)


def test_a_status_code_of_zero_replays_identically() -> None:
    """Some HTTP stacks report a network error as status 0; pollwise calls
    it fatal (it is no 2xx, 3xx, 408, 425, 429 or 5xx), and so must replay."""
    zero = Step(Response(0, (), b"{}"))

    result = run(_one_case([zero], max_consecutive_errors=1), "sync")

    assert result.session.verdict is not None
    assert result.session.verdict.reason is EndReason.FATAL_ANSWER
    check_replay(result)
