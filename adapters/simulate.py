"""Run scenarios on a fake clock and check their expectations.

This is the one code path behind ``pollwise simulate`` and the test suite's
scenario tests: the engine's own sync runner, a :class:`FakeClock` and a
:class:`ScriptedApi`. No sleeping and no network.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final, Literal

import attrs

from pollwise.engine.answers import Reply, canonical
from pollwise.engine.errors import ScenarioError
from pollwise.engine.events import MessagesDelivered, PollAnswered, PollFailed, PollSent
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_async, run_sync
from pollwise.engine.session import Session

from .clocks import FakeClock
from .scenario import Scenario
from .scripted_api import AsyncScriptedApi, ScriptedApi

__all__ = ["SimulationResult", "check_expectations", "simulate"]

#: Times in expectations are compared within this much.
TOLERANCE: Final = 1e-6


#: A simulated session that sends this many requests in a row at one instant
#: never ends: with a zero delay and no latency, fake time does not pass...
MAX_REQUESTS_AT_ONE_INSTANT: Final = 10_000
#: ... unless its max_polls ends it first: then simulate lets it run, up to
#: this many (under a minute on the declarative machine).
MAX_REQUESTS_BEFORE_MAX_POLLS: Final = 100_000


class _RunawayError(Exception):
    """Raised inside the runner to stop a scenario that does not end."""


def _same_instant_limit(max_polls: int | None) -> int:
    """How many requests in a row at one instant simulate allows a session."""
    if max_polls is None or max_polls < MAX_REQUESTS_AT_ONE_INSTANT:
        return MAX_REQUESTS_AT_ONE_INSTANT
    return min(max_polls + 1, MAX_REQUESTS_BEFORE_MAX_POLLS)


class _Budgeted(ScriptedApi):
    _same_instant = 0
    limit = MAX_REQUESTS_AT_ONE_INSTANT

    def fetch(self, timeout: float) -> Reply:
        if self.requests and self.requests[-1] == self._clock.now() - self._origin:
            self._same_instant += 1
            if self._same_instant >= self.limit:
                raise _RunawayError
        else:
            self._same_instant = 0
        return super().fetch(timeout)


class _Timeline(Observer):
    """Observer that keeps what ``simulate --json`` reports."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.ended: list[float] = []
        self.messages: list[Any] = []
        self.first_seen: list[float] = []

    def poll_sent(self, event: PollSent) -> None:
        self.sent.append(event.at)

    def poll_answered(self, event: PollAnswered) -> None:
        self.ended.append(event.at)

    def poll_failed(self, event: PollFailed) -> None:
        self.ended.append(event.at)

    def messages_delivered(self, event: MessagesDelivered) -> None:
        for message in event.messages:
            self.messages.append(message.label)
            self.first_seen.append(event.at)


@attrs.frozen
class SimulationResult:
    """What one scenario did, and which expectations did not hold."""

    name: str
    path: str
    outcome: str
    reason: str
    detail: str
    ended_at: float
    request_times: tuple[float, ...]
    waits: tuple[float, ...]
    messages: tuple[Any, ...]
    first_seen: tuple[float, ...]
    expect_failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.expect_failures

    def to_json(self) -> dict[str, Any]:
        """The object ``simulate --json`` prints for this scenario."""
        return {
            "name": self.name,
            "file": self.path,
            "outcome": self.outcome,
            "reason": self.reason,
            "detail": self.detail,
            "ended_at": self.ended_at,
            "requests": len(self.request_times),
            "request_times": list(self.request_times),
            "waits": list(self.waits),
            "messages": list(self.messages),
            "first_seen": list(self.first_seen),
            "expect_failures": list(self.expect_failures),
        }


def simulate(
    scenario: Scenario, *, runner: Literal["sync", "async"] = "sync"
) -> SimulationResult:
    """Run one scenario on a fake clock and check its expectations.

    Args:
        scenario: the scenario to run.
        runner: which engine runner drives it; both must agree, and the
            test suite checks that they do.
    """
    clock = FakeClock(start=0.0, wall_start=scenario.wall_clock)
    timeline = _Timeline()
    session = Session(
        clock,
        scenario.policy,
        scenario.profile,
        history=scenario.history,
        observers=[timeline],
    )
    if scenario.cancel_at is not None:
        clock.call_at(scenario.cancel_at, session.cancel)
    api = _Budgeted(scenario.backend, clock, trigger=scenario.trigger)
    api.limit = _same_instant_limit(scenario.policy.max_polls)
    try:
        if runner == "sync":
            run_sync(session, api)
        else:
            asyncio.run(run_async(session, AsyncScriptedApi(api)))
    except _RunawayError:
        raise ScenarioError(
            scenario.path,
            f"the session sent {api.limit} requests at one instant and would "
            "never end (a zero delay with no latency: fake time does not pass)",
        ) from None

    verdict = session.verdict
    ended_at = session.ended_at
    assert verdict is not None
    assert ended_at is not None
    waits = tuple(
        sent - ended
        for sent, ended in zip(timeline.sent[1:], timeline.ended, strict=False)
    )
    result = SimulationResult(
        name=scenario.name,
        path=scenario.path,
        outcome=verdict.outcome.value,
        reason=verdict.reason.value,
        detail=verdict.detail,
        ended_at=ended_at,
        request_times=tuple(timeline.sent),
        waits=waits,
        messages=tuple(timeline.messages),
        first_seen=tuple(timeline.first_seen),
        expect_failures=(),
    )
    return attrs.evolve(
        result, expect_failures=tuple(check_expectations(scenario, result))
    )


def _same_ids(expected: Any, actual: Any) -> bool:
    try:
        return canonical(expected) == canonical(actual)
    except (TypeError, ValueError):
        return bool(expected == actual)


def check_expectations(scenario: Scenario, result: SimulationResult) -> list[str]:
    """Each expectation of ``scenario`` that ``result`` does not meet, in words."""
    expect = scenario.expect
    failures: list[str] = []
    requests = len(result.request_times)
    if expect.outcome is not None and expect.outcome != result.outcome:
        failures.append(f"outcome: expected {expect.outcome}, got {result.outcome}")
    if expect.ended_by is not None and result.ended_at > expect.ended_by + TOLERANCE:
        failures.append(
            f"ended_by: ended at {result.ended_at:g}, after {expect.ended_by:g}"
        )
    if (
        expect.ended_after is not None
        and result.ended_at < expect.ended_after - TOLERANCE
    ):
        failures.append(
            f"ended_after: ended at {result.ended_at:g}, before {expect.ended_after:g}"
        )
    if expect.max_requests is not None and requests > expect.max_requests:
        failures.append(
            f"max_requests: {requests} requests, more than {expect.max_requests}"
        )
    if expect.min_requests is not None and requests < expect.min_requests:
        failures.append(
            f"min_requests: {requests} requests, fewer than {expect.min_requests}"
        )
    if expect.request_times is not None:
        wanted, got = expect.request_times, result.request_times
        if len(wanted) != len(got) or any(
            abs(a - b) > TOLERANCE for a, b in zip(wanted, got, strict=False)
        ):
            failures.append(
                f"request_times: expected {_times(wanted)}, got {_times(got)}"
            )
    if expect.max_wait is not None:
        longest = max(result.waits, default=0.0)
        if longest > expect.max_wait + TOLERANCE:
            failures.append(
                f"max_wait: a wait of {longest:g}s, more than {expect.max_wait:g}s"
            )
    if expect.messages is not None and (
        len(expect.messages) != len(result.messages)
        or not all(
            _same_ids(a, b)
            for a, b in zip(expect.messages, result.messages, strict=False)
        )
    ):
        failures.append(
            f"messages: expected {json.dumps(list(expect.messages))}, "
            f"got {json.dumps(list(result.messages))}"
        )
    return failures


def _times(times: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{t:g}" for t in times) + "]"
