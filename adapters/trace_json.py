"""Trace records to JSON objects and back, checked field by field.

Reading is strict: a field of the wrong type or an unknown value is refused
with a message that names the field, so a reader can point at the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .trace_records import (
    ANSWER_KINDS,
    BODY_KINDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    OUTCOMES,
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

__all__ = ["record_from_json", "record_to_json"]


# -- to JSON -----------------------------------------------------------------


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    body = exchange.body
    body_json: dict[str, Any] = {"kind": body.kind}
    if body.kind == "json":
        body_json["status"] = body.status
        body_json["messages"] = [
            {"id": m.id, "created_at": m.created_at} for m in body.messages
        ]
        body_json["progress"] = body.progress
    if body.messages_type is not None:
        body_json["messages_type"] = body.messages_type
    if body.text is not None:
        body_json["text"] = body.text
    return {
        "sent": exchange.sent,
        "answered": exchange.answered,
        "answer": exchange.answer,
        "http_status": exchange.http_status,
        "headers": dict(exchange.headers),
        "body": body_json,
        "error": exchange.error,
        "transport": exchange.transport,
        "hint": exchange.hint,
    }


def _decision_json(decision: Decision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    data = {k: v for k, v in attrs.asdict(decision).items() if v is not None}
    if decision.action == "end":
        del data["progress_reset"]
    return data


def record_to_json(record: Record) -> dict[str, Any]:
    """The JSON object of one record (one line of a trace)."""
    if isinstance(record, HeaderRecord):
        data = {"type": "header", "format": record.format, "version": record.version}
        data.update(
            {
                "pollwise": record.pollwise,
                "created": record.created,
                "decisions": record.decisions,
                "policy": dict(record.policy),
                "profile": dict(record.profile),
                "history": list(record.history),
                "trigger": record.trigger,
                "content_kept": record.content_kept,
                "source": dict(record.source),
                "timing": dict(record.timing),
            }
        )
        if record.profile_guess is not None:
            data["profile_guess"] = record.profile_guess
        return data
    if isinstance(record, BeginRecord):
        return {
            "type": "begin",
            "at": record.at,
            "wall": record.wall,
            "trigger": None
            if record.trigger is None
            else _exchange_json(record.trigger),
            "state_before": record.state_before,
            "state_after": record.state_after,
            "decision": _decision_json(record.decision),
        }
    if isinstance(record, StepRecord):
        data = {"type": "step", "number": record.number}
        data.update(_exchange_json(record.exchange))
        data.update(
            {
                "request_timeout": record.request_timeout,
                "has_progress": record.has_progress,
                "new_messages": list(record.new_messages),
                "state_before": record.state_before,
                "state_after": record.state_after,
                "decision": _decision_json(record.decision),
            }
        )
        return data
    stats = record.statistics
    return {
        "type": "end",
        "at": record.at,
        "outcome": record.outcome,
        "reason": record.reason,
        "detail": record.detail,
        "statistics": None if stats is None else attrs.asdict(stats),
        "state_before": record.state_before,
    }


# -- from JSON ---------------------------------------------------------------


class _ShapeError(Exception):
    """A record's JSON does not have the expected shape."""


def _field(
    data: Mapping[str, Any], key: str, kinds: Any, *, optional: bool = False
) -> Any:
    if key not in data:
        if optional:
            return None
        raise _ShapeError(f"missing field {key!r}")
    value = data[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in _as_tuple(kinds):
        raise _ShapeError(f"field {key!r} must be {_names(kinds)}, not a boolean")
    if not isinstance(value, kinds):
        raise _ShapeError(f"field {key!r} must be {_names(kinds)}, got {value!r}")
    return value


def _as_tuple(kinds: Any) -> tuple[Any, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _names(kinds: Any) -> str:
    words = {
        int: "a whole number",
        float: "a number",
        str: "a string",
        bool: "true or false",
        dict: "an object",
        list: "a list",
    }
    return " or ".join(
        dict.fromkeys(words.get(k, k.__name__) for k in _as_tuple(kinds))
    )


_NUMBER: Final = (int, float)


def _time(data: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = _field(data, key, _NUMBER, optional=optional)
    return None if value is None else float(value)


def _choice(data: Mapping[str, Any], key: str, allowed: Iterable[str]) -> str:
    value = _field(data, key, str)
    if value not in allowed:
        raise _ShapeError(
            f"field {key!r} must be one of {', '.join(allowed)}, got {value!r}"
        )
    return str(value)


def _body_from_json(data: Any) -> BodySummary:
    if not isinstance(data, dict):
        raise _ShapeError("field 'body' must be an object")
    kind = _choice(data, "kind", BODY_KINDS)
    messages = []
    for item in _field(data, "messages", list, optional=True) or []:
        if not isinstance(item, dict):
            raise _ShapeError("every message summary must be an object")
        messages.append(
            MessageSummary(id=item.get("id"), created_at=item.get("created_at"))
        )
    return BodySummary(
        kind=kind,
        status=data.get("status"),
        messages=tuple(messages),
        progress=data.get("progress"),
        messages_type=_field(data, "messages_type", str, optional=True),
        text=_field(data, "text", str, optional=True),
    )


def _exchange_from_json(data: Mapping[str, Any]) -> Exchange:
    headers = _field(data, "headers", dict, optional=True) or {}
    if not all(isinstance(v, str) for v in headers.values()):
        raise _ShapeError("every header value must be a string")
    return Exchange(
        sent=_time(data, "sent", optional=True),
        answered=_time(data, "answered", optional=True),
        answer=_choice(data, "answer", ANSWER_KINDS),
        http_status=_field(data, "http_status", int, optional=True),
        headers=tuple((str(k).lower(), v) for k, v in headers.items()),
        body=_body_from_json(data.get("body", {"kind": "none"})),
        error=_field(data, "error", str, optional=True),
        transport=_field(data, "transport", str, optional=True),
        hint=_time(data, "hint", optional=True),
    )


def _decision_from_json(data: Any) -> Decision | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _ShapeError("field 'decision' must be an object or null")
    return Decision(
        action=_choice(data, "action", ("poll", "end")),
        next_at=_time(data, "next_at", optional=True),
        wait=_time(data, "wait", optional=True),
        hint=_time(data, "hint", optional=True),
        why=_field(data, "why", str, optional=True),
        no_progress_polls=_field(data, "no_progress_polls", int, optional=True),
        progress_reset=bool(_field(data, "progress_reset", bool, optional=True)),
        outcome=_field(data, "outcome", str, optional=True),
        reason=_field(data, "reason", str, optional=True),
        detail=_field(data, "detail", str, optional=True),
    )


def _header_from_json(data: Mapping[str, Any]) -> HeaderRecord:
    if data.get("format") != FORMAT_NAME:
        raise _ShapeError(f"not a pollwise trace (format {data.get('format')!r})")
    version = _field(data, "version", int)
    if version > FORMAT_VERSION or version < 1:
        raise _ShapeError(
            f"trace format version {version} is not supported "
            f"(this pollwise reads version {FORMAT_VERSION})"
        )
    return HeaderRecord(
        pollwise=_field(data, "pollwise", str),
        created=_field(data, "created", str),
        policy=_field(data, "policy", dict),
        profile=_field(data, "profile", dict),
        history=tuple(_field(data, "history", list, optional=True) or ()),
        trigger=bool(_field(data, "trigger", bool)),
        decisions=_choice(data, "decisions", ("pollwise", "other")),
        content_kept=bool(_field(data, "content_kept", bool, optional=True)),
        source=_field(data, "source", dict, optional=True) or {},
        timing=_field(data, "timing", dict, optional=True) or {},
        profile_guess=_field(data, "profile_guess", str, optional=True),
        version=version,
    )


def record_from_json(data: Any) -> Record:
    """Build a record from one line's JSON object.

    Raises:
        ValueError: the object is not a record of this format; the message
            says what is wrong.
    """
    try:
        return _record_from_json(data)
    except _ShapeError as exc:
        raise ValueError(str(exc)) from None


def _record_from_json(data: Any) -> Record:
    if not isinstance(data, dict):
        raise _ShapeError("a record must be a JSON object")
    kind = _choice(data, "type", ("header", "begin", "step", "end"))
    if kind == "header":
        return _header_from_json(data)
    if kind == "begin":
        trigger = _field(data, "trigger", dict, optional=True)
        return BeginRecord(
            at=_time(data, "at") or 0.0,
            wall=_time(data, "wall", optional=True),
            trigger=None if trigger is None else _exchange_from_json(trigger),
            state_before=_field(data, "state_before", str, optional=True),
            state_after=_field(data, "state_after", str, optional=True),
            decision=_decision_from_json(data.get("decision")),
        )
    if kind == "step":
        number = _field(data, "number", int)
        if number < 1:
            raise _ShapeError(f"field 'number' must be >= 1, got {number}")
        return StepRecord(
            number=number,
            exchange=_exchange_from_json(data),
            request_timeout=_time(data, "request_timeout", optional=True),
            has_progress=_field(data, "has_progress", bool, optional=True),
            new_messages=tuple(_field(data, "new_messages", list, optional=True) or ()),
            state_before=_field(data, "state_before", str, optional=True),
            state_after=_field(data, "state_after", str, optional=True),
            decision=_decision_from_json(data.get("decision")),
        )
    stats = _field(data, "statistics", dict, optional=True)
    return EndRecord(
        at=_time(data, "at") or 0.0,
        outcome=_choice(data, "outcome", OUTCOMES),
        reason=_field(data, "reason", str),
        detail=_field(data, "detail", str, optional=True) or "",
        statistics=None
        if stats is None
        else TraceStatistics(
            polls=_field(stats, "polls", int),
            failed_polls=_field(stats, "failed_polls", int),
            messages=_field(stats, "messages", int),
            elapsed=float(_field(stats, "elapsed", _NUMBER)),
        ),
        state_before=_field(data, "state_before", str, optional=True),
    )
