"""classify: every row of the contract's "Answers" section.

A poll ends readable, failed or fatal; only a readable answer is looked at
for messages, status and progress.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollwise.adapters.clocks import FakeClock
from pollwise.adapters.scenario import BackendEntry
from pollwise.adapters.scripted_api import ScriptedApi
from pollwise.engine.answers import (
    MAX_NESTING,
    Failed,
    FailureKind,
    Fatal,
    Readable,
    Response,
    TransportFailure,
    classify,
    classify_trigger,
)
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile, StatusKind
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

WALL = 1767225600.0
REFERENCE = Profile()


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def answer_of(status: int, content: bytes = b"", **headers: str) -> Any:
    return classify(Response(status, headers, content), REFERENCE, WALL)


CONVERSATION = body(
    {
        "id": "c1",
        "status": "generating",
        "messages": [{"id": "m1", "role": "assistant", "content": "hi"}],
    }
)


@pytest.mark.parametrize("status", [200, 201, 202, 203, 206, 226, 299])
def test_a_2xx_json_body_is_readable(status: int) -> None:
    """Any 2xx with a JSON body: status, messages and ids are read."""
    answer = answer_of(status, CONVERSATION)

    assert isinstance(answer, Readable)
    assert answer.http_status == status
    assert answer.status == "generating"
    assert answer.status_kind is StatusKind.RUNNING
    assert [m.id for m in answer.messages] == ["m1"]
    assert answer.messages[0].data == {"id": "m1", "role": "assistant", "content": "hi"}


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, b""),
        (200, b" "),
        (200, b"\n\t\r "),
        (202, b"  \r\n"),
        (204, b""),
    ],
)
def test_an_empty_or_blank_2xx_body_is_readable_no_news(
    status: int, content: bytes
) -> None:
    """No bytes or only white space is "no news", like a 204."""
    answer = answer_of(status, content)

    assert answer == Readable(http_status=status)
    assert answer.status_kind is StatusKind.ABSENT
    assert answer.messages == ()


@pytest.mark.parametrize("content", [b"", CONVERSATION, b"<html>"])
def test_a_304_is_readable_no_news_whatever_its_body(content: bytes) -> None:
    """304 Not Modified: the previous answer stands, nothing is read."""
    answer = answer_of(304, content)

    assert answer == Readable(http_status=304)


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 599, 408, 425, 429])
def test_5xx_408_425_and_429_are_failed(status: int) -> None:
    """Worth trying again; the body (even a complete one) is not read."""
    complete = body({"status": "complete", "messages": [{"id": "m9"}]})
    answer = answer_of(status, complete)

    assert isinstance(answer, Failed)
    assert answer.http_status == status


@pytest.mark.parametrize(
    "content",
    [
        b"<html>upstream error</html>",
        b'{"status": "gener',
        b"{'status': 'running'}",
        b"\xff\xfe\x00",
        b'{"status": "complete"} trailing',
        b"undefined",
    ],
)
def test_a_2xx_body_that_is_not_json_is_failed(content: bytes) -> None:
    """A 2xx whose body cannot be parsed failed; nothing is read from it."""
    answer = answer_of(200, content)

    assert isinstance(answer, Failed)
    assert answer.http_status == 200


@pytest.mark.parametrize(
    "content",
    [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b'{"status": "running", "progress": NaN}',
        b'{"status": "complete", "messages": [{"id": Infinity}]}',
        b'{"messages": [], "x": -Infinity}',
    ],
)
def test_a_nan_or_infinity_literal_makes_a_body_non_json(content: bytes) -> None:
    """NaN and Infinity are not JSON (RFC 8259): the poll failed."""
    assert isinstance(answer_of(200, content), Failed)


@pytest.mark.parametrize(
    "messages",
    [{"id": "m1"}, "m1", 3, True, 2.5],
)
def test_messages_that_are_not_a_list_make_the_poll_failed(messages: object) -> None:
    """The messages path must yield a list or nothing."""
    answer = answer_of(200, body({"status": "complete", "messages": messages}))

    assert isinstance(answer, Failed)


@pytest.mark.parametrize(
    "document",
    [
        {"status": "running"},
        {"status": "running", "messages": None},
        {"status": "running", "messages": []},
        [1, 2, 3],
        "just a string",
        42,
        None,
    ],
)
def test_messages_that_are_absent_or_null_give_a_readable_answer_without_any(
    document: object,
) -> None:
    """Nothing at the messages path is no messages, not a failure."""
    answer = answer_of(200, body(document))

    assert isinstance(answer, Readable)
    assert answer.messages == ()


@pytest.mark.parametrize(
    "status",
    [100, 101, 103, 199, 300, 301, 302, 303, 305, 307, 308, 400, 401, 403, 404, 405,
     409, 410, 413, 418, 422, 451, 499],
)  # fmt: skip
def test_every_other_status_is_fatal(status: int) -> None:
    """1xx, 3xx other than 304, 4xx other than 408/425/429: no retry can help."""
    answer = answer_of(status, CONVERSATION)

    assert isinstance(answer, Fatal)
    assert answer.http_status == status


@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_transport_failure_is_failed(kind: FailureKind) -> None:
    """No HTTP answer at all (connect, timeout, reset, ...) is a failed poll."""
    answer = classify(TransportFailure(kind, "boom"), REFERENCE, WALL)

    assert isinstance(answer, Failed)
    assert answer.http_status is None
    assert answer.hint is None
    assert kind.value in answer.reason


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, Readable), (503, Failed), (429, Failed), (404, Fatal), (304, Readable)],
)
def test_any_kind_of_answer_carries_its_hint(
    status: int, kind: type[Readable | Failed | Fatal]
) -> None:
    """Readable, failed and fatal answers all carry a server hint."""
    content = body({"status": "running"}) if status == 200 else b""
    answer = answer_of(status, content, **{"Retry-After": "3"})

    assert type(answer) is kind
    assert answer.hint == 3.0


def test_ids_7_and_string_7_are_different_ids() -> None:
    """``7`` and ``"7"`` (and ``7.0`` and ``true``) are four ids, not one."""
    answer = answer_of(
        200, body({"messages": [{"id": 7}, {"id": "7"}, {"id": 7.0}, {"id": True}]})
    )

    assert isinstance(answer, Readable)
    assert len({m.key for m in answer.messages}) == 4
    assert [m.label for m in answer.messages] == [7, "7", 7.0, True]


def test_the_same_id_gives_the_same_key_whatever_else_the_message_holds() -> None:
    """Identity is the id alone; content and field order do not matter."""
    first = answer_of(200, body({"messages": [{"id": {"a": 1, "b": 2}, "v": 1}]}))
    second = answer_of(200, body({"messages": [{"v": 2, "id": {"b": 2, "a": 1}}]}))

    assert isinstance(first, Readable)
    assert isinstance(second, Readable)
    assert first.messages[0].key == second.messages[0].key


def test_a_message_without_an_id_is_labelled_by_its_position() -> None:
    """No id: identified and reported as ``#<position>``, 0-based."""
    answer = answer_of(
        200,
        body({"messages": [{"role": "user"}, {"id": "m1"}, {"role": "x"}, "text"]}),
    )

    assert isinstance(answer, Readable)
    assert [m.label for m in answer.messages] == ["#0", "m1", "#2", "#3"]


def test_positions_live_in_a_key_space_of_their_own() -> None:
    """An id ``"#0"`` never meets the message without id at position 0."""
    answer = answer_of(200, body({"messages": [{"role": "user"}, {"id": "#0"}]}))

    assert isinstance(answer, Readable)
    first, second = answer.messages
    assert first.label == second.label == "#0"
    assert first.key != second.key


def test_a_null_id_counts_as_no_id() -> None:
    """``"id": null`` is read as a message without an id."""
    answer = answer_of(200, body({"messages": [{"id": None}]}))

    assert isinstance(answer, Readable)
    assert answer.messages[0].label == "#0"


def test_a_custom_profile_reads_nested_paths() -> None:
    """status_path, messages_path, id_path and progress_path of another API."""
    profile = Profile(
        status_path="job.state",
        messages_path="data.items",
        id_path="meta.uid",
        progress_path="job.percent",
        done=["ready"],
    )
    document = {
        "job": {"state": "READY", "percent": 100},
        "data": {"items": [{"meta": {"uid": 5}}, {"meta": {}}]},
    }
    answer = classify(Response(200, (), body(document)), profile, WALL)

    assert isinstance(answer, Readable)
    assert answer.status_kind is StatusKind.DONE
    assert [m.label for m in answer.messages] == [5, "#1"]
    assert answer.progress_value == 100


def test_id_path_applies_to_any_message_not_only_objects() -> None:
    """``id_path: "@"`` makes a list of strings a list of ids."""
    profile = Profile(id_path="@")
    answer = classify(Response(200, (), body({"messages": ["a", "b"]})), profile, WALL)

    assert isinstance(answer, Readable)
    assert [m.label for m in answer.messages] == ["a", "b"]


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_trigger_succeeded(status: int) -> None:
    """Any 2xx answer to the trigger, whatever its body, lets polling start."""
    answer = classify_trigger(Response(status, (), b"<not json>"), WALL)

    assert isinstance(answer, Readable)


@pytest.mark.parametrize("status", [100, 304, 400, 404, 408, 429, 500, 503])
def test_a_non_2xx_trigger_failed(status: int) -> None:
    """The trigger is never retried: any non-2xx answer is a failure."""
    answer = classify_trigger(Response(status), WALL)

    assert isinstance(answer, Failed)
    assert answer.http_status == status


def test_a_trigger_transport_failure_failed() -> None:
    """A trigger that got no answer failed too."""
    answer = classify_trigger(TransportFailure(FailureKind.RESET), WALL)

    assert isinstance(answer, Failed)


def test_a_trigger_answer_carries_its_hint() -> None:
    """The trigger's own hint delays the first poll."""
    answer = classify_trigger(Response(202, {"Retry-After": "5"}), WALL)

    assert answer.hint == 5.0


@given(status=st.integers(min_value=100, max_value=599))
def test_every_status_code_falls_in_exactly_the_contracts_class(status: int) -> None:
    """The three-way split, stated once as a formula over every status code."""
    answer = answer_of(status, body({"status": "running", "messages": []}))

    if status == 304 or 200 <= status <= 299:
        expected: type = Readable
    elif status >= 500 or status in (408, 425, 429):
        expected = Failed
    else:
        expected = Fatal
    assert type(answer) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(ids=st.lists(json_values, max_size=6))
def test_messages_with_equal_ids_share_a_key_and_different_ids_do_not(
    ids: list[Any],
) -> None:
    """Keys are equal exactly when the ids are equal as JSON values."""
    messages = [{"id": value} for value in ids]
    answer = answer_of(200, body({"messages": messages}))

    assert isinstance(answer, Readable)
    for left, a in zip(ids, answer.messages, strict=True):
        for right, b in zip(ids, answer.messages, strict=True):
            if left is None or right is None:
                continue
            same = json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
            assert (a.key == b.key) == same


def test_an_integer_over_4300_digits_is_json_and_the_body_readable() -> None:
    """Python's int() refuses over 4300 digits; the body is still JSON, so
    the answer is readable (it was failed as "not JSON"), and the id reads
    as the float it rounds to."""
    digits = b"9" * 4400
    answer = answer_of(
        200, b'{"status": "done", "messages": [{"id": ' + digits + b"}]}"
    )
    assert isinstance(answer, Readable)
    assert answer.status_kind is StatusKind.DONE
    assert [m.key for m in answer.messages] == [("id", "Infinity")]


def test_an_id_beyond_a_doubles_range_keeps_its_identity_when_it_moves() -> None:
    """``1e400`` reads as infinity, which json.dumps refused: the message
    was keyed by its position, and delivered again when it moved."""
    first = answer_of(200, b'{"messages": [{"id": 1e400}]}')
    moved = answer_of(200, b'{"messages": [{"id": 5}, {"id": 1e400}, {"id": -1e400}]}')
    assert [m.key for m in first.messages] == [("id", "Infinity")]
    assert [m.key for m in moved.messages] == [
        ("id", "5"),
        ("id", "Infinity"),
        ("id", "-Infinity"),
    ]


@pytest.mark.parametrize("where", ["status", "progress", "id"])
def test_a_value_nested_past_the_limit_fails_the_poll(where: str) -> None:
    """Found by an embedding trial: a valid body with a progress value 989
    lists deep raised RecursionError out of run_sync (comparing it by its
    JSON text), and the session read as "cancelled by the user". A value
    nested over MAX_NESTING levels now fails the poll; one at it is read."""
    profile = Profile(progress_path="p")

    def body(depth: int) -> bytes:
        value = "[" * depth + "]" * depth
        document = {
            "status": f'{{"status": {value}}}',
            "progress": f'{{"p": {value}}}',
            "id": f'{{"messages": [{{"id": {value}}}]}}',
        }[where]
        return document.encode()

    at_limit = classify(Response(200, (), body(MAX_NESTING)), profile, WALL)
    past = classify(Response(200, (), body(MAX_NESTING + 1)), profile, WALL)
    assert isinstance(at_limit, Readable)
    assert isinstance(past, Failed)
    assert f"over {MAX_NESTING} levels" in past.reason


def test_a_deeply_nested_progress_value_ends_a_session_cleanly() -> None:
    """Past the limit the poll fails (read, it would be progress), and the
    session goes on to its end; no exception escapes the runner."""
    deep = "[" * 300 + "]" * 300
    clock = FakeClock()
    api = ScriptedApi(
        [
            BackendEntry(at=0, body=f'{{"p": {deep}}}'.encode()),
            BackendEntry(at=1.5, body=b'{"status": "done", "p": 1}'),
        ],
        clock,
    )
    session = Session(clock, Policy(), Profile(progress_path="p"))
    assert run_sync(session, api) is Outcome.DONE
    assert session.statistics().failed_polls == 1
