"""The interactions shared by every importer, and their little parsers."""

from __future__ import annotations

import gzip

import pytest

from pollwise.adapters.recording import (
    Interaction,
    body_bytes,
    header_items,
    parse_go_duration,
    parse_timestamp,
)
from pollwise.engine import Response, TransportFailure


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("136.645166ms", 0.136645166),
        ("1.005955917s", 1.005955917),
        ("2m3.5s", 123.5),
        ("1h", 3600.0),
        ("250us", 0.00025),
        ("0", 0.0),
        ("", None),
        ("12", None),
        ("3 s", None),
        (None, None),
    ],
)
def test_go_durations(text: str | None, seconds: float | None) -> None:
    assert parse_go_duration(text) == (pytest.approx(seconds) if seconds else seconds)


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        (1774963844, 1774963844.0),
        (1774963844123, 1774963844.123),
        ("2021-05-11T03:21:29Z", 1620703289.0),
        ("2024-02-12T16:44:47.049270763Z", 1707756287.04927),
        ("2021-04-27T13:02:31.322596+00:00", 1619528551.322596),
        ("2026-01-01T00:00:00", 1767225600.0),
        ("yesterday", None),
        (True, None),
        (42, None),
    ],
)
def test_timestamps(value: object, epoch: float | None) -> None:
    found = parse_timestamp(value)
    assert found == (pytest.approx(epoch) if epoch is not None else None)


def test_headers_come_as_lists_strings_or_har_pairs() -> None:
    assert header_items({"A": ["1", "2"], "B": "3"}) == (
        ("A", "1"),
        ("A", "2"),
        ("B", "3"),
    )
    assert header_items([{"name": "C", "value": "4"}]) == (("C", "4"),)
    assert header_items(None) == ()


def test_bodies_are_decompressed_when_they_can_be() -> None:
    assert body_bytes(gzip.compress(b"{}"), "gzip") == b"{}"
    assert body_bytes(gzip.compress(b"{}")) == b"{}"  # by its magic bytes
    assert body_bytes(b"\x1f\x8bnot gzip", "gzip") == b"\x1f\x8bnot gzip"
    assert body_bytes({"a": 1}) == b'{"a": 1}'
    assert body_bytes(None) == b""


def test_an_interaction_is_a_reply_for_the_engine() -> None:
    item = Interaction(
        index=0, method="GET", url="u", status=200, headers=(("X", "1"),)
    )
    assert isinstance(item.reply(), Response)
    assert isinstance(
        Interaction(index=0, method="GET", url="u", status=None).reply(),
        TransportFailure,
    )


def test_the_latest_time_in_a_body_is_a_lower_bound_of_its_answer() -> None:
    item = Interaction(
        index=0,
        method="GET",
        url="u",
        status=200,
        body=b'{"created_at": 1774963844, "run": {"completed_at": 1774963850}, '
        b'"x": 1774963999}',
    )
    assert item.body_time() == 1774963850.0
