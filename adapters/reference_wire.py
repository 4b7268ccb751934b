"""How the reference server's faults go over the wire.

Starlette's responses always finish what they start; a fault server must
not. These ASGI pieces answer the way a broken server or network would:
:class:`CutResponse` stops halfway through its body and closes the
connection, :class:`DripResponse` sends one byte at a time,
:func:`still_there_after` holds an answer back (for ever, for a hang)
while noticing when the client gives up, and :class:`DateHeader` dates
every answer at the moment it is sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
from collections.abc import Mapping
from email.utils import formatdate
from typing import Final

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CutResponse",
    "DateHeader",
    "DripResponse",
    "quiet_deliberate_cuts",
    "still_there_after",
]

#: Set while a "cut" answer stops short on purpose, so that uvicorn's
#: complaint about the unfinished answer is not logged as a server error.
CUTTING: Final = contextvars.ContextVar("pollwise_reference_cutting", default=False)


class QuietDeliberateCuts(logging.Filter):
    """Drops uvicorn's error line for an answer the "cut" fault stopped short."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (CUTTING.get() and "without completing" in str(record.msg))


def quiet_deliberate_cuts() -> None:
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietDeliberateCuts) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(QuietDeliberateCuts())


def start_message(status: int, headers: Mapping[str, str]) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }


class CutResponse(Response):
    """Announces the whole body, sends half of it, and closes the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {**self.headers, "content-length": str(len(self.body))}
        await send(start_message(self.status_code, headers))
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        CUTTING.set(True)


async def until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def still_there_after(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds`` (for ever when infinite), unless the client leaves
    first; True when it is still there."""
    gone = asyncio.ensure_future(until_disconnected(receive))
    try:
        await asyncio.wait({gone}, timeout=None if math.isinf(seconds) else seconds)
        return not gone.done()
    finally:
        gone.cancel()


class DripResponse(Response):
    """Sends the body one byte at a time, ``interval`` seconds apart; stops
    as soon as the client goes away."""

    def __init__(self, body: bytes, headers: Mapping[str, str], interval: float):
        super().__init__(body, headers=dict(headers))
        self.interval = interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(start_message(self.status_code, dict(self.headers)))
        gone = asyncio.ensure_future(until_disconnected(receive))
        try:
            for index in range(len(self.body)):
                if gone.done():
                    return
                await asyncio.wait({gone}, timeout=self.interval)
                last = index + 1 == len(self.body)
                chunk = self.body[index : index + 1]
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": not last}
                )
        finally:
            gone.cancel()


class DateHeader:
    """ASGI middleware: a ``Date`` header on every answer that has none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    date = formatdate(time.time(), usegmt=True).encode()
                    message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_dated)
