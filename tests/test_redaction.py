"""Keeping credentials out of what pollwise and its HTTP stack write down."""

from __future__ import annotations

import logging

import pytest

from pollwise.adapters.redaction import (
    HTTP_LOGGERS,
    REDACTED,
    RedactingFilter,
    guard_http_loggers,
    is_secret_header,
    redact_headers,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:pw@h/p?api_key=k&page=2", f"http://h/p?api_key={REDACTED}&page=2"),
        ("https://h/p?access_token=t", f"https://h/p?access_token={REDACTED}"),
        ("https://h/p?q=1", "https://h/p?q=1"),
    ],
)
def test_a_url_loses_its_userinfo_and_credential_parameters(
    url: str, expected: str
) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "name", ["Authorization", "cookie", "Set-Cookie", "X-Api-Key", "X-Auth-Token"]
)
def test_credential_headers_are_known_by_name(name: str) -> None:
    assert is_secret_header(name)
    assert redact_headers([(name, "s3cret")]) == [(name, REDACTED)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "HTTP Request: GET http://h/j?api_key=S&x=1 200",
            f"HTTP Request: GET http://h/j?api_key={REDACTED}&x=1 200",
        ),
        (
            "headers=[(b'Set-Cookie', b'sid=S; HttpOnly'), (b'Date', b'today')]",
            f"headers=[(b'Set-Cookie', b'{REDACTED}'), (b'Date', b'today')]",
        ),
        (
            "[(b'Location', b'/moved?token=S&page=2')]",
            f"[(b'Location', b'/moved?token={REDACTED}&page=2')]",
        ),
        ('("Authorization", "Bearer S")', f'("Authorization", "{REDACTED}")'),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_a_log_line_keeps_its_shape_and_loses_its_secrets(
    line: str, expected: str
) -> None:
    """URLs (absolute or relative) and httpcore's header tuples."""
    assert redact_text(line) == expected


def test_the_filter_rewrites_a_record_with_arguments() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "GET %s", ("http://h/?key=S",), None
    )

    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"GET http://h/?key={REDACTED}"


def test_the_http_loggers_are_guarded_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A filter sees only its own logger's records, so each child is named."""
    guard_http_loggers()
    guard_http_loggers()

    for name in HTTP_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1
    with caplog.at_level(logging.DEBUG, logger="httpcore"):
        logging.getLogger("httpcore.http11").debug("x [(b'Cookie', b'c=S')]")
    assert "c=S" not in caplog.text
    assert REDACTED in caplog.text
