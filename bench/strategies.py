"""Every strategy the bench runs, by name, and how it runs on one workload.

Families:

- ``pollwise``: the real engine (:class:`~pollwise.engine.session.Session`
  and :func:`~pollwise.engine.runners.run_sync` on a fake clock), with the
  default policy and with the opt-in adaptive mode.
- ``naive``: what a UI does without a library: fixed-interval polling (1 s,
  and 250 ms like a frontend query library's refetch interval) and plain
  exponential backoff (1 s doubling to 8 s, never reset on progress), each
  until the status says finished or 120 s have passed.
- ``peer``: tenacity, polling2 and backoff, see :mod:`bench.peers`.
- ``frontier``: fixed-interval polling at 0.5 to 8 s through the same
  engine with pollwise's default stop rules (``multiplier`` 1, so only the
  schedule differs from pollwise's): the bar the adaptive mode is judged by.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.events import MessagesDelivered
from pollwise.engine.policy import Policy
from pollwise.engine.ports import Observer
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

from .backend import TimelineApi
from .metrics import Run, measure
from .peers import PEERS, TIME_LIMIT, PeerClient, run_peer
from .workloads import Workload

__all__ = [
    "FRONTIER_INTERVALS",
    "Strategy",
    "run_pollwise",
    "strategies",
]

#: The fixed intervals of the frontier the adaptive mode is judged against.
FRONTIER_INTERVALS: Final = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)

DEFAULT: Final = "pollwise default"
ADAPTIVE: Final = "pollwise adaptive"


@attrs.frozen
class Strategy:
    """A named way to follow a generation."""

    name: str
    family: str
    description: str
    run: Callable[[Workload], Run]


class _FirstSeen(Observer):
    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}

    def messages_delivered(self, event: MessagesDelivered) -> None:
        for message in event.messages:
            self.first_seen.setdefault(message.label, event.at)


def run_pollwise(
    name: str, policy: Policy, workload: Workload, machine: str = "table"
) -> Run:
    """Run the engine with ``policy`` on ``workload`` (fake clock, no sleeping)."""
    clock = FakeClock()
    api = TimelineApi(workload, clock)
    recorder = _FirstSeen()
    session = Session(clock, policy, observers=[recorder], machine=machine)
    outcome = run_sync(session, api)
    ended_at = session.ended_at
    assert ended_at is not None
    return measure(
        name, workload, len(api.requests), recorder.first_seen, outcome.value, ended_at
    )


def _naive(
    name: str, first_wait: float, growth: float, cap: float
) -> Callable[[Workload], Run]:
    def run(workload: Workload) -> Run:
        clock = FakeClock()
        api = TimelineApi(workload, clock)
        client = PeerClient(api)
        wait = first_wait
        while True:
            clock.advance(max(0.0, min(wait, TIME_LIMIT - api.now())))
            if client.poll() or api.now() >= TIME_LIMIT:
                break
            wait = min(cap, wait * growth)
        outcome = client.finished_as or "timed_out"
        return measure(
            name, workload, len(api.requests), client.first_seen, outcome, api.now()
        )

    return run


def _engine(name: str, policy: Policy) -> Callable[[Workload], Run]:
    return lambda workload: run_pollwise(name, policy, workload)


def _peer(name: str) -> Callable[[Workload], Run]:
    return lambda workload: run_peer(name, workload)


def frontier_name(interval: float) -> str:
    return f"fixed {interval:g}s +stop rules"


def strategies(adaptive: Policy | None = None) -> list[Strategy]:
    """Every strategy, in the order the report lists them.

    Args:
        adaptive: the adaptive policy to run (the mode's defaults if None).
    """
    adaptive = adaptive if adaptive is not None else Policy(mode="adaptive")
    found = [
        Strategy(
            DEFAULT, "pollwise", "Policy() (the contract's)", _engine(DEFAULT, Policy())
        ),
        Strategy(
            ADAPTIVE,
            "pollwise",
            "Policy(mode='adaptive')",
            _engine(ADAPTIVE, adaptive),
        ),
        Strategy(
            "fixed 1s",
            "naive",
            "poll every 1 s until finished or 120 s",
            _naive("fixed 1s", 1.0, 1.0, 1.0),
        ),
        Strategy(
            "fixed 250ms",
            "naive",
            "poll every 250 ms until finished or 120 s (a refetch interval)",
            _naive("fixed 250ms", 0.25, 1.0, 0.25),
        ),
        Strategy(
            "plain exponential",
            "naive",
            "1 s doubling to 8 s, never reset on progress, until finished or 120 s",
            _naive("plain exponential", 1.0, 2.0, 8.0),
        ),
    ]
    for name, (description, _) in PEERS.items():
        found.append(Strategy(name, "peer", description, _peer(name)))
    for interval in FRONTIER_INTERVALS:
        name = frontier_name(interval)
        policy = Policy(initial_delay=interval, multiplier=1.0, max_delay=interval)
        found.append(
            Strategy(
                name,
                "frontier",
                f"engine, Policy(initial_delay={interval:g}, multiplier=1, "
                f"max_delay={interval:g})",
                _engine(name, policy),
            )
        )
    return found
