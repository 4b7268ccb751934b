"""Every fault of the network and the server, end to end, with both runners.

Each test runs a real session (system clock, httpx) against the reference
server on 127.0.0.1 with one fault turned on, and checks the outcome and
the timing the contract gives: the schedule is
``max(min(t + w, stall deadline, timeout), t + h)``, every request is
bounded by ``min(request_timeout, timeout - send time)``, failed polls
deliver nothing, and every message arrives exactly once. Timing bounds
below are the contract's, widened by :data:`MARGIN` for a busy machine.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from livekit import (
    MARGIN,
    MODES,
    LiveRun,
    Mode,
    Trail,
    fast_policy,
    free_port,
    new_conversation,
    raw_server,
    read_request,
    reset_mid_body,
    run_live,
)

from pollwise.adapters.httpx_api import Endpoint
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.engine.events import PollAnswered, PollFailed, PollScheduled, PollSent
from pollwise.engine.outcomes import EndReason, Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.session import Session

PACE = 0.02
COUNT = 3
ALL = ["m1", "m2", "m3"]

pytestmark = pytest.mark.parametrize("mode", MODES)


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(ServerSettings(pace=PACE, count=COUNT)) as running:
        yield running


@pytest.fixture(autouse=True)
def nothing_left_behind(server: ReferenceServer) -> Iterator[None]:
    """Whatever the fault, a finished session leaves no thread of pollwise
    and no connection open to the server."""
    threads = _pollwise_threads()
    yield
    assert _pollwise_threads() <= threads
    assert [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == server.port and c.fd != -1
    ] == []


def _pollwise_threads() -> set[threading.Thread]:
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("pollwise") and "reference-server" not in t.name
    }


def watch(
    server: ReferenceServer,
    mode: Mode,
    policy: Policy | None = None,
    *,
    faults: dict[str, Any] | None = None,
    count: int | None = None,
    **endpoint: Any,
) -> LiveRun:
    """Trigger a new conversation with ``faults`` and follow it to its end."""
    body: dict[str, Any] = {"faults": faults or {}}
    if count is not None:
        body["count"] = count
    conversation = new_conversation(server.url, **body)
    target = Endpoint.for_conversation(server.url, conversation, **endpoint)
    return run_live(target, policy or fast_policy(), mode)


def assert_between(value: float, low: float, high: float) -> None:
    assert low - 1e-9 <= value <= high + MARGIN, (value, low, high)


def gap_after_first_failure(run: LiveRun) -> tuple[float, float]:
    """(the hint scheduled after the first failed poll, the wait it caused)."""
    failed = run.trail.of(PollFailed)[0]
    scheduled = next(e for e in run.trail.of(PollScheduled) if e.at == failed.at)
    sent = next(e for e in run.trail.of(PollSent) if e.number == failed.number + 1)
    return scheduled.schedule.hint, sent.at - failed.at


# -- the network -----------------------------------------------------------------


def test_a_refused_trigger_fails_at_once_with_no_poll(mode: Mode) -> None:
    """Nothing listens: the trigger (never retried) fails, the session ends."""
    endpoint = Endpoint.for_conversation(f"http://127.0.0.1:{free_port()}", "c")

    run = run_live(endpoint, fast_policy(), mode)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TRIGGER_FAILED)
    assert run.polls == 0
    assert run.took < MARGIN


def test_refused_polls_fail_the_session_after_max_consecutive_errors(
    mode: Mode,
) -> None:
    """Each refused poll fails; the third in a row ends it at 0.02+0.04+0.08."""
    endpoint = Endpoint(poll_url=f"http://127.0.0.1:{free_port()}/job")

    run = run_live(endpoint, fast_policy(), mode, trigger=False)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert run.polls == 3
    assert all(reason.startswith("connect") for reason in run.trail.failures())
    assert_between(run.ended_at, 0.14, 0.14)


def test_a_connection_cut_mid_body_fails_the_poll_and_the_next_recovers(
    server: ReferenceServer, mode: Mode
) -> None:
    """The server announces a body, sends half and closes: a reset."""
    run = watch(server, mode, faults={"cut": 2})

    assert run.outcome is Outcome.DONE
    assert run.failed_polls == 2
    assert all(reason.startswith("reset") for reason in run.trail.failures())
    assert run.trail.delivered() == ALL


def test_a_tcp_reset_mid_body_is_a_failed_poll(mode: Mode) -> None:
    """A real RST (SO_LINGER 0) halfway through a body: failed, never fatal."""
    with raw_server(reset_mid_body) as raw:
        endpoint = Endpoint(poll_url=f"{raw.url}/job")
        run = run_live(endpoint, fast_policy(), mode, trigger=False)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert all(reason.startswith("reset") for reason in run.trail.failures())
    assert run.trail.delivered() == []


def test_a_server_that_never_answers_is_cut_off_at_the_deadline(
    server: ReferenceServer, mode: Mode
) -> None:
    """request_timeout 10 but timeout 0.5: the poll sent at 0.02 may take
    only 0.48, so the session ends timed out at 0.5, not at 10."""
    policy = fast_policy(timeout=0.5, request_timeout=10.0)

    run = watch(server, mode, policy, faults={"hang": 10**6})

    assert (run.outcome, run.reason) == (Outcome.TIMED_OUT, EndReason.DEADLINE)
    assert run.polls == 1
    assert run.trail.failures()[0].startswith("timeout")
    assert_between(run.ended_at, 0.5, 0.5)


def test_one_unanswered_poll_times_out_and_the_next_recovers(
    server: ReferenceServer, mode: Mode
) -> None:
    """The first GET hangs past request_timeout 0.2; the next one answers."""
    run = watch(server, mode, fast_policy(request_timeout=0.2), faults={"hang": 1})

    assert run.outcome is Outcome.DONE
    assert run.failed_polls == 1
    assert run.trail.delivered() == ALL
    # poll 1 at 0.02 times out at 0.22; poll 2 goes at 0.22 + 0.04
    assert_between(run.ended_at, 0.26, 0.26)


def test_a_slow_drip_of_bytes_never_holds_a_poll_past_its_timeout(
    server: ReferenceServer, mode: Mode
) -> None:
    """One byte every 0.2 s: each poll is cut off at request_timeout (0.25)
    and the last one at the deadline (1.0), so the session ends on time."""
    policy = fast_policy(timeout=1.0, request_timeout=0.25, max_consecutive_errors=10)

    run = watch(server, mode, policy, faults={"drip": 0.2})

    assert (run.outcome, run.reason) == (Outcome.TIMED_OUT, EndReason.DEADLINE)
    assert all(reason.startswith("timeout") for reason in run.trail.failures())
    assert 1.0 - 1e-9 <= run.ended_at <= 1.0 + 0.15
    sends, failures = run.trail.of(PollSent), run.trail.of(PollFailed)
    for sent, failed in zip(sends, failures, strict=True):
        assert failed.at - sent.at <= sent.request_timeout + 0.15


def test_a_slow_answer_within_the_request_timeout_is_waited_for(
    server: ReferenceServer, mode: Mode
) -> None:
    """slow 0.05 < request_timeout: every poll is answered, just later."""
    run = watch(server, mode, faults={"slow": 0.05})

    assert run.outcome is Outcome.DONE
    assert run.failed_polls == 0
    assert run.trail.delivered() == ALL


def test_a_slow_answer_past_the_request_timeout_fails_each_poll(
    server: ReferenceServer, mode: Mode
) -> None:
    """slow 0.3 > request_timeout 0.05: three timeouts in a row fail it."""
    run = watch(server, mode, fast_policy(request_timeout=0.05), faults={"slow": 0.3})

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert all(reason.startswith("timeout") for reason in run.trail.failures())
    # polls at 0.02, 0.11, 0.24 (each 0.05 long), the last ending at 0.29
    assert_between(run.ended_at, 0.29, 0.29)


# -- server errors ---------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_that_recovers_ends_done(
    server: ReferenceServer, mode: Mode, status: int
) -> None:
    """Two 5xx in a row (fewer than max_consecutive_errors 3), then answers."""
    faults = {"burst_503": 2, "burst_status": status}

    run = watch(server, mode, faults=faults)

    assert run.outcome is Outcome.DONE
    assert run.trail.failures() == [f"HTTP {status}"] * 2
    assert run.trail.delivered() == ALL
    # 5xx at 0.02 and 0.06; the third poll at 0.14 finds it complete
    assert_between(run.ended_at, 0.14, 0.14)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_burst_of_server_errors_that_lasts_fails_the_session(
    server: ReferenceServer, mode: Mode, status: int
) -> None:
    """5xx for ever: failed after max_consecutive_errors (3) polls."""
    faults = {"burst_503": 10**6, "burst_status": status}

    run = watch(server, mode, faults=faults)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert run.polls == 3
    assert run.trail.delivered() == []
    assert_between(run.ended_at, 0.14, 0.14)


# -- rate limits and their hints ------------------------------------------------

HINTS = [
    # (faults of the 429, max_retry_after, the hint the contract reads, clamped)
    pytest.param({"retry_after": "0.25"}, 0.3, 0.25, id="seconds"),
    pytest.param({"retry_after": "1"}, 0.3, 0.3, id="seconds-clamped"),
    pytest.param({"retry_after_date": 1}, 5.0, 1.0, id="http-date"),
    pytest.param({"retry_after_date": -30}, 0.3, 0.0, id="http-date-in-the-past"),
    pytest.param({"retry_after": "soon"}, 0.3, 0.0, id="garbage"),
    pytest.param({"retry_after": "-3"}, 0.3, 0.0, id="negative"),
    pytest.param({"retry_after": "1e1"}, 0.3, 0.0, id="exponent"),
    pytest.param({"retry_after": "9" * 40}, 0.3, 0.3, id="huge"),
    pytest.param({"retry_after_ms": "250"}, 0.3, 0.25, id="retry-after-ms"),
    pytest.param(
        {"retry_after_ms": "150", "retry_after": "0.28"}, 0.3, 0.15, id="ms-wins"
    ),
    pytest.param(
        {"retry_after_ms": "soon", "retry_after": "0.28"},
        0.3,
        0.28,
        id="garbage-ms-yields",
    ),
]


@pytest.mark.parametrize(("hint_faults", "clamp", "hint"), HINTS)
def test_a_429_hint_is_read_clamped_and_waited_for(
    server: ReferenceServer,
    mode: Mode,
    hint_faults: dict[str, Any],
    clamp: float,
    hint: float,
) -> None:
    """The poll after a 429 waits max(backoff, hint); the hint is exact."""
    faults = {"rate_limit": 1, **hint_faults}
    policy = fast_policy(max_retry_after=clamp)

    run = watch(server, mode, policy, faults=faults)

    assert run.outcome is Outcome.DONE
    assert run.trail.failures() == ["HTTP 429"]
    scheduled_hint, waited = gap_after_first_failure(run)
    assert scheduled_hint == pytest.approx(hint, abs=1e-9)
    expected = max(0.04, hint)
    assert expected - 1e-9 <= waited <= expected + MARGIN
    assert run.trail.delivered() == ALL


def test_a_hint_past_the_timeout_ends_the_session_at_once(
    server: ReferenceServer, mode: Mode
) -> None:
    """A huge Retry-After (clamped to 60) reaches past timeout 2: timed out at
    the 429, with no further request."""
    policy = fast_policy(timeout=2.0, max_retry_after=60.0)

    run = watch(server, mode, policy, faults={"rate_limit": 5, "retry_after": "9" * 40})

    assert (run.outcome, run.reason) == (
        Outcome.TIMED_OUT,
        EndReason.HINT_PAST_DEADLINE,
    )
    assert run.polls == 1
    assert run.took < MARGIN


# -- redirects, sizes and encodings ----------------------------------------------


@pytest.mark.parametrize(
    "faults", [{"redirects": 2}, {"redirects": 6}, {"redirect_loop": True}]
)
def test_a_redirect_ends_the_session_failed_at_the_first_poll(
    server: ReferenceServer, mode: Mode, faults: dict[str, object]
) -> None:
    """A 307 is fatal (the contract: any 3xx but 304), followed or not by
    more: the adapter does not follow it. It followed five, and a loop or
    a longer chain failed each poll until max_consecutive_errors."""
    run = watch(server, mode, faults=faults)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.FATAL_ANSWER)
    assert run.polls == 1
    assert run.trail.delivered() == []


def test_a_body_over_the_size_limit_fails_each_poll(
    server: ReferenceServer, mode: Mode
) -> None:
    """2000 bytes of padding against a 1000-byte limit: too large, failed."""
    run = watch(server, mode, faults={"pad": 2000}, max_body_bytes=1000)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert all(reason.startswith("too_large") for reason in run.trail.failures())


def test_the_size_limit_applies_after_decompression(
    server: ReferenceServer, mode: Mode
) -> None:
    """100 kB of padding gzips to a few hundred bytes; still too large."""
    faults = {"pad": 100_000, "gzip": True}

    run = watch(server, mode, faults=faults, max_body_bytes=10_000)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert all(reason.startswith("too_large") for reason in run.trail.failures())


def test_a_gzip_body_is_read_like_any_other(
    server: ReferenceServer, mode: Mode
) -> None:
    run = watch(server, mode, faults={"gzip": True})

    assert run.outcome is Outcome.DONE
    assert run.failed_polls == 0
    assert run.trail.delivered() == ALL


# -- bodies of the wrong kind -----------------------------------------------------


def test_an_html_error_page_with_status_200_is_a_failed_poll(
    server: ReferenceServer, mode: Mode
) -> None:
    """ "<html>..." with 200 is not JSON: failed, then the session recovers."""
    run = watch(server, mode, faults={"unreadable": 2})

    assert run.outcome is Outcome.DONE
    assert run.trail.failures() == ["body is not JSON"] * 2
    assert run.trail.delivered() == ALL


@pytest.mark.parametrize("shape", ["list", "string"])
def test_a_json_list_or_string_is_no_news(
    server: ReferenceServer, mode: Mode, shape: str
) -> None:
    """A bare list or string has no status and no messages path: readable,
    no news; for ever of it stalls the session at stall_after."""
    policy = fast_policy(stall_after=0.3)

    run = watch(server, mode, policy, faults={"wrong_shape": 10**6, "shape": shape})

    assert (run.outcome, run.reason) == (Outcome.STALLED, EndReason.STALLED)
    assert run.failed_polls == 0
    assert run.trail.delivered() == []
    assert_between(run.ended_at, 0.3, 0.3)


def test_messages_that_are_not_a_list_fail_the_poll(
    server: ReferenceServer, mode: Mode
) -> None:
    """ "messages": {...}: failed (nothing read from it); then recovers."""
    faults = {"wrong_shape": 2, "shape": "messages-object"}

    run = watch(server, mode, faults=faults)

    assert run.outcome is Outcome.DONE
    assert run.trail.failures() == ["messages are a dict, not a list"] * 2
    assert run.trail.delivered() == ALL


def test_a_null_status_is_no_news_but_its_messages_count(
    server: ReferenceServer, mode: Mode
) -> None:
    """ "status": null for ever: every message arrives once, then the quiet
    period stalls the session 0.3 s after the last one."""
    policy = fast_policy(stall_after=0.3)
    faults = {"wrong_shape": 10**6, "shape": "null-status"}

    run = watch(server, mode, policy, faults=faults)

    assert (run.outcome, run.reason) == (Outcome.STALLED, EndReason.STALLED)
    assert run.trail.delivered() == ALL
    last_progress = max(e.at for e in run.trail.of(PollAnswered) if e.has_progress)
    assert_between(run.ended_at, last_progress + 0.3, last_progress + 0.3)


def test_ids_of_mixed_types_are_all_different_messages(
    server: ReferenceServer, mode: Mode
) -> None:
    """Ids 1, "1", 2, "2": four messages, each delivered once, in order."""
    run = watch(server, mode, faults={"mixed_ids": True}, count=4)

    assert run.outcome is Outcome.DONE
    assert run.trail.delivered() == [1, "1", 2, "2"]


# -- the server goes away --------------------------------------------------------


def _stop_then_start(server: ReferenceServer, *, keep_conversations: bool) -> Any:
    port = server.port

    def during(session: Session, trail: Trail) -> None:
        assert trail.first_message.wait(5)
        server.stop()
        trail.a_poll_failed.clear()
        assert trail.a_poll_failed.wait(5) or session.is_ended
        server.start(port=port, keep_conversations=keep_conversations)

    return during


def test_a_server_restarted_mid_session_with_its_memory_is_followed_to_done(
    mode: Mode,
) -> None:
    """Polls fail while it is down (connection refused); once it is back
    with the conversation, the generation goes on: done, each message once."""
    with ReferenceServer(ServerSettings(pace=0.05, count=6)) as server:
        conversation = new_conversation(server.url)
        endpoint = Endpoint.for_conversation(server.url, conversation)
        policy = fast_policy(max_consecutive_errors=10)

        run = run_live(
            endpoint,
            policy,
            mode,
            during=_stop_then_start(server, keep_conversations=True),
        )

    assert run.outcome is Outcome.DONE
    assert run.failed_polls >= 1
    assert run.trail.delivered() == [f"m{k}" for k in range(1, 7)]


def test_a_server_restarted_without_its_memory_fails_the_session(
    mode: Mode,
) -> None:
    """Back, but the conversation is gone: its 404 is fatal, at once."""
    with ReferenceServer(ServerSettings(pace=0.05, count=6)) as server:
        conversation = new_conversation(server.url)
        endpoint = Endpoint.for_conversation(server.url, conversation)
        policy = fast_policy(max_consecutive_errors=10)

        run = run_live(
            endpoint,
            policy,
            mode,
            during=_stop_then_start(server, keep_conversations=False),
        )

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.FATAL_ANSWER)
    assert run.trail.failures()[-1] == "HTTP 404"
    delivered = run.trail.delivered()
    assert delivered == [f"m{k}" for k in range(1, len(delivered) + 1)]


def test_a_conversation_deleted_mid_session_ends_it_failed_at_the_next_poll(
    server: ReferenceServer, mode: Mode
) -> None:
    """A 404 is fatal: the poll after the DELETE ends the session."""
    conversation = new_conversation(server.url, pace=0.05, count=6)
    endpoint = Endpoint.for_conversation(server.url, conversation)

    def during(session: Session, trail: Trail) -> None:
        assert trail.first_message.wait(5)
        gone = httpx.delete(f"{server.url}/conversations/{conversation}")
        assert gone.status_code == 204

    run = run_live(endpoint, fast_policy(), mode, during=during)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.FATAL_ANSWER)
    assert run.trail.failures() == ["HTTP 404"]
    assert run.trail.of(PollFailed)[0].number == run.polls


def test_a_server_that_closes_without_answering_is_a_failed_poll(mode: Mode) -> None:
    """Accept, read the request, close: a reset, never a crash."""

    def close_at_once(connection: socket.socket) -> None:
        read_request(connection)

    with raw_server(close_at_once) as raw:
        endpoint = Endpoint(poll_url=f"{raw.url}/job")
        run = run_live(endpoint, fast_policy(), mode, trigger=False)

    assert (run.outcome, run.reason) == (Outcome.FAILED, EndReason.TOO_MANY_ERRORS)
    assert all(reason.startswith("reset") for reason in run.trail.failures())


# -- the deadline on the real clock ---------------------------------------------

#: Faults that keep a session busy until its deadline, each in its own way.
DEADLINE_FAULTS: list[dict[str, Any]] = [
    {"hang": 10**6},
    {"drip": 0.15},
    {"slow": 10.0},
    {"burst_503": 10**6},
    {"stall_after": 1},
    {"rate_limit": 10**6, "retry_after": "0.05"},
]


def test_the_worst_deadline_overshoot_on_the_real_clock_is_small(
    server: ReferenceServer, mode: Mode, record_property: Any
) -> None:
    """Sessions whose server never lets them finish end at their timeout;
    how late (ended_at - timeout) is measured and reported
    (``pytest tests/test_faults.py -k overshoot -s``)."""
    overshoots: list[float] = []
    for index, faults in enumerate(DEADLINE_FAULTS):
        timeout = 0.15 + 0.05 * (index % 4)
        policy = fast_policy(
            timeout=timeout, request_timeout=0.12, max_consecutive_errors=100
        )
        run = watch(server, mode, policy, faults=faults)
        assert run.outcome is Outcome.TIMED_OUT, (faults, run.reason)
        if run.reason is EndReason.DEADLINE:
            assert run.ended_at >= timeout
        overshoots.append(run.ended_at - timeout)

    worst = max(overshoots)
    record_property("worst_deadline_overshoot_s", worst)
    print(f"\nworst deadline overshoot ({mode}): {worst * 1000:.1f} ms")
    assert worst < 0.1
