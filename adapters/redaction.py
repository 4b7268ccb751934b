"""Keeping secrets out of logs, traces and error messages.

pollwise passes credentials through to the server and never writes them
anywhere else: URLs lose their userinfo and the values of query parameters
whose names look like credentials, and header values of credential headers
are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "is_secret_header", "redact_headers", "redact_url"]

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
