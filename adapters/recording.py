"""A recording made by another tool, as a list of HTTP interactions.

Each importer (HAR, VCR.py, go-vcr, the Azure SDK test proxy) turns its
file into :class:`Interaction` values; everything after that (finding the
polling session, its timing, its profile) is shared. An interaction keeps
the response's headers in their recorded case, every value, and the body
as bytes (decompressed when the recording kept it compressed).
"""

from __future__ import annotations

import datetime
import gzip
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, Final

import attrs

from pollwise.engine.answers import FailureKind, Reply, Response, TransportFailure
from pollwise.engine.hints import parse_http_date

__all__ = [
    "MUTATING_METHODS",
    "Interaction",
    "body_bytes",
    "header_items",
    "parse_go_duration",
    "parse_timestamp",
]

#: Methods that change something on the server (a trigger, or a reason to
#: say one polling run has ended and another begins).
MUTATING_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_GO_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
#: Body fields whose value tells when something happened on the server.
_TIME_FIELDS: Final = re.compile(
    r"^(created_?at|updated_?at|started_?at|completed_?at|modified_?at|"
    r"creation_?date|modification_?date|created|updated|"
    r"(created|lastUpdated|lastModified)(Date)?Time)$",
    re.IGNORECASE,
)


@attrs.frozen(kw_only=True)
class Interaction:
    """One request and its response, as a recording kept them."""

    index: int
    method: str
    url: str
    #: the response's status; None when the request got no response
    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    #: when the request started (seconds since the epoch), if recorded
    started: float | None = None
    #: how long the request took (seconds), if recorded
    duration: float | None = None

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def key(self) -> tuple[str, str]:
        """What a poll repeats: the method and the URL."""
        return (self.method, self.url)

    @property
    def is_mutating(self) -> bool:
        return self.method in MUTATING_METHODS

    @cached_property
    def document(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None

    @property
    def date(self) -> float | None:
        """The server's Date header, in seconds since the epoch."""
        text = self.header("date")
        return parse_http_date(text) if text else None

    @property
    def expires(self) -> float | None:
        """The Expires header when it is a date (Linode puts the server time there)."""
        text = self.header("expires")
        return parse_http_date(text) if text else None

    def body_time(self) -> float | None:
        """The latest server timestamp in the body's top two levels, if any."""
        found = [
            moment
            for key, value in _walk(self.document, depth=2)
            if _TIME_FIELDS.match(key)
            and (moment := parse_timestamp(value)) is not None
        ]
        return max(found, default=None)

    def reply(self) -> Reply:
        """The response as the engine's API port would have returned it."""
        if self.status is None:
            return TransportFailure(FailureKind.CONNECT, "no response recorded")
        return Response(self.status, self.headers, self.body)


def _walk(document: Any, depth: int) -> Iterable[tuple[str, Any]]:
    if not isinstance(document, dict) or depth <= 0:
        return
    for key, value in document.items():
        yield str(key), value
        yield from _walk(value, depth - 1)


def header_items(headers: Any) -> tuple[tuple[str, str], ...]:
    """Headers as (name, value) pairs from a mapping of name to a string or
    a list of strings (recordings use both), or from a list of pairs."""
    if headers is None:
        return ()
    items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    result: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, Mapping):  # HAR: {"name": ..., "value": ...}
            name, value = item.get("name"), item.get("value")
        else:
            name, value = item
        values = value if isinstance(value, list) else [value]
        result.extend((str(name), str(v)) for v in values if v is not None)
    return tuple(result)


def body_bytes(body: Any, encoding: str | None = None) -> bytes:
    """A recorded body as bytes, decompressed per ``Content-Encoding``.

    A body that cannot be decompressed is kept as it is (it then reads as
    "not JSON", like any garbled answer).
    """
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode("utf-8")
    coding = (encoding or "").strip().lower()
    try:
        if coding == "gzip" or data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if coding == "deflate":
            return zlib.decompress(data)
    except (OSError, zlib.error, EOFError):
        return data
    return data


def parse_go_duration(text: Any) -> float | None:
    """Seconds in a Go duration string such as ``136.6ms`` or ``1m2.5s``."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if text == "0":
        return 0.0
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def parse_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from an epoch number or an ISO 8601 string.

    Epoch numbers in milliseconds (greater than 1e11) are recognised.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if value > 1e11:
            return float(value) / 1000.0
        return float(value) if value > 1e8 else None
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    # Python reads at most microseconds; .NET writes seven digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
