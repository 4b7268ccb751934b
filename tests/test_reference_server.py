"""The reference conversation server: its pure model, then the real app over HTTP.

The model tests move a :class:`FakeClock` and never sleep. The HTTP tests
talk to one real uvicorn server on 127.0.0.1 with a fast pace (0.05 s,
three messages), so a whole generation lasts 0.15 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.reference_faults import rate_limit_headers, wrong_shape
from pollwise.adapters.reference_model import (
    MAX_CONVERSATIONS,
    Conversation,
    ConversationStore,
    Generation,
    GenerationRunningError,
    GetFault,
    Overrides,
)
from pollwise.adapters.reference_server import (
    FAULT_NAMES,
    UNREADABLE_BODY,
    Faults,
    ReferenceServer,
    ServerError,
    ServerSettings,
    SettingsError,
    serve_forever,
)
from pollwise.engine.errors import PollingError

PACE = 0.05
COUNT = 3

# -- the model, on a fake clock ---------------------------------------------


def generation(
    *, pace: float = 1.0, count: int = 3, faults: Faults | None = None
) -> Generation:
    return Generation(
        started_at=100.0,
        wall_started_at=1767225600.0,
        first_number=1,
        pace=pace,
        count=count,
        faults=faults if faults is not None else Faults(),
    )


@pytest.mark.parametrize(
    ("elapsed", "available", "status"),
    [
        (0.0, 0, "generating"),
        (0.999, 0, "generating"),
        (1.0, 1, "generating"),
        (2.5, 2, "generating"),
        (3.0, 3, "complete"),
        (1e6, 3, "complete"),
    ],
)
def test_message_k_appears_at_k_paces_and_the_last_completes(
    elapsed: float, available: int, status: str
) -> None:
    """Message k is available at start + k * pace; complete at start + count * pace."""
    gen = generation()

    assert gen.available(100.0 + elapsed) == available
    assert gen.status(100.0 + elapsed) == status


@given(
    start=st.floats(0, 1e6),
    pace=st.floats(1e-3, 10),
    k=st.integers(0, 50),
)
def test_message_k_is_available_exactly_at_its_due_time(
    start: float, pace: float, k: int
) -> None:
    """Rounding never hides a message at its own due time, nor shows one early."""
    gen = Generation(
        started_at=start,
        wall_started_at=0.0,
        first_number=1,
        pace=pace,
        count=50,
        faults=Faults(),
    )

    assert gen.available(gen.due(k)) == k
    if k > 0:
        assert gen.available(gen.due(k) - pace / 2) == k - 1


@pytest.mark.parametrize(
    ("faults", "timeline"),
    [
        (
            Faults(stall_after=2),
            [(1, 1, "generating"), (2, 2, "generating"), (1e6, 2, "generating")],
        ),
        (
            Faults(stall_after=9),
            [(3, 3, "generating"), (1e6, 3, "generating")],
        ),
        (
            Faults(fail_after=1),
            [(1, 1, "generating"), (1.99, 1, "generating"), (2, 1, "failed")],
        ),
        (
            Faults(fail_after=0),
            [(0, 0, "generating"), (1, 0, "failed")],
        ),
        (
            Faults(fail_after=3),
            [(3, 3, "generating"), (4, 3, "failed")],
        ),
    ],
)
def test_stall_and_fail_replace_the_completion(
    faults: Faults, timeline: list[tuple[float, int, str]]
) -> None:
    """A stall stays "generating"; a failure comes one pace after the last message."""
    gen = generation(faults=faults)

    for elapsed, available, status in timeline:
        assert (gen.available(100 + elapsed), gen.status(100 + elapsed)) == (
            available,
            status,
        )


def test_a_zero_pace_or_count_finishes_at_once() -> None:
    """Pace 0 shows every message at the start; count 0 completes with none."""
    assert generation(pace=0.0).available(100.0) == 3
    assert generation(pace=0.0).status(100.0) == "complete"
    assert generation(count=0).messages(100.0) == []
    assert generation(count=0).status(100.0) == "complete"


def test_messages_carry_ids_role_content_and_their_due_wall_time() -> None:
    """created_at is the wall time at start plus k paces, in ISO-8601 UTC."""
    messages = generation(pace=1.5).messages(100.0 + 3.0)

    assert [m["id"] for m in messages] == ["m1", "m2"]
    assert {m["role"] for m in messages} == {"assistant"}
    assert all(isinstance(m["content"], str) and m["content"] for m in messages)
    assert [m["created_at"] for m in messages] == [
        "2026-01-01T00:00:01.500Z",
        "2026-01-01T00:00:03.000Z",
    ]


def conversation(**faults: Any) -> Conversation:
    return Conversation("c1", pace=1.0, count=2, faults=Faults(**faults))


def test_a_second_generation_appends_after_the_first() -> None:
    """Ids keep counting across generations; earlier messages stay first."""
    clock = FakeClock()
    conv = conversation()
    assert conv.status(clock.now()) == "idle"

    conv.start_generation(Overrides(), clock.now(), clock.wall_time())
    clock.advance(2.0)
    conv.start_generation(Overrides(count=1), clock.now(), clock.wall_time())
    clock.advance(1.0)
    snapshot = conv.snapshot(clock.now())

    assert snapshot["status"] == "complete"
    assert [m["id"] for m in snapshot["messages"]] == ["m1", "m2", "m3"]


def test_a_generation_cannot_start_while_one_is_generating() -> None:
    """Refused while generating (a stalled one always is); allowed after a failure."""
    clock = FakeClock()
    stalled = conversation(stall_after=1)
    stalled.start_generation(Overrides(), clock.now(), clock.wall_time())
    failing = conversation(fail_after=1)
    failing.start_generation(Overrides(), clock.now(), clock.wall_time())
    clock.advance(1e6)

    with pytest.raises(GenerationRunningError):
        stalled.start_generation(Overrides(), clock.now(), clock.wall_time())
    failing.start_generation(Overrides(faults=Faults()), clock.now(), clock.wall_time())
    clock.advance(2.0)
    assert [m["id"] for m in failing.snapshot(clock.now())["messages"]] == [
        "m1",
        "m2",
        "m3",
    ]


@pytest.mark.parametrize(
    ("faults", "answers"),
    [
        (Faults(), ["none", "none"]),
        (Faults(burst_503=2), ["503", "503", "none"]),
        (
            Faults(burst_503=1, rate_limit=2, unreadable=1),
            ["503", "429", "429", "unreadable", "none"],
        ),
        (Faults(rate_limit=1, unreadable=1), ["429", "unreadable", "none"]),
    ],
)
def test_get_faults_come_503_first_then_429_then_unreadable(
    faults: Faults, answers: list[str]
) -> None:
    """Each fault answers its own share of the first GETs, in a fixed order."""
    assert [
        faults.fault_for_get(n).value for n in range(1, len(answers) + 1)
    ] == answers


def test_gets_are_counted_per_generation_and_not_before_one() -> None:
    """No fault before a generation; each generation counts its GETs afresh."""
    clock = FakeClock()
    conv = conversation(rate_limit=1)

    assert conv.count_get() is GetFault.NONE
    conv.start_generation(Overrides(), clock.now(), clock.wall_time())
    assert [conv.count_get(), conv.count_get()] == [
        GetFault.RATE_LIMITED,
        GetFault.NONE,
    ]
    clock.advance(2.0)
    conv.start_generation(Overrides(), clock.now(), clock.wall_time())
    assert conv.count_get() is GetFault.RATE_LIMITED


def test_the_store_applies_settings_overrides_and_forgets_the_oldest() -> None:
    """Conversations take the settings unless overridden; the store stays bounded."""
    clock = FakeClock()
    store = ConversationStore(
        ServerSettings(pace=1.0, count=1), now=clock.now, wall_time=clock.wall_time
    )
    first = store.create()["id"]
    quick = store.create(Overrides(pace=0.5, count=2))["id"]

    assert store.generate(quick, Overrides()) == "generating"
    clock.advance(1.0)
    snapshot = store.snapshot(quick)
    assert snapshot is not None
    assert (snapshot["status"], len(snapshot["messages"])) == ("complete", 2)
    assert store.generate("nope", Overrides()) is None
    assert store.delete(first) is True
    for _ in range(MAX_CONVERSATIONS):
        store.create()
    assert store.snapshot(quick) is None


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["stall"], Faults(stall_after=2)),
        (["fail"], Faults(fail_after=2)),
        (["rate-limit"], Faults(rate_limit=2)),
        (["503"], Faults(burst_503=3)),
        (["503-forever"], Faults(burst_503=10**6)),
        (["slow"], Faults(slow=0.3)),
        (["unreadable"], Faults(unreadable=2)),
        (["slow", "rate-limit", "503"], Faults(slow=0.3, rate_limit=2, burst_503=3)),
        ([], Faults()),
    ],
)
def test_fault_names_are_shorthands(names: list[str], expected: Faults) -> None:
    """Every CLI shorthand sets one knob; names combine."""
    assert Faults.from_names(names) == expected


def test_fault_names_lists_every_shorthand() -> None:
    """FAULT_NAMES is what from_names accepts."""
    assert FAULT_NAMES == (
        "stall",
        "fail",
        "rate-limit",
        "503",
        "503-forever",
        "slow",
        "unreadable",
        "500",
        "502",
        "504",
        "hang",
        "hang-forever",
        "drip",
        "cut",
        "redirect",
        "redirect-loop",
        "oversize",
        "gzip",
        "wrong-shape",
        "null-status",
        "mixed-ids",
    )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Faults.from_names(["nope"]), "faults"),
        (lambda: Faults.from_names(["stall", "fail"]), "fail_after"),
        (lambda: Faults.from_mapping({"stall": 1}), "stall"),
        (lambda: Faults.from_mapping({"rate_limit": -1}), "rate_limit"),
        (lambda: Faults.from_mapping({"rate_limit": 1.5}), "rate_limit"),
        (lambda: Faults.from_mapping({"unreadable": True}), "unreadable"),
        (lambda: Faults.from_mapping({"slow": float("nan")}), "slow"),
        (lambda: Faults.from_mapping({"slow": "1"}), "slow"),
        (lambda: ServerSettings(pace=-0.1), "pace"),
        (lambda: ServerSettings(count=10**6), "count"),
    ],
)
def test_bad_faults_and_settings_are_refused_naming_the_field(
    build: Callable[[], object], field: str
) -> None:
    """A refused value raises SettingsError, a ValueError naming the field."""
    with pytest.raises(SettingsError) as caught:
        build()

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PollingError)


@pytest.mark.parametrize("names", [[name] for name in FAULT_NAMES])
def test_faults_round_trip_through_a_mapping(names: list[str]) -> None:
    """to_mapping gives what from_mapping (and a request body) reads back."""
    faults = Faults.from_names(names)

    assert Faults.from_mapping(faults.to_mapping()) == faults


def test_from_mapping_accepts_whole_floats_and_omits_nothing() -> None:
    """2.0 is a whole number (as JSON may write it); omitted keys are off."""
    assert Faults.from_mapping({"burst_503": 2.0, "slow": 1}) == Faults(
        burst_503=2, slow=1
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", Overrides()),
        (b"  \n", Overrides()),
        (b'{"pace": 0.5, "count": 2}', Overrides(pace=0.5, count=2)),
        (b'{"faults": ["stall"]}', Overrides(faults=Faults(stall_after=2))),
        (b'{"faults": {"slow": 0.1}}', Overrides(faults=Faults(slow=0.1))),
    ],
)
def test_a_request_body_overrides_pace_count_and_faults(
    body: bytes, expected: Overrides
) -> None:
    """An empty body changes nothing; faults may be names or an object."""
    assert Overrides.from_json(body) == expected


# -- the real server over HTTP ----------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer(
        ServerSettings(pace=PACE, count=COUNT, retry_after="3")
    ) as running:
        yield running


@pytest.fixture
def client(server: ReferenceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http


def create(client: httpx.Client, **body: Any) -> str:
    answer = client.post("/conversations", json=body or None)
    assert answer.status_code == 201
    conversation_id: str = answer.json()["id"]
    return conversation_id


def start(client: httpx.Client, conversation_id: str, **body: Any) -> httpx.Response:
    return client.post(
        f"/conversations/{conversation_id}/generate-sequence", json=body or None
    )


def read(client: httpx.Client, conversation_id: str) -> httpx.Response:
    return client.get(f"/conversations/{conversation_id}")


def wait_until(
    client: httpx.Client, conversation_id: str, done: Callable[[Any], bool]
) -> list[Any]:
    """Poll every 10 ms (at most 2 s) until ``done(body)``; returns every body."""
    bodies: list[Any] = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        bodies.append(read(client, conversation_id).json())
        if done(bodies[-1]):
            return bodies
        time.sleep(0.01)
    raise AssertionError(f"never done; last answer {bodies[-1]!r}")


def test_health_answers_ok(client: httpx.Client) -> None:
    """GET /health is a 200 {"ok": true}."""
    assert client.get("/health").json() == {"ok": True}


def test_a_new_conversation_is_idle_and_empty(client: httpx.Client) -> None:
    """POST /conversations answers 201 with a short id, status idle, no messages."""
    answer = client.post("/conversations")
    body = answer.json()

    assert answer.status_code == 201
    assert body == {"id": body["id"], "status": "idle", "messages": []}
    assert answer.headers["location"] == f"/conversations/{body['id']}"
    assert 1 <= len(body["id"]) <= 16
    assert read(client, body["id"]).json() == body


def test_generate_answers_202_and_is_generating_at_first(client: httpx.Client) -> None:
    """The trigger answers 202; right after it nothing is available yet."""
    conversation_id = create(client, pace=5.0)

    answer = start(client, conversation_id)

    assert answer.status_code == 202
    assert answer.json() == {"id": conversation_id, "status": "generating"}
    assert read(client, conversation_id).json()["status"] == "generating"
    assert read(client, conversation_id).json()["messages"] == []


def test_messages_appear_in_order_until_complete(client: httpx.Client) -> None:
    """Each answer extends the last; m1..m3 with rising created_at, then complete."""
    conversation_id = create(client)
    start(client, conversation_id)

    bodies = wait_until(client, conversation_id, lambda b: b["status"] == "complete")

    final = bodies[-1]["messages"]
    assert [m["id"] for m in final] == ["m1", "m2", "m3"]
    assert {m["role"] for m in final} == {"assistant"}
    stamps = [datetime.fromisoformat(m["created_at"]) for m in final]
    assert stamps == sorted(stamps)
    assert all(stamp.utcoffset() is not None for stamp in stamps)
    for body in bodies:
        assert body["messages"] == final[: len(body["messages"])]
        assert body["status"] in {"generating", "complete"}


def test_a_generation_after_completion_appends(client: httpx.Client) -> None:
    """A second generation's messages follow the first's; its body overrides apply."""
    conversation_id = create(client, pace=0.0)
    start(client, conversation_id)

    assert start(client, conversation_id, count=1).status_code == 202

    body = read(client, conversation_id).json()
    assert body["status"] == "complete"
    assert [m["id"] for m in body["messages"]] == ["m1", "m2", "m3", "m4"]


def test_a_second_generate_while_generating_is_409(client: httpx.Client) -> None:
    """Only one generation runs at a time."""
    conversation_id = create(client, pace=5.0)
    start(client, conversation_id)

    answer = start(client, conversation_id)

    assert answer.status_code == 409
    assert "generating" in answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/conversations/nope"),
        ("DELETE", "/conversations/nope"),
        ("POST", "/conversations/nope/generate-sequence"),
        ("GET", "/no/such/route"),
    ],
)
def test_unknown_ids_and_routes_answer_404_json(
    client: httpx.Client, method: str, path: str
) -> None:
    """404 with a JSON error body."""
    answer = client.request(method, path)

    assert answer.status_code == 404
    assert "error" in answer.json()


def test_a_deleted_conversation_is_gone(client: httpx.Client) -> None:
    """DELETE answers 204; later GETs and triggers answer 404."""
    conversation_id = create(client)
    start(client, conversation_id)

    assert client.delete(f"/conversations/{conversation_id}").status_code == 204
    assert read(client, conversation_id).status_code == 404
    assert start(client, conversation_id).status_code == 404


def test_a_stalled_generation_stops_and_never_completes(client: httpx.Client) -> None:
    """stall_after=1: one message, then "generating" for good (and 409 on a retry)."""
    conversation_id = create(client, faults={"stall_after": 1})
    start(client, conversation_id)
    wait_until(client, conversation_id, lambda b: len(b["messages"]) == 1)

    time.sleep(4 * PACE)

    body = read(client, conversation_id).json()
    assert body["status"] == "generating"
    assert [m["id"] for m in body["messages"]] == ["m1"]
    assert start(client, conversation_id).status_code == 409


def test_a_failing_generation_ends_failed(client: httpx.Client) -> None:
    """fail_after=1: one message, then status "failed"."""
    conversation_id = create(client)
    start(client, conversation_id, faults={"fail_after": 1})

    bodies = wait_until(client, conversation_id, lambda b: b["status"] == "failed")

    assert [m["id"] for m in bodies[-1]["messages"]] == ["m1"]


def test_rate_limit_answers_429_with_retry_after(client: httpx.Client) -> None:
    """The first GETs after the trigger are 429s with the configured Retry-After."""
    conversation_id = create(client, faults=["rate-limit"])
    assert read(client, conversation_id).status_code == 200  # before the trigger
    start(client, conversation_id)

    answers = [read(client, conversation_id) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert [a.headers.get("retry-after") for a in answers[:2]] == ["3", "3"]
    assert "error" in answers[0].json()


def test_a_503_burst_recovers(client: httpx.Client) -> None:
    """burst_503=2: two 503s with a JSON error, then normal answers."""
    conversation_id = create(client, faults={"burst_503": 2})
    start(client, conversation_id)

    answers = [read(client, conversation_id) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert "error" in answers[0].json()
    assert answers[2].json()["id"] == conversation_id


def test_unreadable_answers_are_200s_that_are_not_json(client: httpx.Client) -> None:
    """unreadable=1: one 200 with an HTML body, then JSON again."""
    conversation_id = create(client, faults={"unreadable": 1})
    start(client, conversation_id)

    first, second = read(client, conversation_id), read(client, conversation_id)

    assert (first.status_code, first.text) == (200, UNREADABLE_BODY)
    assert second.json()["id"] == conversation_id


def test_combined_faults_answer_in_order(client: httpx.Client) -> None:
    """503 first, then 429, then unreadable, then normal."""
    faults = {"burst_503": 1, "rate_limit": 1, "unreadable": 1}
    conversation_id = create(client)
    start(client, conversation_id, faults=faults)

    answers = [read(client, conversation_id) for _ in range(4)]

    assert [a.status_code for a in answers] == [503, 429, 200, 200]
    assert answers[2].text == UNREADABLE_BODY
    assert answers[3].json()["id"] == conversation_id


def test_slow_delays_every_get(client: httpx.Client) -> None:
    """slow=0.2: a GET takes at least 0.2 s, before and after the trigger."""
    conversation_id = create(client, faults={"slow": 0.2})

    began = time.monotonic()
    read(client, conversation_id)
    start(client, conversation_id)
    read(client, conversation_id)

    assert time.monotonic() - began >= 0.4


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"colour": "red"}', "colour"),
        (b'{"pace": -1}', "pace"),
        (b'{"pace": "fast"}', "pace"),
        (b'{"count": 1.5}', "count"),
        (b'{"count": true}', "count"),
        (b'{"count": 1000000}', "count"),
        (b'{"faults": {"stall": 1}}', "stall"),
        (b'{"faults": ["nope"]}', "nope"),
        (b'{"faults": "stall"}', "faults"),
        (b'{"faults": {"stall_after": 1, "fail_after": 1}}', "fail_after"),
    ],
)
@pytest.mark.parametrize("where", ["create", "generate"])
def test_bad_bodies_answer_400_naming_the_problem(
    client: httpx.Client, body: bytes, named: str, where: str
) -> None:
    """Both POSTs refuse a bad body with a JSON error that names the field."""
    path = "/conversations"
    if where == "generate":
        path = f"/conversations/{create(client)}/generate-sequence"

    answer = client.post(path, content=body)

    assert answer.status_code == 400
    assert named in answer.json()["error"]


# -- starting and stopping -------------------------------------------------


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "reference-server" in t.name]


def test_stop_leaves_no_thread_behind() -> None:
    """start() serves at once on a port the system picked; stop() joins the thread."""
    before = set(threading.enumerate())
    server = ReferenceServer(ServerSettings(pace=PACE))
    server.start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert server.is_running
    finally:
        server.stop()

    assert not server.is_running
    assert set(threading.enumerate()) <= before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")


def test_a_restarted_server_keeps_its_conversations() -> None:
    """stop() then start() serves the same app (maybe on another port)."""
    threads = server_threads()
    with ReferenceServer() as server:
        conversation_id = httpx.post(f"{server.url}/conversations").json()["id"]
    with server:
        assert httpx.get(f"{server.url}/conversations/{conversation_id}").is_success
    assert server_threads() == threads


def test_start_refuses_a_busy_port_and_a_second_start(
    server: ReferenceServer,
) -> None:
    """OSError when the port is taken; ServerError when the server already runs."""
    threads = server_threads()

    with pytest.raises(OSError, match="in use"):
        ReferenceServer(port=server.port).start()
    with pytest.raises(ServerError, match="already runs"):
        server.start()
    with pytest.raises(ServerError, match="never started"):
        _ = ReferenceServer().url
    assert server_threads() == threads


def test_serve_forever_refuses_a_busy_port(server: ReferenceServer) -> None:
    """The foreground server fails at once with the OSError of the bind."""
    with pytest.raises(OSError, match="in use"):
        serve_forever(port=server.port)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread() or os.name != "posix",
    reason="needs the main thread and POSIX signals",
)
def test_serve_forever_serves_until_interrupted() -> None:
    """on_ready gets the URL once serving; Ctrl+C shuts down, then interrupts."""
    seen: list[int] = []
    visitors: list[threading.Thread] = []

    def interrupt(url: str) -> None:
        def visit() -> None:
            try:
                seen.append(httpx.get(f"{url}/health", timeout=2.0).status_code)
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        visitors.append(threading.Thread(target=visit, name="test-visitor"))
        visitors[0].start()

    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(KeyboardInterrupt):
        serve_forever(port=port, on_ready=interrupt)

    visitors[0].join()
    assert seen == [200]


def test_answers_come_without_a_delayed_ack_pause(client: httpx.Client) -> None:
    """Ten requests on one connection take milliseconds, not 10 x 40 ms (Nagle)."""
    began = time.monotonic()
    for _ in range(10):
        client.get("/health")

    assert time.monotonic() - began < 0.3


# -- the fault knobs any client can aim at ---------------------------------


def test_count_faults_answer_the_first_gets_in_their_documented_order() -> None:
    """503 burst, 429, HTML, wrong shape, cut, hang; then normal answers."""
    faults = Faults(
        burst_503=1, rate_limit=1, unreadable=1, wrong_shape=1, cut=1, hang=1
    )

    assert [faults.fault_for_get(n).value for n in range(1, 8)] == [
        "503",
        "429",
        "unreadable",
        "wrong-shape",
        "cut",
        "hang",
        "none",
    ]


def test_mixed_ids_alternate_numbers_and_strings() -> None:
    """Ids 1, "1", 2, "2": different ids by the contract."""
    gen = generation(count=4, faults=Faults(mixed_ids=True))

    assert [m["id"] for m in gen.messages(1e6)] == [1, "1", 2, "2"]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("list", [{"id": "m1"}]),
        ("string", "generating"),
        ("messages-object", {"status": "generating", "messages": {"m1": {"id": "m1"}}}),
        ("null-status", {"status": None, "messages": [{"id": "m1"}]}),
    ],
)
def test_wrong_shapes_are_valid_json_of_another_shape(
    shape: str, expected: Any
) -> None:
    snapshot = {"status": "generating", "messages": [{"id": "m1"}]}

    assert wrong_shape(snapshot, shape) == expected


def test_a_date_hint_is_exact_against_its_own_date_header() -> None:
    """Retry-After as an HTTP-date N whole seconds after the answer's Date."""
    headers = rate_limit_headers(
        Faults(retry_after_date=3, retry_after_ms="250"), "2", 1767225600.7
    )

    assert headers == {
        "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
        "Retry-After": "Thu, 01 Jan 2026 00:00:03 GMT",
        "retry-after-ms": "250",
    }
    assert rate_limit_headers(Faults(), "7", 0.0) == {"Retry-After": "7"}
    assert rate_limit_headers(Faults(retry_after="soon"), "7", 0.0) == {
        "Retry-After": "soon"
    }


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"burst_status": 404}, "burst_status"),
        ({"shape": "triangle"}, "shape"),
        ({"retry_after": "1\r\nSet-Cookie: x"}, "retry_after"),
        ({"retry_after_ms": 250}, "retry_after_ms"),
        ({"retry_after_date": "soon"}, "retry_after_date"),
        ({"pad": 10**9}, "pad"),
        ({"redirects": 101}, "redirects"),
        ({"redirect_loop": 1}, "redirect_loop"),
        ({"drip": -1}, "drip"),
    ],
)
def test_new_fault_knobs_refuse_bad_values(mapping: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Faults.from_mapping(mapping)

    assert caught.value.field == field


def _faulty(client: httpx.Client, **faults: Any) -> str:
    conversation_id = create(client, faults=faults)
    assert start(client, conversation_id).status_code == 202
    return conversation_id


def test_every_answer_carries_a_date_header(client: httpx.Client) -> None:
    answer = client.get("/health")

    assert parsedate_to_datetime(answer.headers["date"]).timestamp() == pytest.approx(
        time.time(), abs=2
    )
    assert len(answer.headers.get_list("date")) == 1


def test_a_429_can_carry_any_hint_header(client: httpx.Client) -> None:
    conversation_id = _faulty(
        client, rate_limit=1, retry_after_date=2, retry_after_ms="soon"
    )

    answer = read(client, conversation_id)

    assert answer.status_code == 429
    assert answer.headers.get_list("date") == [answer.headers["date"]]
    gap = parsedate_to_datetime(answer.headers["retry-after"]) - parsedate_to_datetime(
        answer.headers["date"]
    )
    assert gap.total_seconds() == 2
    assert answer.headers["retry-after-ms"] == "soon"


def test_a_burst_can_answer_any_5xx(client: httpx.Client) -> None:
    conversation_id = _faulty(client, burst_503=1, burst_status=504)

    assert read(client, conversation_id).status_code == 504
    assert read(client, conversation_id).status_code == 200


def test_redirects_lead_to_the_answer_and_a_loop_leads_nowhere(
    client: httpx.Client,
) -> None:
    chain = _faulty(client, redirects=2)
    loop = _faulty(client, redirect_loop=True)

    followed = client.get(f"/conversations/{chain}", follow_redirects=True)
    assert followed.status_code == 200
    assert [r.status_code for r in followed.history] == [307, 307]
    with pytest.raises(httpx.TooManyRedirects):
        client.get(f"/conversations/{loop}", follow_redirects=True)


def test_padding_gzip_and_wrong_shapes_reach_the_client(client: httpx.Client) -> None:
    padded_id = _faulty(client, pad=5000, gzip=True)
    shaped = _faulty(client, wrong_shape=1, shape="list")

    answer = read(client, padded_id)
    assert answer.headers["content-encoding"] == "gzip"
    assert int(answer.headers["content-length"]) < 1000
    assert len(answer.json()["padding"]) == 5000
    assert read(client, shaped).json() == []


def test_a_cut_answer_stops_halfway_without_a_server_error_in_the_log(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    conversation_id = _faulty(client, cut=1)

    with caplog.at_level("DEBUG"), pytest.raises(httpx.RemoteProtocolError):
        read(client, conversation_id)
    assert read(client, conversation_id).status_code == 200
    assert "without completing" not in caplog.text


def test_a_hung_get_ends_when_the_client_gives_up(server: ReferenceServer) -> None:
    with httpx.Client(base_url=server.url, timeout=5.0) as setup:
        conversation_id = _faulty(setup, hang=1)
    with httpx.Client(base_url=server.url, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            read(impatient, conversation_id)
        assert read(impatient, conversation_id).status_code == 200


def test_a_drip_sends_the_body_one_byte_at_a_time(client: httpx.Client) -> None:
    conversation_id = _faulty(client, drip=0.001)

    with client.stream("GET", f"/conversations/{conversation_id}") as answer:
        chunks = list(answer.iter_raw())
    body = b"".join(chunks)

    assert json.loads(body)["id"] == conversation_id
    assert len(chunks) > 1


@pytest.mark.parametrize("keep", [True, False])
def test_a_restart_serves_on_the_same_port_with_or_without_memory(keep: bool) -> None:
    with ReferenceServer() as server:
        url = server.url
        conversation_id = httpx.post(f"{url}/conversations").json()["id"]
        server.restart(keep_conversations=keep)
        assert server.url == url
        answer = httpx.get(f"{url}/conversations/{conversation_id}")
    assert answer.status_code == (200 if keep else 404)


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_a_port_out_of_range_is_refused_not_wrapped_around(port: int) -> None:
    """getaddrinfo would take 99999 as 34463; the server refuses it."""
    with pytest.raises(ServerError, match="0-65535"):
        ReferenceServer(port=port).start()
    with pytest.raises(ServerError, match="0-65535"):
        serve_forever(port=port)
