"""Reading VCR.py cassettes and go-vcr cassettes (versions 1 and 2).

Both are YAML with a list of ``interactions``, each a request and its
response. VCR.py keeps ``request.uri`` and ``response.status.code``, and a
body as ``{string: ...}`` that may be ``!!binary`` and gzip-compressed;
old Azure recordings keep plain-string headers. go-vcr keeps
``request.url``, ``response.code`` and a string body; version 2 adds each
request's ``duration`` (a Go duration such as ``136.6ms``). Neither keeps a
timestamp per interaction: times come from the Date header (see
:mod:`pollwise.adapters.import_trace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from .recording import Interaction, body_bytes, header_items, parse_go_duration
from .trace import TraceError

__all__ = ["load_cassette", "read_govcr", "read_vcrpy"]

_Loader: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_cassette(path: str | Path) -> tuple[Any, str]:
    """The cassette's YAML document and its text.

    Raises:
        TraceError: the file cannot be read or is not YAML.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(name, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(name, f"cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader), text
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise TraceError(name, f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise TraceError(name, f"invalid YAML: {exc}") from None


def _interaction_lines(text: str) -> list[int]:
    """The line where each interaction starts (for error messages)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "interactions" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _interactions(document: Any, name: str) -> list[Any]:
    if not isinstance(document, Mapping) or not isinstance(
        document.get("interactions"), list
    ):
        raise TraceError(name, "not a cassette: no list of 'interactions'", 1)
    return list(document["interactions"])


class _Cassette:
    def __init__(self, path: str | Path) -> None:
        self.name = str(path)
        self.document, self._text = load_cassette(path)
        self.items = _interactions(self.document, self.name)
        self._lines: list[int] | None = None

    def fail(self, index: int, problem: str) -> TraceError:
        if self._lines is None:
            self._lines = _interaction_lines(self._text)
        line = self._lines[index] if index < len(self._lines) else None
        return TraceError(self.name, f"interaction {index}: {problem}", line)

    def parts(
        self, index: int, item: Any
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        if not isinstance(item, Mapping):
            raise self.fail(index, "not a mapping")
        request, response = item.get("request"), item.get("response")
        if not isinstance(request, Mapping) or not isinstance(response, Mapping):
            raise self.fail(index, "needs a 'request' and a 'response' mapping")
        method = request.get("method")
        if not isinstance(method, str):
            raise self.fail(index, "the request has no method")
        return request, response


def _status_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value[:3].isdigit():
        return int(value[:3])
    return None


def read_vcrpy(path: str | Path) -> list[Interaction]:
    """The interactions of a VCR.py cassette.

    Raises:
        TraceError: the file is not a VCR.py cassette (naming the
            interaction and its line).
    """
    cassette = _Cassette(path)
    result = []
    for index, item in enumerate(cassette.items):
        request, response = cassette.parts(index, item)
        url = request.get("uri")
        if not isinstance(url, str):
            raise cassette.fail(index, "the request has no 'uri'")
        status_block = response.get("status")
        code = _status_code(
            status_block.get("code") if isinstance(status_block, Mapping) else None
        )
        if code is None:
            raise cassette.fail(index, "the response has no status code")
        headers = header_items(response.get("headers"))
        body = response.get("body")
        raw = body.get("string") if isinstance(body, Mapping) else body
        encoding = next(
            (v for k, v in headers if k.lower() == "content-encoding"), None
        )
        result.append(
            Interaction(
                index=index,
                method=str(request["method"]).upper(),
                url=url,
                status=code,
                headers=headers,
                body=body_bytes(raw, encoding),
            )
        )
    return result


def read_govcr(path: str | Path) -> list[Interaction]:
    """The interactions of a go-vcr cassette (version 1 or 2).

    Raises:
        TraceError: the file is not a go-vcr cassette (naming the
            interaction and its line).
    """
    cassette = _Cassette(path)
    result = []
    for index, item in enumerate(cassette.items):
        request, response = cassette.parts(index, item)
        url = request.get("url")
        if not isinstance(url, str):
            raise cassette.fail(index, "the request has no 'url'")
        code = _status_code(response.get("code"))
        if code is None:
            code = _status_code(response.get("status"))
        if code is None:
            raise cassette.fail(index, "the response has no status code")
        headers = header_items(response.get("headers"))
        encoding = next(
            (v for k, v in headers if k.lower() == "content-encoding"), None
        )
        duration = response.get("duration")
        seconds = (
            duration / 1e9
            if isinstance(duration, int) and not isinstance(duration, bool)
            else parse_go_duration(duration)
        )
        result.append(
            Interaction(
                index=index,
                method=str(request["method"]).upper(),
                url=url,
                status=code,
                headers=headers,
                body=body_bytes(response.get("body"), encoding),
                duration=seconds,
            )
        )
    return result
