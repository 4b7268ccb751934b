"""The reference conversation server: a real ASGI app that generates messages.

Point any client (pollwise's or another) at it to watch progressive polling
against a live HTTP server, with faults on demand. The endpoints:

- ``POST /conversations``: 201 and a new conversation (status "idle").
- ``GET /conversations/{id}``: 200 and ``{"id", "status", "messages"}``.
- ``POST /conversations/{id}/generate-sequence``: 202 and the generation
  starts; 409 while one is still running.
- ``DELETE /conversations/{id}``: 204; the id answers 404 from then on.
- ``GET /health``: 200 ``{"ok": true}``.

Both POSTs take an optional JSON body ``{"pace", "count", "faults"}`` that
overrides the server's settings for that conversation or generation; a bad
body answers 400. Every error is a JSON object ``{"error": "..."}``.
Unknown ids answer 404. The timing is described in
:mod:`pollwise.adapters.reference_model` and the faults in
:mod:`pollwise.adapters.reference_faults`; this module carries them out,
over a real socket: a "cut" answer really stops halfway through its body,
a "hang" really never answers, a "drip" really sends one byte at a time.
Every answer carries a ``Date`` header read when it is sent.

:class:`ReferenceServer` runs the app on a background thread (tests,
demos); :func:`serve_forever` runs it in the foreground (``pollwise
serve``). Both use uvicorn, quietly: no access log, warnings only, and no
change to the process's logging configuration.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import socket
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pollwise.engine.errors import PollingError

from .reference_faults import padded, rate_limit_headers, wrong_shape
from .reference_model import (
    FAULT_NAMES,
    ConversationStore,
    Faults,
    GenerationRunningError,
    GetFault,
    Overrides,
    ServerSettings,
    SettingsError,
)
from .reference_wire import (
    CutResponse,
    DateHeader,
    DripResponse,
    quiet_deliberate_cuts,
    still_there_after,
)

__all__ = [
    "FAULT_NAMES",
    "UNREADABLE_BODY",
    "Faults",
    "ReferenceServer",
    "ServerError",
    "ServerSettings",
    "SettingsError",
    "create_app",
    "serve_forever",
]

logger = logging.getLogger("pollwise.adapters")

#: The body of an "unreadable" answer: a 200 that is not JSON.
UNREADABLE_BODY: Final = "<html>upstream hiccup</html>"

_NO_STORE: Final = {"Cache-Control": "no-store"}


class ServerError(PollingError, RuntimeError):
    """The reference server could not start or stop, or was started twice."""


def _error(
    status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code, headers=headers)


def _unknown(conversation_id: str) -> JSONResponse:
    return _error(404, f"no conversation {conversation_id!r}")


def _redirect(request: Request, faults: Faults) -> Response | None:
    """A 307 on the way to the answer, or None once the chain is walked."""
    path = request.url.path
    if faults.redirect_loop:
        return RedirectResponse(path, 307, headers=_NO_STORE)
    hop_text = request.query_params.get("hop", "0")
    hop = int(hop_text) if hop_text.isdigit() else 0
    if hop < faults.redirects:
        return RedirectResponse(f"{path}?hop={hop + 1}", 307, headers=_NO_STORE)
    return None


def _answer(document: Any, faults: Faults, *, cut: bool) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {**_NO_STORE, "Content-Type": "application/json"}
    if faults.gzip:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if cut:
        return CutResponse(body, headers=headers)
    if faults.drip > 0:
        return DripResponse(body, headers, faults.drip)
    return Response(body, headers=headers)


def create_app(settings: ServerSettings | None = None) -> Starlette:
    """The reference conversation API as a Starlette app, with its own state.

    Args:
        settings: pace, count, faults and the 429's ``Retry-After``; the
            defaults of :class:`ServerSettings` when omitted.

    Returns:
        An ASGI app; every app holds its own conversations, in memory.
    """
    settings = settings if settings is not None else ServerSettings()
    store = ConversationStore(settings)

    async def create_conversation(request: Request) -> Response:
        snapshot = store.create(Overrides.from_json(await request.body()))
        location = {"Location": f"/conversations/{snapshot['id']}"}
        return JSONResponse(snapshot, 201, headers=location)

    async def read_conversation(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        faults = store.faults(conversation_id)
        if faults is None:
            return _unknown(conversation_id)
        redirect = _redirect(request, faults)
        if redirect is not None:
            return redirect
        counted = store.count_get(conversation_id)
        if counted is None:
            return _unknown(conversation_id)
        fault, slow = counted
        if fault is GetFault.HANG:
            slow = math.inf
        if slow > 0 and not await still_there_after(request.receive, slow):
            return Response(status_code=204)  # nobody is listening any more
        # Read after the wait: the answer shows the time it is sent, and a
        # conversation deleted meanwhile is gone.
        snapshot = store.snapshot(conversation_id)
        if snapshot is None:
            return _unknown(conversation_id)
        if fault is GetFault.UNAVAILABLE:
            return _error(faults.burst_status, "server error (fault burst_503)")
        if fault is GetFault.RATE_LIMITED:
            return _error(
                429,
                "too many requests (fault rate_limit)",
                rate_limit_headers(faults, settings.retry_after, time.time()),
            )
        if fault is GetFault.UNREADABLE:
            return HTMLResponse(UNREADABLE_BODY, headers=_NO_STORE)
        if fault is GetFault.WRONG_SHAPE:
            document = wrong_shape(snapshot, faults.shape)
        else:
            document = padded(snapshot, faults.pad)
        return _answer(document, faults, cut=fault is GetFault.CUT)

    async def generate_sequence(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        overrides = Overrides.from_json(await request.body())
        try:
            status = store.generate(conversation_id, overrides)
        except GenerationRunningError as exc:
            return _error(409, str(exc))
        if status is None:
            return _unknown(conversation_id)
        return JSONResponse({"id": conversation_id, "status": status}, 202)

    async def delete_conversation(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        if not store.delete(conversation_id):
            return _unknown(conversation_id)
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def bad_settings(request: Request, exc: Exception) -> Response:
        return _error(400, f"bad request body: {exc}")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, exc.detail, exc.headers)

    conversation = "/conversations/{conversation_id}"
    return Starlette(
        routes=[
            Route("/conversations", create_conversation, methods=["POST"]),
            Route(conversation, read_conversation, methods=["GET"]),
            Route(conversation, delete_conversation, methods=["DELETE"]),
            Route(
                f"{conversation}/generate-sequence", generate_sequence, methods=["POST"]
            ),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={SettingsError: bad_settings, HTTPException: http_error},
        middleware=[Middleware(DateHeader)],
    )


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
    # Built by hand, not with socket.create_server: asyncio only turns on
    # TCP_NODELAY for sockets whose proto is IPPROTO_TCP, and without it
    # every answer waits ~40 ms for a delayed ACK (Nagle's algorithm).
    if not 0 <= port <= 65535:
        # getaddrinfo would quietly take the port modulo 65536.
        raise ServerError(f"port {port} is not in 0-65535")
    sock: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen()
    except OSError:
        if sock is not None:
            sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` once it serves."""

    def __init__(
        self, app: Starlette, sock: socket.socket, on_ready: Callable[[str], None]
    ) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
                # The app dates every answer itself, at the moment it is
                # sent (uvicorn's own Date is refreshed once a second).
                date_header=False,
            )
        )
        quiet_deliberate_cuts()
        self.sock = sock
        self.url = _url(sock)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            logger.info("reference server listening at %s", self.url)
            self._on_ready(self.url)


class ReferenceServer:
    """The reference app, served by uvicorn on a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with ReferenceServer(ServerSettings(pace=0.1)) as server:
            httpx.post(f"{server.url}/conversations")

    Args:
        settings: the app's settings (:class:`ServerSettings` by default).
        host: the address to listen on; loopback by default.
        port: the port; 0 lets the system pick a free one (see :attr:`port`).
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.settings = settings if settings is not None else ServerSettings()
        #: the app; its conversations outlive a stop and a new start
        self.app = create_app(self.settings)
        self.host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:54321``.

        Raises:
            ServerError: the server was never started.
        """
        if self._server is None:
            raise ServerError("the reference server was never started")
        return self._server.url

    @property
    def port(self) -> int:
        """The port the server listens (or last listened) on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def is_running(self) -> bool:
        """Whether the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        timeout: float = 5.0,
        *,
        port: int | None = None,
        keep_conversations: bool = True,
    ) -> None:
        """Start serving; returns once the server accepts connections.

        Args:
            timeout: how long uvicorn may take to come up.
            port: the port this time (say, the one it had before a stop);
                None: the constructor's.
            keep_conversations: False starts with a fresh app, as a server
                that lost its memory in a crash would.

        Raises:
            OSError: the address cannot be bound (the port is taken, say).
            ServerError: the server is already running, the port is not in
                0-65535, or uvicorn did not come up within ``timeout``.
        """
        if self.is_running:
            raise ServerError(f"the reference server already runs at {self.url}")
        if not keep_conversations:
            self.app = create_app(self.settings)
        ready = threading.Event()
        sock = _listen(self.host, self._requested_port if port is None else port)
        server = _Server(self.app, sock, lambda url: ready.set())
        self._server = server
        self._failure = None
        self._thread = threading.Thread(
            target=self._serve,
            args=(server, ready),
            name=f"pollwise-reference-server-{server.url.rsplit(':', 1)[1]}",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout) or not server.started:
            self.stop(timeout)
            sock.close()
            raise ServerError(
                f"the reference server did not start at {server.url}"
            ) from self._failure

    def _serve(self, server: _Server, ready: threading.Event) -> None:
        try:
            server.run(sockets=[server.sock])
        except BaseException as exc:  # a thread has nobody else to tell
            self._failure = exc
            logger.exception("reference server at %s crashed", server.url)
        finally:
            ready.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Shut down cleanly and join the thread; does nothing when not running.

        Requests still in flight get up to a second to finish. A server that
        does not stop within ``timeout`` is forced to, then waited for again.

        Raises:
            ServerError: the thread is still alive after that.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("reference server at %s is slow to stop", server.url)
            server.force_exit = True
            thread.join(timeout)
        if thread.is_alive():
            raise ServerError(f"the reference server at {server.url} did not stop")
        self._thread = None
        logger.info("reference server at %s stopped", server.url)

    def restart(self, *, keep_conversations: bool = True, timeout: float = 5.0) -> None:
        """Stop, then serve again at once on the same port.

        Args:
            keep_conversations: False forgets every conversation, as after a
                crash; their ids answer 404 from then on.

        Raises:
            ServerError: the server was never started, or could not restart.
            OSError: the port was taken meanwhile.
        """
        port = self.port
        self.stop(timeout)
        self.start(timeout, port=port, keep_conversations=keep_conversations)

    def __enter__(self) -> ReferenceServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"ReferenceServer({self.settings!r}, host={self.host!r}, "
            f"port={self._requested_port!r})"
        )


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    settings: ServerSettings | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the reference app in the foreground until interrupted.

    On the main thread, uvicorn handles SIGINT and SIGTERM: it shuts down
    cleanly, then raises the signal again with the previous handler, so
    Ctrl+C ends in :class:`KeyboardInterrupt` after the shutdown.

    Args:
        host: the address to listen on.
        port: the port; 0 lets the system pick one.
        settings: the app's settings.
        on_ready: called with the base URL once the server accepts
            connections (on the server's event loop: keep it short).

    Raises:
        OSError: the address cannot be bound (the port is taken, say).
    """
    sock = _listen(host, port)
    server = _Server(create_app(settings), sock, on_ready or _ignore)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _ignore(url: str) -> None:
    return None
