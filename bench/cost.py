"""The engine's own cost, against tenacity doing the same job, in one run.

- CPU per poll decision: one long session on a fake clock and a fake API
  whose answers are built in advance, so what is timed is the engine
  (reading the answer, progress, rules, the machine, events) against
  tenacity's loop around the user's code that reads the same answer
  (``json.loads``, the status, new message ids).
- 10,000 concurrent sessions in one asyncio process against one in-memory
  API, on an event loop whose clock is virtual (a selector that, instead of
  blocking, moves the loop's time to the next timer): peak memory per
  session (tracemalloc) and CPU per poll, against ``AsyncRetrying``.
- Replay speed: a long session is recorded (every answer, in order) and
  replayed through a new session on a fake clock.

Each pollwise figure is given for both machines: the declarative
python-statemachine class (the default runner's) and the table compiled
from it (:mod:`pollwise.engine.machine_table`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import selectors
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import tenacity

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.answers import Reply, Response
from pollwise.engine.policy import Policy
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

from .peers import fake_time_for_peers

__all__ = ["CostFigures", "measure_cost"]

_HEADERS = (("content-type", "application/json"),)
#: Rounds of the CPU comparison (the least of each is reported).
CPU_ROUNDS = 5


def _body(count: int, status: str) -> bytes:
    """The latest (at most five) of ``count`` messages, like a paged API."""
    messages = [
        {"id": f"m{i}", "role": "assistant", "content": f"part {i}"}
        for i in range(max(0, count - 5), count)
    ]
    return json.dumps({"id": "c1", "status": status, "messages": messages}).encode()


class _LoopApi:
    """Answers built in advance: a new message every third poll."""

    def __init__(self, clock: FakeClock, polls: int) -> None:
        self.clock = clock
        self.polls = 0
        self.answers = [
            Response(200, _HEADERS, _body(i // 3, "generating")) for i in range(polls)
        ]

    def trigger(self, timeout: float) -> Reply:
        return Response(202, _HEADERS, b"")

    def fetch(self, timeout: float) -> Reply:
        answer = self.answers[self.polls % len(self.answers)]
        self.polls += 1
        self.clock.advance(0.01)
        return answer


def _cpu(work: Callable[[], object]) -> float:
    gc.collect()
    start = time.process_time()
    work()
    return time.process_time() - start


def cpu_per_poll_pollwise(polls: int, machine: str) -> float:
    clock = FakeClock()
    api = _LoopApi(clock, polls)
    policy = Policy(timeout=1e9, stall_after=None, max_polls=polls)
    session = Session(clock, policy, machine=machine)
    spent = _cpu(lambda: run_sync(session, api))
    assert api.polls == polls
    return spent / polls


def cpu_per_attempt_tenacity(polls: int) -> float:
    clock = FakeClock()
    api = _LoopApi(clock, polls)
    seen: set[str] = set()

    def poll() -> bool:
        reply = api.fetch(10.0)
        assert isinstance(reply, Response)
        body = json.loads(reply.body)
        for message in body["messages"]:
            seen.add(str(message["id"]))
        return str(body["status"]).lower() in ("complete", "done")

    retrying = tenacity.Retrying(
        sleep=clock.advance,
        stop=tenacity.stop_after_attempt(polls) | tenacity.stop_after_delay(1e9),
        wait=tenacity.wait_exponential(multiplier=1, max=8),
        retry=tenacity.retry_if_result(lambda finished: not finished),
    )

    def work() -> None:
        with contextlib.suppress(tenacity.RetryError):
            retrying(poll)

    with fake_time_for_peers(clock.now, clock.advance):
        spent = _cpu(work)
    assert api.polls == polls
    return spent / polls


# -- many sessions in one asyncio process, on virtual time ------------------


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: a wait for a timer moves the virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> Any:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self.now += timeout
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


class _LoopClock:
    """A pollwise clock port that reads the (virtual) event loop's time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        return self.loop.time()

    def wall_time(self) -> float:
        return 1767225600.0 + self.loop.time()

    def sleep(self, seconds: float, wake: Any) -> None:
        raise RuntimeError("the async benchmark never sleeps synchronously")

    async def sleep_async(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


#: The job every concurrent session follows: three messages, then complete.
_ARRIVALS = (0.5, 1.5, 2.5)
_COMPLETE = 3.0


class _InMemoryApi:
    """One API for every session; a conversation's clock starts at its trigger."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.polls = 0
        self.bodies = {
            (count, done): _body(count, "complete" if done else "generating")
            for count in range(len(_ARRIVALS) + 1)
            for done in (False, True)
        }

    def answer(self, started: float) -> Response:
        t = self.loop.time() - started
        count = sum(1 for arrival in _ARRIVALS if arrival <= t)
        return Response(200, _HEADERS, self.bodies[(count, t >= _COMPLETE)])


class _Conversation:
    __slots__ = ("api", "started")

    def __init__(self, api: _InMemoryApi) -> None:
        self.api = api
        self.started = api.loop.time()

    async def trigger(self, timeout: float) -> Reply:
        return Response(202, _HEADERS, b"")

    async def fetch(self, timeout: float) -> Reply:
        self.api.polls += 1
        await asyncio.sleep(0.05)
        return self.api.answer(self.started)


async def _pollwise_session(api: _InMemoryApi, machine: str) -> None:
    clock = _LoopClock(asyncio.get_running_loop())
    await run_async(Session(clock, Policy(), machine=machine), _Conversation(api))


async def _tenacity_session(api: _InMemoryApi) -> None:
    conversation = _Conversation(api)
    seen: set[str] = set()

    async def poll() -> bool:
        reply = await conversation.fetch(10.0)
        assert isinstance(reply, Response)
        body = json.loads(reply.body)
        for message in body["messages"]:
            seen.add(str(message["id"]))
        return str(body["status"]).lower() in ("complete", "done")

    retrying = tenacity.AsyncRetrying(
        sleep=asyncio.sleep,
        stop=tenacity.stop_after_delay(120),
        wait=tenacity.wait_exponential(multiplier=1, max=8),
        retry=tenacity.retry_if_result(lambda finished: not finished),
    )
    await retrying(poll)


def _no_sync_sleep(seconds: float) -> None:
    raise RuntimeError("the async benchmark never sleeps synchronously")


@contextlib.contextmanager
def _virtual_loop() -> Iterator[_VirtualLoop]:
    loop = _VirtualLoop()
    try:
        yield loop
    finally:
        loop.close()


@attrs.frozen
class ManySessions:
    """Figures of one run of many concurrent sessions."""

    sessions: int
    polls: int
    cpu_per_poll: float
    memory_per_session: float


def many_sessions(kind: str, sessions: int, *, trace_memory: bool) -> ManySessions:
    """Run ``sessions`` concurrent sessions of ``kind`` ("tenacity" or a
    machine kind); memory is traced only when asked (it slows CPU down)."""
    with _virtual_loop() as loop:
        api = _InMemoryApi(loop)

        def one() -> Any:
            if kind == "tenacity":
                return _tenacity_session(api)
            return _pollwise_session(api, kind)

        async def everything() -> None:
            await asyncio.gather(*(one() for _ in range(sessions)))

        gc.collect()
        peak = 0
        with fake_time_for_peers(loop.time, _no_sync_sleep):
            if trace_memory:
                tracemalloc.start()
                base, _ = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
            start = time.process_time()
            loop.run_until_complete(everything())
            spent = time.process_time() - start
            if trace_memory:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                peak -= base
    return ManySessions(
        sessions=sessions,
        polls=api.polls,
        cpu_per_poll=spent / max(1, api.polls),
        memory_per_session=peak / sessions,
    )


# -- replay -------------------------------------------------------------------


class _Recorder:
    def __init__(self, inner: _LoopApi) -> None:
        self.inner = inner
        self.replies: list[Reply] = []

    def trigger(self, timeout: float) -> Reply:
        return self.inner.trigger(timeout)

    def fetch(self, timeout: float) -> Reply:
        reply = self.inner.fetch(timeout)
        self.replies.append(reply)
        return reply


class _Replayer:
    def __init__(self, clock: FakeClock, replies: list[Reply]) -> None:
        self.clock = clock
        self.replies = iter(replies)

    def trigger(self, timeout: float) -> Reply:
        return Response(202, _HEADERS, b"")

    def fetch(self, timeout: float) -> Reply:
        self.clock.advance(0.01)
        return next(self.replies)


def replay_polls_per_second(polls: int, machine: str) -> float:
    policy = Policy(timeout=1e9, stall_after=None, max_polls=polls)
    clock = FakeClock()
    recorder = _Recorder(_LoopApi(clock, polls))
    run_sync(Session(clock, policy, machine="table"), recorder)
    clock = FakeClock()
    session = Session(clock, policy, machine=machine)
    replayer = _Replayer(clock, recorder.replies)
    gc.collect()
    start = time.perf_counter()
    run_sync(session, replayer)
    spent = time.perf_counter() - start
    assert session.statistics().polls == polls
    return polls / spent


@attrs.frozen
class CostFigures:
    """Everything :func:`measure_cost` measured."""

    polls: int
    cpu_declarative: float
    cpu_table: float
    cpu_tenacity: float
    sessions: int
    many: dict[str, ManySessions]
    replay_declarative: float
    replay_table: float

    def lines(self) -> list[str]:
        us = 1e6
        many = self.many
        return [
            f"CPU per poll decision ({self.polls} polls, fake clock): "
            f"declarative machine {self.cpu_declarative * us:.1f} us, "
            f"table {self.cpu_table * us:.1f} us, "
            f"tenacity per attempt {self.cpu_tenacity * us:.1f} us; "
            f"ratio {self.cpu_declarative / self.cpu_tenacity:.2f}x (declarative), "
            f"{self.cpu_table / self.cpu_tenacity:.2f}x (table)",
            f"{self.sessions} concurrent asyncio sessions: memory per session "
            + ", ".join(
                f"{name} {figures.memory_per_session / 1024:.1f} KiB"
                for name, figures in many.items()
            )
            + "; CPU per poll "
            + ", ".join(
                f"{name} {figures.cpu_per_poll * us:.0f} us"
                for name, figures in many.items()
            ),
            f"replay of a {self.polls}-poll session: "
            f"{self.replay_declarative:,.0f} polls/s (declarative), "
            f"{self.replay_table:,.0f} polls/s (table)",
        ]


def measure_cost(polls: int = 5000, sessions: int = 10_000) -> CostFigures:
    """Measure everything, in one process and one run.

    The CPU figures are the least of ``CPU_ROUNDS`` rounds, each round
    timing tenacity and both machines one after the other: a slow spell of
    the machine then falls on all three alike, not on one of them.
    """
    rounds = [
        (
            cpu_per_attempt_tenacity(polls),
            cpu_per_poll_pollwise(polls, "declarative"),
            cpu_per_poll_pollwise(polls, "table"),
        )
        for _ in range(CPU_ROUNDS)
    ]
    cpu_tenacity = min(figures[0] for figures in rounds)
    cpu_declarative = min(figures[1] for figures in rounds)
    cpu_table = min(figures[2] for figures in rounds)
    many: dict[str, ManySessions] = {}
    for kind in ("tenacity", "declarative", "table"):
        memory = many_sessions(kind, sessions, trace_memory=True)
        cpu = many_sessions(kind, sessions, trace_memory=False)
        many[kind] = attrs.evolve(cpu, memory_per_session=memory.memory_per_session)
    return CostFigures(
        polls=polls,
        cpu_declarative=cpu_declarative,
        cpu_table=cpu_table,
        cpu_tenacity=cpu_tenacity,
        sessions=sessions,
        many=many,
        replay_declarative=replay_polls_per_second(polls, "declarative"),
        replay_table=replay_polls_per_second(polls, "table"),
    )
