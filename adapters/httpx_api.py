"""The API port over HTTP, on httpx: trigger with a POST, poll with a GET.

:class:`HttpConversationApi` (sync) and :class:`AsyncHttpConversationApi`
(asyncio) share everything but the I/O itself: the :class:`Endpoint`, the
way a response is read within a size limit and a time budget, and the way
httpx's exceptions map to :class:`~pollwise.engine.answers.TransportFailure`.
They never raise for what the network or the server does; classifying the
reply is the engine's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import attrs
import httpx

from pollwise.engine.answers import FailureKind, Reply, Response, TransportFailure
from pollwise.engine.errors import EndpointError

from .redaction import guard_http_loggers, redact_url

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AsyncHttpConversationApi",
    "Endpoint",
    "HttpConversationApi",
    "below",
    "parse_header",
]

logger = logging.getLogger("pollwise.adapters.http")

#: Bodies larger than this are refused (the poll fails) unless told otherwise.
DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024


def _check_url(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str) and value != value.strip():
        # httpx would strip it, and the message would show a valid URL.
        raise EndpointError(f"{attribute.name}: white space around the URL")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise EndpointError(f"{attribute.name}: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise EndpointError(
            f"{attribute.name}: {redact_url(str(value))!r} is not an http(s) URL"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise EndpointError(f"{attribute.name}: port {url.port} is not from 1 to 65535")


def _url_repr(url: str | None) -> str:
    return repr(None if url is None else redact_url(url))


#: Headers that frame the message; httpx sets them, and a user's copy would
#: corrupt the request.
_FRAMING_HEADERS: Final = frozenset(
    {"content-length", "transfer-encoding", "host", "connection"}
)
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _headers(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> Any:
    items = value.items() if isinstance(value, Mapping) else value
    result = tuple((str(name), str(header)) for name, header in items)
    for name, header in result:
        # Messages name the header, never its value: it may be a credential.
        if not _TOKEN.fullmatch(name):
            raise EndpointError(f"header name {name!r} is not an HTTP token")
        if name.lower() in _FRAMING_HEADERS:
            raise EndpointError(f"header {name!r} is set by pollwise itself")
        if not _FIELD_VALUE.fullmatch(header) or not header.isascii():
            raise EndpointError(
                f"header {name!r}: the value must be printable ASCII "
                "(no line breaks or control characters)"
            )
    return result


@attrs.frozen(kw_only=True)
class Endpoint:
    """Where one job lives, and what every request carries.

    Args:
        poll_url: the URL polled with GET.
        trigger_url: the URL the job is started with (POST), if any.
        headers: sent with every request (Authorization and the like);
            passed through, never logged.
        max_body_bytes: a larger body (after decompression) fails the poll.

    Raises:
        EndpointError: a URL is not an http(s) URL, or the limit is not positive.
    """

    poll_url: str = attrs.field(validator=_check_url, repr=_url_repr)
    trigger_url: str | None = attrs.field(
        default=None, validator=_check_url, repr=_url_repr
    )
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_headers, repr=False
    )
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __attrs_post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise EndpointError(
                f"max_body_bytes must be >= 1, got {self.max_body_bytes}"
            )

    @classmethod
    def for_conversation(
        cls,
        base_url: str,
        conversation_id: str,
        **options: Any,
    ) -> Endpoint:
        """The reference API's layout: ``GET {base}/conversations/{id}`` and
        ``POST {base}/conversations/{id}/generate-sequence``.

        A query or fragment on ``base_url`` (``?api_key=...``) stays on both
        URLs, after the path.
        """
        conversation = f"conversations/{quote(conversation_id, safe='')}"
        return cls(
            poll_url=below(base_url, conversation),
            trigger_url=below(base_url, f"{conversation}/generate-sequence"),
            **options,
        )


def below(base_url: str, path: str) -> str:
    """``base_url`` with ``path`` appended to its path; its query and
    fragment (``?api_key=...``) stay after the path."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path}"))


def parse_header(text: str) -> tuple[str, str]:
    """Split ``'Name: value'`` into its parts.

    Raises:
        EndpointError: there is no colon, or the name is empty or not a token.
    """
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in ' \t"(),/;<=>?@[\\]{}'):
        # The text is not repeated: it may well hold a credential.
        raise EndpointError(
            "a header must look like 'Name: value' (a token, a colon, the value)"
        )
    return name, value.strip()


def _split_userinfo(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """Move credentials out of a URL, so that no logger ever sees them.

    httpx logs each request's URL at INFO; a password in the URL would be in
    that line. As an Authorization header it is sent all the same.
    """
    parsed = httpx.URL(url)
    if not parsed.userinfo:
        return url, None
    auth = httpx.BasicAuth(parsed.username, parsed.password)
    return str(parsed.copy_with(username=None, password=None)), auth


def _failure(exc: Exception) -> TransportFailure:
    detail = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure(FailureKind.TIMEOUT, detail)
    if isinstance(exc, httpx.ConnectError):
        return TransportFailure(FailureKind.CONNECT, detail)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return TransportFailure(FailureKind.RESET, detail)
    return TransportFailure(FailureKind.PROTOCOL, detail)


class _BodyReader:
    """Collects a body within a size limit and a time budget."""

    def __init__(self, response: httpx.Response, limit: int, deadline: float) -> None:
        self.response = response
        self.limit = limit
        self.deadline = deadline
        self.chunks: list[bytes] = []
        self.size = 0

    def too_large_upfront(self) -> bool:
        declared = self.response.headers.get("content-length", "")
        return declared.isdigit() and int(declared) > self.limit

    def take(self, chunk: bytes) -> TransportFailure | None:
        self.size += len(chunk)
        if self.size > self.limit:
            return TransportFailure(
                FailureKind.TOO_LARGE, f"body over {self.limit} bytes"
            )
        if time.monotonic() > self.deadline:
            return TransportFailure(FailureKind.TIMEOUT, "body arrived too slowly")
        self.chunks.append(chunk)
        return None

    def reply(self) -> Response:
        return Response(
            self.response.status_code,
            tuple(self.response.headers.multi_items()),
            b"".join(self.chunks),
        )


class _AbandonedError(Exception):
    """Raised from httpx's trace hook to stop a request that was cut off."""


class _InFlight:
    """One sync request: the connections it uses, and whether it was cut off.

    Cutting shuts the connections down (``shutdown``, not ``close``, so that
    a read blocked on another thread returns at once); a connection opened
    after the cut is shut down as soon as it exists, and a request whose
    head is not yet sent is stopped before it goes out.

    Args:
        pool: every connection the adapter's own client opened (None for a
            client it was given). Only this request uses that client, so a
            cut shuts them all: a reused connection is then covered even
            before the answer's head names it.
    """

    def __init__(self, pool: weakref.WeakSet[Any] | None) -> None:
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self._pool = pool
        self.cut_by: TransportFailure | None = None

    def cut(self, why: TransportFailure) -> None:
        with self._lock:
            if self.cut_by is None:
                self.cut_by = why
            streams = [*self._streams, *(self._pool or ())]
        for stream in streams:
            _shut_down(stream)

    def add(self, stream: Any) -> None:
        if stream is None:
            return
        with self._lock:
            self._streams.append(stream)
            if self._pool is not None:
                self._pool.add(stream)
            cut = self.cut_by is not None
        if cut:
            _shut_down(stream)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's ``trace`` extension: learn each new connection's stream."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            self.add(info.get("return_value"))
        elif event.endswith(".send_request_headers.started") and self.cut_by:
            raise _AbandonedError


def _shut_down(stream: Any) -> None:
    get_extra_info = getattr(stream, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    if not isinstance(sock, socket.socket):
        return
    # The plain socket's shutdown even for TLS: it wakes a blocked read
    # without touching the TLS object another thread is reading through.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_INTERRUPTED: Final = TransportFailure(FailureKind.RESET, "abandoned")
_DEADLINE: Final = TransportFailure(FailureKind.TIMEOUT, "request timeout")


def _too_large(limit: int) -> TransportFailure:
    return TransportFailure(FailureKind.TOO_LARGE, f"body over {limit} bytes")


def _no_time_left() -> TransportFailure:
    # The contract bounds a request by the time left to the deadline; with
    # none left, sending would only load the server with a request whose
    # answer cannot count.
    return TransportFailure(FailureKind.TIMEOUT, "no time left before the deadline")


def _log(method: str, url: str, reply: Reply, started: float) -> Reply:
    if logger.isEnabledFor(logging.DEBUG):
        outcome = (
            f"HTTP {reply.status_code}"
            if isinstance(reply, Response)
            else f"{reply.kind.value} ({reply.detail})"
        )
        logger.debug(
            "%s %s -> %s in %.3fs",
            method,
            redact_url(url),
            outcome,
            time.monotonic() - started,
        )
    return reply


class HttpConversationApi:
    """The API port over a synchronous :class:`httpx.Client`.

    Args:
        endpoint: the URLs, headers and body limit.
        client: a client to use (and not close); one is made otherwise.

    The whole request, body included, is bounded by the request timeout:
    httpx's own timeouts bound each network operation, and a timer cuts
    the connection off when the total runs out (a slow drip of bytes).
    :meth:`interrupt`, from any thread, abandons the request in flight at
    once; :func:`~pollwise.engine.runners.run_sync` calls it when the
    session is cancelled.
    """

    def __init__(self, endpoint: Endpoint, client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        self._targets = {
            url: _split_userinfo(url)
            for url in (endpoint.poll_url, endpoint.trigger_url)
            if url is not None
        }
        self._own_client = client is None
        self._client = client or httpx.Client()
        guard_http_loggers()
        self._lock = threading.Lock()
        self._in_flight: _InFlight | None = None
        self._pool: weakref.WeakSet[Any] | None = (
            weakref.WeakSet() if self._own_client else None
        )

    def trigger(self, timeout: float) -> Reply:
        if self.endpoint.trigger_url is None:
            raise EndpointError("this endpoint has no trigger_url")
        return self._request("POST", self.endpoint.trigger_url, timeout)

    def fetch(self, timeout: float) -> Reply:
        return self._request("GET", self.endpoint.poll_url, timeout)

    def interrupt(self) -> None:
        """Abandon the request in flight, if any; safe from any thread.

        The request returns at once as a failed reply. With the adapter's
        own client every connection is covered; with a client it was given,
        the connections the request opened, and a reused one from the
        moment its answer's head arrived (before that, the request timeout
        bounds it as usual).
        """
        with self._lock:
            in_flight = self._in_flight
        if in_flight is not None:
            in_flight.cut(_INTERRUPTED)

    def _request(self, method: str, url: str, timeout: float) -> Reply:
        started = time.monotonic()
        if timeout <= 0:
            return _log(method, url, _no_time_left(), started)
        target, auth = self._targets[url]
        in_flight = _InFlight(self._pool)
        with self._lock:
            self._in_flight = in_flight
        deadline = threading.Timer(timeout, in_flight.cut, args=(_DEADLINE,))
        deadline.name = "pollwise-request-deadline"
        deadline.daemon = True
        deadline.start()
        try:
            with self._client.stream(
                method,
                target,
                headers=self.endpoint.headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.Timeout(timeout),
                # The contract makes a 3xx other than 304 fatal: the answer
                # is the redirect itself, whatever a caller's client says.
                follow_redirects=False,
                extensions={"trace": in_flight.trace},
            ) as response:
                in_flight.add(response.extensions.get("network_stream"))
                reply = self._read(response, started + timeout)
        except (httpx.HTTPError, _AbandonedError) as exc:
            reply = in_flight.cut_by or _failure(exc)
        finally:
            deadline.cancel()
            deadline.join()
            with self._lock:
                self._in_flight = None
        return _log(method, url, reply, started)

    def _read(self, response: httpx.Response, deadline: float) -> Reply:
        reader = _BodyReader(response, self.endpoint.max_body_bytes, deadline)
        if reader.too_large_upfront():
            return _too_large(reader.limit)
        chunks: Iterator[bytes] = response.iter_bytes()
        for chunk in chunks:
            failure = reader.take(chunk)
            if failure is not None:
                return failure
        return reader.reply()

    def close(self) -> None:
        """Close the client if this object made it."""
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HttpConversationApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncHttpConversationApi:
    """The API port over an :class:`httpx.AsyncClient`.

    The whole request, body included, is bounded by the request timeout.
    """

    def __init__(
        self, endpoint: Endpoint, client: httpx.AsyncClient | None = None
    ) -> None:
        self.endpoint = endpoint
        self._targets = {
            url: _split_userinfo(url)
            for url in (endpoint.poll_url, endpoint.trigger_url)
            if url is not None
        }
        self._own_client = client is None
        self._client = client or httpx.AsyncClient()
        guard_http_loggers()

    async def trigger(self, timeout: float) -> Reply:
        if self.endpoint.trigger_url is None:
            raise EndpointError("this endpoint has no trigger_url")
        return await self._request("POST", self.endpoint.trigger_url, timeout)

    async def fetch(self, timeout: float) -> Reply:
        return await self._request("GET", self.endpoint.poll_url, timeout)

    async def _request(self, method: str, url: str, timeout: float) -> Reply:
        started = time.monotonic()
        if timeout <= 0:
            return _log(method, url, _no_time_left(), started)
        target, auth = self._targets[url]
        try:
            async with asyncio.timeout(timeout):
                async with self._client.stream(
                    method,
                    target,
                    headers=self.endpoint.headers,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                    timeout=httpx.Timeout(timeout),
                    follow_redirects=False,
                ) as response:
                    reply = await self._read(response, started + timeout)
        except TimeoutError:
            reply = TransportFailure(FailureKind.TIMEOUT, "request timeout")
        except httpx.HTTPError as exc:
            reply = _failure(exc)
        return _log(method, url, reply, started)

    async def _read(self, response: httpx.Response, deadline: float) -> Reply:
        reader = _BodyReader(response, self.endpoint.max_body_bytes, deadline)
        if reader.too_large_upfront():
            return _too_large(reader.limit)
        chunks: AsyncIterator[bytes] = response.aiter_bytes()
        async for chunk in chunks:
            failure = reader.take(chunk)
            if failure is not None:
                return failure
        return reader.reply()

    async def aclose(self) -> None:
        """Close the client if this object made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpConversationApi:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
