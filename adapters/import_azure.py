"""Reading the JSON recordings of the Azure SDK test proxy.

A recording is ``{"Entries": [...], "Variables": {...}}``; each entry has
``RequestUri``, ``RequestMethod``, ``StatusCode``, ``ResponseHeaders`` (a
name to a string, or to a list of strings) and ``ResponseBody`` (a JSON
value, a string, or null). Such files often begin with sign-in calls; the
operation is found later by its ``Azure-AsyncOperation`` URL (see
:mod:`pollwise.adapters.import_trace`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .recording import Interaction, body_bytes, header_items
from .trace import TraceError

__all__ = ["load_json", "read_azure"]


def load_json(path: str | Path) -> Any:
    """A JSON file's document.

    Raises:
        TraceError: the file cannot be read or is not JSON (with the line).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TraceError(name, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(name, f"cannot be read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(name, f"invalid JSON: {exc.msg}", exc.lineno) from None


def read_azure(path: str | Path) -> list[Interaction]:
    """The interactions of an Azure SDK test-proxy recording.

    Raises:
        TraceError: the file is not such a recording.
    """
    name = str(path)
    document = load_json(path)
    entries = document.get("Entries") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise TraceError(name, "not an Azure test-proxy recording: no 'Entries' list")
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise TraceError(name, f"entry {index}: not an object")
        method, url, status = (
            entry.get("RequestMethod"),
            entry.get("RequestUri"),
            entry.get("StatusCode"),
        )
        if not isinstance(method, str) or not isinstance(url, str):
            raise TraceError(name, f"entry {index}: no RequestMethod or RequestUri")
        if not isinstance(status, int) or isinstance(status, bool):
            raise TraceError(name, f"entry {index}: no StatusCode")
        headers = header_items(entry.get("ResponseHeaders"))
        body = entry.get("ResponseBody")
        if isinstance(body, dict | list):
            # The proxy stores JSON bodies parsed (and decompressed).
            data = json.dumps(body).encode("utf-8")
            headers = tuple(
                (k, v) for k, v in headers if k.lower() != "content-encoding"
            )
        else:
            data = body_bytes(body)
        result.append(
            Interaction(
                index=index,
                method=method.upper(),
                url=url,
                status=status,
                headers=headers,
                body=data,
            )
        )
    return result
