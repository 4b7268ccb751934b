"""Traces: one polling session as versioned JSON Lines.

A trace is a header, a ``begin`` record (the trigger's answer and the first
decision), one ``step`` record per poll, and an ``end`` record. Each record
is a frozen value (:mod:`~pollwise.adapters.trace_records`) and one JSON
object per line on disk (:mod:`~pollwise.adapters.trace_json`); the JSON
Schema is ``trace_schema.json`` beside this module. This module writes and
reads whole traces, and is where the rest of pollwise imports all of it
from. Every record is written and flushed as it happens, so a process
killed mid-session leaves a readable trace; reading reports a truncated
last line and skips it.

Times are seconds since t = 0 (the trigger's answer), as everywhere in
pollwise; floats are written with ``repr`` precision, so a trace read back
holds exactly the numbers the session used.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

import attrs

from pollwise.engine.errors import InputFileError, PolicyError, ProfileError

from .trace_json import record_from_json, record_to_json
from .trace_records import (
    ANSWER_KINDS,
    BODY_KINDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    BeginRecord,
    BodySummary,
    Decision,
    EndRecord,
    Exchange,
    HeaderRecord,
    MessageSummary,
    Record,
    StepRecord,
    TraceStatistics,
)

__all__ = [
    "ANSWER_KINDS",
    "BODY_KINDS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BeginRecord",
    "BodySummary",
    "Decision",
    "EndRecord",
    "Exchange",
    "HeaderRecord",
    "MessageSummary",
    "Record",
    "StepRecord",
    "Trace",
    "TraceError",
    "TraceSink",
    "TraceStatistics",
    "TraceWriter",
    "json_line",
    "pollwise_version",
    "read_trace",
    "record_from_json",
    "record_to_json",
    "trace_from_lines",
    "trace_from_records",
]

logger = logging.getLogger("pollwise.adapters.trace")


class TraceError(InputFileError):
    """A trace (or a recording to import) cannot be read."""


def pollwise_version() -> str:
    """The installed pollwise version, written into every header."""
    try:
        return importlib.metadata.version("pollwise")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# -- writing -----------------------------------------------------------------


class TraceSink(Protocol):
    """Where a recorder puts records: a file, or a list in memory."""

    def write(self, record: Record) -> None:
        """Keep one record (durably, for a file: written and flushed)."""
        ...

    def close(self) -> None:
        """No record follows."""
        ...


class TraceWriter:
    """Writes records as JSON Lines, flushing after each one.

    Args:
        target: a path (the file is created or truncated, and closed by
            :meth:`close`) or an open text stream (left open).
    """

    def __init__(self, target: str | Path | IO[str]) -> None:
        if isinstance(target, str | Path):
            # Kept open across records; close() ends it.
            self._stream: IO[str] = Path(target).open("w", encoding="utf-8")  # noqa: SIM115
            self._owned = True
            self.name = str(target)
        else:
            self._stream = target
            self._owned = False
            self.name = getattr(target, "name", "<stream>")

    def write(self, record: Record) -> None:
        line = json_line(record_to_json(record))
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except OSError as exc:
            if exc.filename is not None:
                raise
            # A full disk says nothing of which file; the trace's name does.
            raise OSError(exc.errno, exc.strerror, self.name) from exc

    def close(self) -> None:
        if self._owned and not self._stream.closed:
            self._stream.close()


def json_line(document: Any, *, ensure_ascii: bool = False) -> str:
    """``document`` as one line of strict JSON.

    A number beyond a double's range in a server's body (``1e400``) reads
    as infinity; it is written back as ``1e999``, a JSON number that reads
    as infinity again, never as ``Infinity``, which is not JSON.
    """
    try:
        return json.dumps(document, ensure_ascii=ensure_ascii, allow_nan=False)
    except ValueError:
        return _encode(document, ensure_ascii)


def _encode(value: Any, ensure_ascii: bool) -> str:
    if isinstance(value, dict):
        items = (
            f"{_encode(str(key), ensure_ascii)}: {_encode(item, ensure_ascii)}"
            for key, item in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_encode(item, ensure_ascii) for item in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "null"
        return "1e999" if value > 0 else "-1e999"
    return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=False)


# -- reading -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Trace:
    """A trace read back: its records, and where each one was in the file."""

    path: str
    header: HeaderRecord
    begin: BeginRecord | None = None
    steps: tuple[StepRecord, ...] = ()
    end: EndRecord | None = None
    #: what was skipped (a truncated last line), in words
    warnings: tuple[str, ...] = ()
    #: the line of each record: "begin", "end", or the step number
    lines: Mapping[Any, int] = attrs.field(factory=dict)

    @property
    def is_imported(self) -> bool:
        """Whether the decisions were another client's (an imported recording)."""
        return self.header.decisions != "pollwise"

    @property
    def is_complete(self) -> bool:
        """Whether the trace has its end record."""
        return self.end is not None

    def records(self) -> Iterator[Record]:
        """Every record, in file order."""
        yield self.header
        if self.begin is not None:
            yield self.begin
        yield from self.steps
        if self.end is not None:
            yield self.end


def trace_from_lines(lines: Iterable[str], path: str = "<memory>") -> Trace:
    """Read a trace from its lines (each with or without its newline).

    A last line that is not valid JSON (a process killed mid-write) is
    skipped and reported in :attr:`Trace.warnings`; any other problem is
    an error.

    Raises:
        TraceError: naming ``path``, the line and the problem.
    """
    texts = list(lines)
    while texts and not texts[-1].strip():
        texts.pop()
    header: HeaderRecord | None = None
    begin: BeginRecord | None = None
    steps: list[StepRecord] = []
    end: EndRecord | None = None
    warnings: list[str] = []
    where: dict[Any, int] = {}
    for index, text in enumerate(texts):
        number = index + 1
        if not text.strip():
            raise TraceError(path, "empty line inside the trace", number)
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            if index == len(texts) - 1 and header is not None:
                warnings.append(f"line {number}: truncated last line skipped")
                logger.warning("%s:%d: truncated last line skipped", path, number)
                break
            raise TraceError(path, f"not JSON ({exc})", number) from None
        try:
            record = record_from_json(data)
        except ValueError as exc:
            raise TraceError(path, str(exc), number) from None
        if header is None:
            if not isinstance(record, HeaderRecord):
                raise TraceError(path, "the first line must be the header", number)
            try:
                # Checked here, so a bad one is reported where it stands.
                record.build_policy()
                record.build_profile()
            except (PolicyError, ProfileError) as exc:
                raise TraceError(path, f"header: {exc}", number) from None
            header = record
            continue
        if end is not None:
            raise TraceError(path, "a record after the end record", number)
        if isinstance(record, HeaderRecord):
            raise TraceError(path, "a second header", number)
        if isinstance(record, BeginRecord):
            if begin is not None or steps:
                raise TraceError(path, "the begin record must come once, first", number)
            begin = record
            where["begin"] = number
        elif isinstance(record, StepRecord):
            if begin is None:
                raise TraceError(path, "a step before the begin record", number)
            expected = len(steps) + 1
            if record.number != expected:
                raise TraceError(
                    path, f"step {record.number} where step {expected} was due", number
                )
            steps.append(record)
            where[record.number] = number
        else:
            end = record
            where["end"] = number
    if header is None:
        raise TraceError(path, "empty file: no trace header", None)
    return Trace(
        path=path,
        header=header,
        begin=begin,
        steps=tuple(steps),
        end=end,
        warnings=tuple(warnings),
        lines=where,
    )


def trace_from_records(records: Iterable[Record], path: str = "<memory>") -> Trace:
    """A :class:`Trace` of records kept in memory (checked as a file would be)."""
    lines = [json_line(record_to_json(record)) for record in records]
    return trace_from_lines(lines, path)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_trace(path: str | Path) -> Trace:
    """Read a trace file.

    Raises:
        TraceError: the file cannot be read, or a line is not a record of
            this format (a truncated last line is skipped, not an error).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(name, "no such file") from None
    except IsADirectoryError:
        raise TraceError(name, "is a directory, not a trace") from None
    except UnicodeDecodeError as exc:
        raise TraceError(name, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TraceError(name, f"cannot be read ({exc.strerror})") from None
    return trace_from_lines(text.splitlines(), name)


def utc_now_text() -> str:
    """The wall clock now, as ISO 8601 UTC (for headers)."""
    return utc_text(datetime.datetime.now(datetime.UTC).timestamp())


def utc_text(wall: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with milliseconds."""
    moment = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
