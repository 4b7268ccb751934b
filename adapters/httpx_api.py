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
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Final
from urllib.parse import quote

import attrs
import httpx

from pollwise.engine.answers import FailureKind, Reply, Response, TransportFailure

from .redaction import redact_url

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AsyncHttpConversationApi",
    "Endpoint",
    "HttpConversationApi",
    "parse_header",
]

logger = logging.getLogger("pollwise.adapters.http")

#: Bodies larger than this are refused (the poll fails) unless told otherwise.
DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024
#: Redirects followed before the poll fails.
MAX_REDIRECTS: Final = 5


def _check_url(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"{attribute.name}: not a URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"{attribute.name}: {redact_url(str(value))!r} is not an http(s) URL"
        )


def _headers(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> Any:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(name), str(header)) for name, header in items)


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
        ValueError: a URL is not an http(s) URL, or the limit is not positive.
    """

    poll_url: str = attrs.field(validator=_check_url)
    trigger_url: str | None = attrs.field(default=None, validator=_check_url)
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(), converter=_headers, repr=False
    )
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __attrs_post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {self.max_body_bytes}")

    @classmethod
    def for_conversation(
        cls,
        base_url: str,
        conversation_id: str,
        **options: Any,
    ) -> Endpoint:
        """The reference API's layout: ``GET {base}/conversations/{id}`` and
        ``POST {base}/conversations/{id}/generate-sequence``."""
        base = base_url.rstrip("/")
        conversation = f"{base}/conversations/{quote(conversation_id, safe='')}"
        return cls(
            poll_url=conversation,
            trigger_url=f"{conversation}/generate-sequence",
            **options,
        )


def parse_header(text: str) -> tuple[str, str]:
    """Split ``'Name: value'`` into its parts.

    Raises:
        ValueError: there is no colon, or the name is empty or not a token.
    """
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in ' \t"(),/;<=>?@[\\]{}'):
        raise ValueError(f"a header must look like 'Name: value', got {text!r}")
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

    The sync client's timeouts apply to each network operation; the whole
    body is also checked against the request timeout between chunks, so a
    slow drip of bytes overshoots by at most one read timeout.
    """

    def __init__(self, endpoint: Endpoint, client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        self._targets = {
            url: _split_userinfo(url)
            for url in (endpoint.poll_url, endpoint.trigger_url)
            if url is not None
        }
        self._own_client = client is None
        self._client = client or httpx.Client(
            follow_redirects=True, max_redirects=MAX_REDIRECTS
        )

    def trigger(self, timeout: float) -> Reply:
        if self.endpoint.trigger_url is None:
            raise ValueError("this endpoint has no trigger_url")
        return self._request("POST", self.endpoint.trigger_url, timeout)

    def fetch(self, timeout: float) -> Reply:
        return self._request("GET", self.endpoint.poll_url, timeout)

    def _request(self, method: str, url: str, timeout: float) -> Reply:
        started = time.monotonic()
        if timeout <= 0:
            return _log(method, url, _no_time_left(), started)
        target, auth = self._targets[url]
        try:
            with self._client.stream(
                method,
                target,
                headers=self.endpoint.headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.Timeout(timeout),
            ) as response:
                reply = self._read(response, started + timeout)
        except httpx.HTTPError as exc:
            reply = _failure(exc)
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
        self._client = client or httpx.AsyncClient(
            follow_redirects=True, max_redirects=MAX_REDIRECTS
        )

    async def trigger(self, timeout: float) -> Reply:
        if self.endpoint.trigger_url is None:
            raise ValueError("this endpoint has no trigger_url")
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
