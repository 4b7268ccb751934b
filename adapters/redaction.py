"""Keeping secrets out of logs, traces and error messages.

pollwise passes credentials through to the server and never writes them
anywhere else: URLs lose their userinfo and the values of query parameters
whose names look like credentials, and header values of credential headers
are replaced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "HTTP_LOGGERS",
    "REDACTED",
    "RedactingFilter",
    "guard_http_loggers",
    "is_secret_header",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED: Final = "[redacted]"

_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
_SECRET_WORDS: Final = re.compile(
    r"key|token|secret|password|passwd|signature|sig|auth|session|credential",
    re.IGNORECASE,
)


def is_secret_header(name: str) -> bool:
    """Whether a header's value must never be written down."""
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or bool(_SECRET_WORDS.search(lowered))


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers with the values of credential headers replaced."""
    return [
        (name, REDACTED if is_secret_header(name) else value) for name, value in headers
    ]


def redact_url(url: str) -> str:
    """A URL without userinfo and without the values of credential parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SECRET_WORDS.search(k) else v) for k, v in pairs],
            safe="[]",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL: Final = re.compile(r"https?://[^\s\"'<>]+")
# A header as httpcore writes it in its debug lines: (b'Set-Cookie', b'a=b').
_HEADER_TUPLE: Final = re.compile(r"""\((b?)(['"])([^'"]+)\2, (b?)(['"])(.*?)\5\)""")


def _redact_tuple(match: re.Match[str]) -> str:
    if not is_secret_header(match.group(3)):
        return match.group(0)
    name_prefix, quote, name, value_prefix, value_quote = match.group(1, 2, 3, 4, 5)
    return (
        f"({name_prefix}{quote}{name}{quote}, "
        f"{value_prefix}{value_quote}{REDACTED}{value_quote})"
    )


# A credential parameter of a URL that is not absolute (a redirect's
# relative Location): ``?api_key=...`` or ``&token=...``.
_QUERY_SECRET: Final = re.compile(
    r"([?&][^=&\s'\"]*(?:" + _SECRET_WORDS.pattern + r")[^=&\s'\"]*=)([^&\s'\"#]+)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """A log line without credentials: URLs are redacted (relative ones
    too), and so are the values of credential headers written as
    ``(b'Name', b'value')``."""
    cleaned = _URL.sub(lambda m: redact_url(m.group(0)), text)
    cleaned = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, cleaned)
    return _HEADER_TUPLE.sub(_redact_tuple, cleaned)


class RedactingFilter(logging.Filter):
    """Strips credentials from the lines other libraries log.

    httpx logs every request's URL at INFO (an API key in the query string
    with it), and httpcore logs every answer's headers at DEBUG (Set-Cookie
    with them).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


#: The loggers of the HTTP stack under the adapters. A filter only sees the
#: records of the logger it is attached to, not those of its children, so
#: each one that writes is named.
HTTP_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def guard_http_loggers() -> None:
    """Attach a :class:`RedactingFilter` to each of :data:`HTTP_LOGGERS` (once)."""
    for name in HTTP_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
