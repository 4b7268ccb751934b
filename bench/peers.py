"""The peers, each through its own library, on the same fake backend and time.

What a user of each library writes to follow a generation: a function that
fetches the conversation, shows the messages it has not shown yet, and
returns whether the job is finished; the library calls it again and again
with its own waits until it is finished or a time limit passes.

None of the three lets a caller inject a clock, so within a peer's run
(and only there) :func:`fake_time_for_peers` replaces the time functions
the library reads with the fake clock's, through the library's own module
globals, and restores them afterwards:

- tenacity: ``tenacity.time`` (it calls ``time.monotonic()`` for
  ``stop_after_delay``); its sleep is injected the documented way,
  ``Retrying(sleep=...)``.
- polling2: ``polling2.time`` (``time.time()`` for the timeout and
  ``time.sleep()`` between calls).
- backoff: ``backoff._sync.datetime`` (``datetime.datetime.now()`` for
  ``max_time``) and ``backoff._sync.time`` (``time.sleep()``).

Jitter: backoff's default ``full_jitter`` and tenacity's random waits draw
from the module-level ``random``; the bench seeds it before every peer run
so the figures are reproducible. The peers do not read ``Retry-After``
(none of these libraries does by default): a 429 or 503 is simply "not
finished yet" to them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import random
import types
from collections.abc import Callable, Iterator
from typing import Any

import backoff
import backoff._sync
import polling2  # type: ignore[import-untyped]
import tenacity

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.answers import Response

from .backend import TimelineApi
from .metrics import Run, measure
from .workloads import Workload

__all__ = ["PEERS", "PeerClient", "fake_time_for_peers"]

#: the same overall limit as pollwise's default timeout
TIME_LIMIT = 120.0
_EPOCH = datetime.datetime(2026, 1, 1)


@contextlib.contextmanager
def fake_time_for_peers(
    now: Callable[[], float], sleep: Callable[[float], None]
) -> Iterator[None]:
    """Point the peers' time functions at a fake clock for the duration.

    Args:
        now: the fake clock's reading (seconds).
        sleep: what sleeping does (moving the fake clock on).
    """
    fake_time = types.SimpleNamespace(
        monotonic=now, time=lambda: 1767225600.0 + now(), sleep=sleep
    )
    fake_datetime = types.SimpleNamespace(
        datetime=types.SimpleNamespace(
            now=lambda: _EPOCH + datetime.timedelta(seconds=now())
        )
    )
    patches: list[tuple[Any, str, Any]] = [
        (tenacity, "time", fake_time),
        (polling2, "time", fake_time),
        (backoff._sync, "time", fake_time),
        (backoff._sync, "datetime", fake_datetime),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    try:
        for module, name, value in patches:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


class PeerClient:
    """The user's code around a peer: fetch, show new messages, say if done."""

    def __init__(self, api: TimelineApi) -> None:
        self.api = api
        self.first_seen: dict[str, float] = {}
        self.finished_as: str | None = None

    def poll(self) -> bool:
        reply = self.api.fetch(10.0)
        if not isinstance(reply, Response) or not 200 <= reply.status_code < 300:
            return False
        body = json.loads(reply.body)
        now = self.api.now()
        for message in body.get("messages", ()):
            self.first_seen.setdefault(str(message["id"]), now)
        status = str(body.get("status", "")).lower()
        if status in ("complete", "completed", "done", "succeeded", "idle"):
            self.finished_as = "done"
        elif status in ("failed", "error", "cancelled", "canceled", "expired"):
            self.finished_as = "failed"
        return self.finished_as is not None


def _tenacity(wait: Any) -> Callable[[PeerClient, FakeClock], None]:
    def run(client: PeerClient, clock: FakeClock) -> None:
        retrying = tenacity.Retrying(
            sleep=clock.advance,
            stop=tenacity.stop_after_delay(TIME_LIMIT),
            wait=wait,
            retry=tenacity.retry_if_result(lambda finished: not finished),
        )
        with contextlib.suppress(tenacity.RetryError):
            retrying(client.poll)

    return run


def _polling2(step: float, doubling: bool) -> Callable[[PeerClient, FakeClock], None]:
    step_function = polling2.step_linear_double if doubling else polling2.step_constant

    def run(client: PeerClient, clock: FakeClock) -> None:
        with contextlib.suppress(polling2.TimeoutException):
            polling2.poll(
                client.poll,
                step=step,
                timeout=TIME_LIMIT,
                step_function=step_function,
            )

    return run


def _backoff(
    factor: float, max_value: float
) -> Callable[[PeerClient, FakeClock], None]:
    def run(client: PeerClient, clock: FakeClock) -> None:
        @backoff.on_predicate(
            backoff.expo, max_time=TIME_LIMIT, factor=factor, max_value=max_value
        )
        def follow() -> bool:
            return client.poll()

        follow()

    return run


#: name -> (what it is, how to run it); each a configuration a user would pick.
PEERS: dict[str, tuple[str, Callable[[PeerClient, FakeClock], None]]] = {
    "tenacity exp 1-8s": (
        "Retrying(wait=wait_exponential(multiplier=1, max=8), "
        "stop=stop_after_delay(120), retry=retry_if_result(not finished))",
        _tenacity(tenacity.wait_exponential(multiplier=1, max=8)),
    ),
    "tenacity exp 0.25-2s": (
        "Retrying(wait=wait_exponential(multiplier=0.25, max=2), "
        "stop=stop_after_delay(120), ...)",
        _tenacity(tenacity.wait_exponential(multiplier=0.25, max=2)),
    ),
    "polling2 step 1s": (
        "poll(target, step=1, timeout=120) (constant step, its default)",
        _polling2(1.0, doubling=False),
    ),
    "polling2 doubling 0.5s": (
        "poll(target, step=0.5, step_function=step_linear_double, timeout=120)",
        _polling2(0.5, doubling=True),
    ),
    "backoff expo max 8s": (
        "on_predicate(expo, max_time=120, max_value=8) (full jitter, its default)",
        _backoff(factor=1, max_value=8),
    ),
    "backoff expo 0.5 max 2s": (
        "on_predicate(expo, max_time=120, factor=0.5, max_value=2) (full jitter)",
        _backoff(factor=0.5, max_value=2),
    ),
}


def run_peer(name: str, workload: Workload) -> Run:
    """Run the peer configuration ``name`` on ``workload``."""
    _, runner = PEERS[name]
    clock = FakeClock()
    api = TimelineApi(workload, clock)
    client = PeerClient(api)
    random.seed(f"{name}:{workload.name}")
    with fake_time_for_peers(clock.now, clock.advance):
        runner(client, clock)
    outcome = client.finished_as or "timed_out"
    return measure(
        name, workload, len(api.requests), client.first_seen, outcome, api.now()
    )
