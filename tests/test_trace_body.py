"""What a trace keeps of an answer, and the answer a replay gets back from it."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollwise.adapters.trace_body import (
    HUGE_HINT,
    canonical_profile,
    entry_from_exchange,
    headers_that_matter,
    summarize_answer,
)
from pollwise.engine import Profile, Readable, Response, TransportFailure, classify
from pollwise.engine.answers import Answer, FailureKind, Reply

WALL = 1767225600.0


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("Retry-After", "3", "3"),
        ("Date", "Thu, 01 Jan 2026 00:00:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT"),
        (
            "Location",
            "https://u:pw@h/op?api-key=s3cret&x=1",
            "https://h/op?api-key=[redacted]&x=1",
        ),
        (
            "Operation-Location",
            "https://h/op?sig=abc",
            "https://h/op?sig=[redacted]",
        ),
        ("Authorization", "Bearer s3cret", None),
        ("Cookie", "a=s3cret", None),
        ("Set-Cookie", "a=s3cret", None),
        ("X-Api-Key", "s3cret", None),
        ("X-Request-Id", "abc", None),
    ],
)
def test_only_the_headers_that_matter_are_kept_and_secrets_never(
    name: str, value: str, kept: str | None
) -> None:
    headers = dict(headers_that_matter([(name, value)]))
    assert headers.get(name.lower()) == kept
    assert "s3cret" not in json.dumps(headers)
    assert "pw@" not in json.dumps(headers)


def test_header_names_are_lower_case_and_the_first_value_wins() -> None:
    assert headers_that_matter([("Retry-After", "1"), ("retry-after", "2")]) == (
        ("retry-after", "1"),
    )


def _reply(
    status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, headers, data)


PROFILES = [
    Profile(),
    Profile(
        status_path="snapshot.state", progress_path="snapshot.state", done=["available"]
    ),
    Profile(messages_path="data", id_path="key", progress_path="n"),
]


def _same(original: Answer, replayed: Answer) -> None:
    assert type(original) is type(replayed)
    assert original.http_status == replayed.http_status
    assert original.hint == replayed.hint
    if isinstance(original, Readable):
        assert isinstance(replayed, Readable)
        assert original.status == replayed.status
        assert original.status_kind is replayed.status_kind
        assert [m.key for m in original.messages] == [m.key for m in replayed.messages]
        assert original.progress_value == replayed.progress_value


_VALUES = st.none() | st.integers(-3, 3) | st.sampled_from(["a", "7", "done", "ready"])
_BODIES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "status": _VALUES,
            "messages": st.lists(
                st.fixed_dictionaries(
                    {}, optional={"id": _VALUES, "created_at": _VALUES}
                ),
                max_size=4,
            ),
            "data": st.lists(
                st.fixed_dictionaries({}, optional={"key": _VALUES}), max_size=3
            ),
            "n": _VALUES,
            "snapshot": st.fixed_dictionaries({}, optional={"state": _VALUES}),
        },
    ),
    st.just(b""),
    st.just(b"<html>"),
    st.builds(lambda v: {"messages": v}, _VALUES.filter(lambda v: v is not None)),
)


@given(
    body=_BODIES,
    status=st.sampled_from([200, 204, 304, 404, 429, 503]),
    hint=st.sampled_from(
        [(), (("Retry-After", "2.5"),), (("retry-after-ms", "9" * 400),)]
    ),
    profile=st.sampled_from(PROFILES),
    observed=st.booleans(),
)
def test_a_summary_gives_back_the_same_answer(
    body: Any,
    status: int,
    hint: tuple[tuple[str, str], ...],
    profile: Profile,
    observed: bool,
) -> None:
    """Whatever the body, the canonical answer rebuilt from its summary is
    classified exactly as the original, with the reply seen or not."""
    reply = _reply(status, body, hint)
    original = classify(reply, profile, WALL)
    exchange = summarize_answer(
        original, None if observed else reply, sent=1.0, answered=1.5
    )
    entry = entry_from_exchange(exchange)
    rebuilt: Reply = (
        TransportFailure(entry.error)
        if entry.error is not None
        else Response(entry.http_status, entry.headers, entry.body)
    )
    replayed = classify(rebuilt, canonical_profile(profile), WALL)
    if original.hint is not None and original.hint > HUGE_HINT:
        # JSON has no infinity: the hint is kept as 1e300 (or its header),
        # and any hint this long is clamped alike.
        assert replayed.hint is not None
        assert replayed.hint >= HUGE_HINT
        original = attrs.evolve(original, hint=HUGE_HINT)
        replayed = attrs.evolve(replayed, hint=HUGE_HINT)
    _same(original, replayed)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_transport_failure_is_kept_by_kind(kind: FailureKind) -> None:
    answer = classify(TransportFailure(kind, "detail"), Profile(), WALL)
    exchange = summarize_answer(
        answer, TransportFailure(kind, "detail"), sent=0.0, answered=1.0
    )
    assert exchange.transport == kind.value
    assert entry_from_exchange(exchange).error is kind


def test_contents_are_left_out_unless_asked() -> None:
    reply = _reply(
        200,
        {"status": "generating", "messages": [{"id": "m1", "content": "secret plan"}]},
    )
    answer = classify(reply, Profile(), WALL)
    kept = summarize_answer(answer, reply, sent=0, answered=0, keep_content=True)
    left = summarize_answer(answer, reply, sent=0, answered=0)
    assert "secret plan" in (kept.body.text or "")
    assert left.body.text is None
    assert "secret plan" not in repr(left)


def test_messages_keep_their_created_at() -> None:
    reply = _reply(
        200, {"messages": [{"id": 1, "created_at": "2026-01-01T00:00:01Z"}, {"x": 2}]}
    )
    exchange = summarize_answer(
        classify(reply, Profile(), WALL), reply, sent=0, answered=0
    )
    assert [(m.id, m.created_at) for m in exchange.body.messages] == [
        (1, "2026-01-01T00:00:01Z"),
        (None, None),
    ]
