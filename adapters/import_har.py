"""Reading HAR 1.2 files, what a browser's developer tools export.

This is how a frontend's polling is captured. Every entry has
``startedDateTime`` (ISO 8601 with milliseconds) and ``time`` (the total in
milliseconds, the sum of its ``timings``), so a HAR gives each request's
send and answer times. A response body is in ``content.text``, base64 when
``content.encoding`` says so; browsers leave it out unless asked, and a
request that got no response has status 0.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .import_azure import load_json
from .recording import Interaction, header_items, parse_timestamp
from .trace import TraceError

__all__ = ["read_har"]


def _duration(entry: Mapping[str, Any]) -> float | None:
    total = entry.get("time")
    if isinstance(total, int | float) and not isinstance(total, bool) and total >= 0:
        return float(total) / 1000.0
    timings = entry.get("timings")
    if isinstance(timings, Mapping):
        parts = [
            float(v)
            for k, v in timings.items()
            if k != "comment" and isinstance(v, int | float) and v > 0
        ]
        return sum(parts) / 1000.0
    return None


def _body(content: Any) -> bytes:
    if not isinstance(content, Mapping):
        return b""
    text = content.get("text")
    if not isinstance(text, str):
        return b""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            return text.encode("utf-8")
    return text.encode("utf-8")


def read_har(path: str | Path) -> list[Interaction]:
    """The interactions of a HAR file, in the order of their start times.

    Raises:
        TraceError: the file is not HAR (naming the entry).
    """
    name = str(path)
    document = load_json(path)
    log = document.get("log") if isinstance(document, Mapping) else None
    entries = log.get("entries") if isinstance(log, Mapping) else None
    if not isinstance(entries, list):
        raise TraceError(name, "not a HAR file: no 'log.entries' list")
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise TraceError(name, f"entry {index}: not an object")
        request, response = entry.get("request"), entry.get("response")
        if not isinstance(request, Mapping) or not isinstance(response, Mapping):
            raise TraceError(name, f"entry {index}: needs a request and a response")
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or not isinstance(url, str):
            raise TraceError(name, f"entry {index}: the request has no method or url")
        started = parse_timestamp(entry.get("startedDateTime"))
        if started is None:
            raise TraceError(
                name,
                f"entry {index}: startedDateTime is not an ISO 8601 time "
                f"({entry.get('startedDateTime')!r})",
            )
        status = response.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            raise TraceError(name, f"entry {index}: the response has no status")
        result.append(
            Interaction(
                index=index,
                method=method.upper(),
                url=url,
                status=status if status > 0 else None,
                headers=header_items(response.get("headers") or []),
                body=_body(response.get("content")),
                started=started,
                duration=_duration(entry),
            )
        )
    result.sort(key=lambda i: (i.started or 0.0, i.index))
    return result
