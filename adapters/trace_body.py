"""What a trace keeps of an answer, and how a replay gets the answer back.

A trace never keeps a body by default (message contents may be private):
it keeps what the engine read from it (status, message ids with their
``created_at``, the progress value) and the headers that matter, with
credentials redacted. A replay rebuilds from that summary a canonical
answer (``{"status", "messages": [{"id"}], "progress"}``) and reads it with
the recorded profile's lists on canonical paths, so the engine classifies
it exactly as it classified the original.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from pollwise.engine.answers import (
    Answer,
    Failed,
    FailureKind,
    Fatal,
    Readable,
    Reply,
    Response,
    TransportFailure,
)
from pollwise.engine.profile import Profile

from .redaction import REDACTED, is_secret_header, redact_url
from .scenario import BackendEntry
from .trace import BodySummary, Exchange, MessageSummary, json_line

__all__ = [
    "HEADERS_THAT_MATTER",
    "canonical_profile",
    "entry_from_exchange",
    "headers_that_matter",
    "summarize_answer",
    "summarize_trigger",
]

#: Headers a trace keeps: hints, dates, where an operation lives, caching.
HEADERS_THAT_MATTER: Final = frozenset(
    {
        "retry-after",
        "retry-after-ms",
        "date",
        "expires",
        "content-type",
        "content-encoding",
        "location",
        "content-location",
        "operation-location",
        "azure-asyncoperation",
        "etag",
        "last-modified",
        "cache-control",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    }
)
_URL_HEADERS: Final = frozenset(
    {"location", "content-location", "operation-location", "azure-asyncoperation"}
)
_BAD_MESSAGES: Final = re.compile(r"messages are a (\w+), not a list")
#: A value of each JSON type, to rebuild "messages are a <type>" answers.
_SAMPLES: Final[dict[str, Any]] = {
    "str": "",
    "dict": {},
    "int": 0,
    "float": 0.5,
    "bool": True,
}
_FAILURE_KINDS: Final = {kind.value: kind for kind in FailureKind}


def headers_that_matter(
    headers: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """The headers a trace keeps, lower-cased, first value of each, redacted."""
    kept: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key not in HEADERS_THAT_MATTER or key in kept:
            continue
        if is_secret_header(key):
            value = REDACTED
        elif key in _URL_HEADERS:
            value = redact_url(value)
        kept[key] = value
    return tuple(kept.items())


#: An infinite hint (a string of digits too long for a float) is kept as
#: this: JSON has no infinity, and any hint this long is clamped alike.
HUGE_HINT: Final = 1e300


def _finite(hint: float | None) -> float | None:
    return None if hint is None else min(hint, HUGE_HINT)


def _created_at(data: Any) -> Any:
    return data.get("created_at") if isinstance(data, dict) else None


def _text(reply: Reply | None, keep_content: bool) -> str | None:
    if not keep_content or not isinstance(reply, Response):
        return None
    return reply.body.decode("utf-8", errors="replace")


def _transport(reply: Reply | None, answer: Failed) -> str:
    if isinstance(reply, TransportFailure):
        return reply.kind.value
    word = answer.reason.split(":", 1)[0].removeprefix("trigger ").strip()
    return word if word in _FAILURE_KINDS else FailureKind.RESET.value


def summarize_answer(
    answer: Answer,
    reply: Reply | None,
    *,
    sent: float | None,
    answered: float | None,
    keep_content: bool = False,
) -> Exchange:
    """What a trace keeps of one poll.

    Args:
        answer: the engine's reading of the reply.
        reply: the reply itself when it was seen (it gives the headers and,
            with ``keep_content``, the body's text); None otherwise.
        sent: the poll's send time.
        answered: when it ended.
    """
    headers = headers_that_matter(reply.headers) if isinstance(reply, Response) else ()
    text = _text(reply, keep_content)
    if isinstance(answer, Readable):
        empty = isinstance(reply, Response) and (
            answer.http_status == 304 or not reply.body.strip()
        )
        body = (
            BodySummary(kind="empty", text=text)
            if empty
            else BodySummary(
                kind="json",
                status=answer.status,
                messages=tuple(
                    MessageSummary(id=m.id, created_at=_created_at(m.data))
                    for m in answer.messages
                ),
                progress=answer.progress_value,
                text=text,
            )
        )
        return Exchange(
            sent=sent,
            answered=answered,
            answer="readable",
            http_status=answer.http_status,
            headers=headers,
            body=body,
            hint=_finite(answer.hint),
        )
    if isinstance(answer, Fatal):
        return Exchange(
            sent=sent,
            answered=answered,
            answer="fatal",
            http_status=answer.http_status,
            headers=headers,
            body=BodySummary(text=text),
            error=answer.reason,
            hint=_finite(answer.hint),
        )
    transport = None
    body = BodySummary(text=text)
    if answer.http_status is None:
        transport = _transport(reply, answer)
    elif 200 <= answer.http_status <= 299:
        match = _BAD_MESSAGES.search(answer.reason)
        body = (
            BodySummary(kind="bad_messages", messages_type=match.group(1), text=text)
            if match
            else BodySummary(kind="not_json", text=text)
        )
    return Exchange(
        sent=sent,
        answered=answered,
        answer="failed",
        http_status=answer.http_status,
        headers=headers,
        body=body,
        error=answer.reason,
        transport=transport,
        hint=_finite(answer.hint),
    )


def summarize_trigger(
    answer: Answer, reply: Reply | None, *, sent: float | None
) -> Exchange:
    """What a trace keeps of the trigger's answer (its body is never read)."""
    headers = headers_that_matter(reply.headers) if isinstance(reply, Response) else ()
    if isinstance(answer, Readable):
        return Exchange(
            sent=sent,
            answered=0.0,
            answer="readable",
            http_status=answer.http_status,
            headers=headers,
            hint=_finite(answer.hint),
        )
    assert isinstance(answer, Failed | Fatal)
    transport = (
        _transport(reply, answer)
        if isinstance(answer, Failed) and answer.http_status is None
        else None
    )
    return Exchange(
        sent=sent,
        answered=0.0,
        answer="failed",
        http_status=answer.http_status,
        headers=headers,
        error=answer.reason,
        transport=transport,
        hint=_finite(answer.hint),
    )


# -- back to answers ---------------------------------------------------------


def canonical_profile(profile: Profile) -> Profile:
    """The profile a replay reads canonical bodies with: the same status
    lists, on the canonical paths."""
    return Profile(
        status_path="status",
        messages_path="messages",
        id_path="id",
        progress_path="progress" if profile.progress_path is not None else None,
        done=profile.done,
        failed=profile.failed,
        running=profile.running,
    )


def canonical_body(summary: BodySummary) -> bytes:
    """A body that a :func:`canonical_profile` reads as ``summary`` says."""
    if summary.kind == "not_json":
        return b"<not JSON>"
    if summary.kind == "bad_messages":
        sample = _SAMPLES.get(summary.messages_type or "str", "")
        return json.dumps({"messages": sample}).encode()
    if summary.kind != "json":
        return b""
    document: dict[str, Any] = {
        "messages": [{} if m.id is None else {"id": m.id} for m in summary.messages]
    }
    if summary.status is not None:
        document["status"] = summary.status
    if summary.progress is not None:
        document["progress"] = summary.progress
    return json_line(document, ensure_ascii=True).encode()


def _seconds_text(seconds: float) -> str:
    """A decimal that reads back as exactly ``seconds`` (no exponent)."""
    return format(decimal.Decimal(repr(seconds)), "f")


def _replay_headers(exchange: Exchange) -> tuple[tuple[str, str], ...]:
    headers = tuple(exchange.headers)
    has_hint_header = any(k in ("retry-after", "retry-after-ms") for k, _ in headers)
    if exchange.hint is not None and not has_hint_header:
        # Recorded by an observer alone: the hint is known, its header not.
        headers += (("retry-after", _seconds_text(exchange.hint)),)
    return headers


def entry_from_exchange(
    exchange: Exchange,
    *,
    at: float = 0.0,
    latency: float = 0.0,
    answer_at: float | None = None,
    default_status: int = 200,
) -> BackendEntry:
    """The fake API's entry that gives back the recorded answer."""
    if exchange.answer == "abandoned":
        # No answer was ever seen: the request hangs until its timeout.
        return BackendEntry(at=at, error=FailureKind.TIMEOUT)
    if exchange.transport is not None:
        kind = _FAILURE_KINDS.get(exchange.transport, FailureKind.RESET)
        return BackendEntry(at=at, error=kind, latency=latency, answer_at=answer_at)
    return BackendEntry(
        at=at,
        http_status=(
            default_status if exchange.http_status is None else exchange.http_status
        ),
        headers=_replay_headers(exchange),
        body=canonical_body(exchange.body),
        latency=latency,
        answer_at=answer_at,
    )
