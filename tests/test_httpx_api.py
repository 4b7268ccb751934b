"""The HTTP adapter: what it sends, and how every network outcome becomes a reply."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from livekit import handler_server

from pollwise.adapters.httpx_api import (
    AsyncHttpConversationApi,
    Endpoint,
    HttpConversationApi,
    below,
    parse_header,
)
from pollwise.engine.answers import (
    FailureKind,
    Fatal,
    Response,
    TransportFailure,
    classify,
)
from pollwise.engine.errors import EndpointError, PollingError
from pollwise.engine.profile import Profile


class _Handler(BaseHTTPRequestHandler):
    """A tiny HTTP server with one behaviour per path."""

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._send(200, b'{"status": "running", "messages": []}', {})
        elif self.path == "/echo-headers":
            seen = {k.lower(): v for k, v in self.headers.items()}
            body = json.dumps({"auth": seen.get("authorization", "")}).encode()
            self._send(200, body, {})
        elif self.path == "/big":
            self._send(200, b"x" * 5000, {})
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/gzip":
            body = gzip.compress(b'{"status": "done", "messages": [{"id": 1}]}')
            self._send(200, body, {"Content-Encoding": "gzip"})
        elif self.path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif self.path == "/redirect":
            self._send(302, b"", {"Location": "/ok"})
        elif self.path == "/hint":
            self._send(429, b"{}", {"Retry-After": "3"})
        elif self.path == "/reset":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"status":')
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.path == "/hang":
            self.server.release.wait(5)  # type: ignore[attr-defined]
        else:
            self._send(404, b'{"error": "not found"}', {})

    def do_POST(self) -> None:
        self._send(202, b'{"status": "generating"}', {"Retry-After": "1"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with handler_server(_Handler) as url:
        yield url


def _fetch(url: str, timeout: float = 5.0, **options: object) -> object:
    with HttpConversationApi(Endpoint(poll_url=url, **options)) as api:  # type: ignore[arg-type]
        return api.fetch(timeout)


def _fetch_async(url: str, timeout: float = 5.0, **options: object) -> object:
    async def go() -> object:
        endpoint = Endpoint(poll_url=url, **options)  # type: ignore[arg-type]
        async with AsyncHttpConversationApi(endpoint) as api:
            return await api.fetch(timeout)

    return asyncio.run(go())


FETCHERS = [pytest.param(_fetch, id="sync"), pytest.param(_fetch_async, id="async")]


@pytest.mark.parametrize("fetch", FETCHERS)
def test_a_plain_answer_comes_back_as_a_response(server: str, fetch: object) -> None:
    reply = fetch(server + "/ok")  # type: ignore[operator]
    assert isinstance(reply, Response)
    assert reply.status_code == 200
    assert reply.body == b'{"status": "running", "messages": []}'


@pytest.mark.parametrize("fetch", FETCHERS)
def test_headers_are_passed_through(server: str, fetch: object) -> None:
    reply = fetch(  # type: ignore[operator]
        server + "/echo-headers", headers={"Authorization": "Bearer s3cret"}
    )
    assert isinstance(reply, Response)
    assert reply.body == b'{"auth": "Bearer s3cret"}'


@pytest.mark.parametrize("fetch", FETCHERS)
@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_a_body_over_the_limit_fails_the_poll(
    server: str, fetch: object, path: str
) -> None:
    reply = fetch(server + path, max_body_bytes=4096)  # type: ignore[operator]
    assert reply == TransportFailure(FailureKind.TOO_LARGE, "body over 4096 bytes")


@pytest.mark.parametrize("fetch", FETCHERS)
def test_a_gzip_body_is_decompressed(server: str, fetch: object) -> None:
    reply = fetch(server + "/gzip")  # type: ignore[operator]
    assert isinstance(reply, Response)
    assert reply.body == b'{"status": "done", "messages": [{"id": 1}]}'


@pytest.mark.parametrize("fetch", FETCHERS)
@pytest.mark.parametrize("path", ["/redirect", "/loop"])
def test_a_redirect_is_the_answer_not_followed(
    server: str, fetch: object, path: str
) -> None:
    """The contract makes a 3xx other than 304 fatal, so the adapter hands
    the redirect back as it came (it followed up to five, and a loop failed
    the poll as a protocol error, retried five times)."""
    reply = fetch(server + path)  # type: ignore[operator]
    assert isinstance(reply, Response)
    assert reply.status_code == 302
    assert isinstance(classify(reply, Profile(), 0.0), Fatal)


def test_a_callers_client_that_follows_redirects_does_not_follow_them_here(
    server: str,
) -> None:
    with httpx.Client(follow_redirects=True) as client:
        api = HttpConversationApi(Endpoint(poll_url=server + "/redirect"), client)
        reply = api.fetch(5.0)
    assert isinstance(reply, Response)
    assert reply.status_code == 302


@pytest.mark.parametrize("fetch", FETCHERS)
def test_a_connection_cut_mid_body_is_a_reset(server: str, fetch: object) -> None:
    reply = fetch(server + "/reset")  # type: ignore[operator]
    assert isinstance(reply, TransportFailure)
    assert reply.kind is FailureKind.RESET


@pytest.mark.parametrize("fetch", FETCHERS)
def test_a_server_that_never_answers_times_out(server: str, fetch: object) -> None:
    reply = fetch(server + "/hang", timeout=0.2)  # type: ignore[operator]
    assert isinstance(reply, TransportFailure)
    assert reply.kind is FailureKind.TIMEOUT


@pytest.mark.parametrize("fetch", FETCHERS)
def test_a_refused_connection_is_a_connect_failure(fetch: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reply = fetch(f"http://127.0.0.1:{port}/x")  # type: ignore[operator]
    assert isinstance(reply, TransportFailure)
    assert reply.kind is FailureKind.CONNECT


@pytest.mark.parametrize("fetch", FETCHERS)
def test_no_time_left_sends_nothing_and_fails_as_a_timeout(
    server: str, fetch: object
) -> None:
    reply = fetch(server + "/ok", timeout=0.0)  # type: ignore[operator]
    assert isinstance(reply, TransportFailure)
    assert reply.kind is FailureKind.TIMEOUT


@pytest.mark.parametrize("fetch", FETCHERS)
def test_userinfo_in_a_url_is_sent_as_basic_auth(server: str, fetch: object) -> None:
    """Credentials leave the URL (so no logger sees them) but still reach the server."""
    url = server.replace("http://", "http://user:pa55@") + "/echo-headers"
    reply = fetch(url)  # type: ignore[operator]
    assert isinstance(reply, Response)
    assert reply.body == b'{"auth": "Basic dXNlcjpwYTU1"}'


def test_the_trigger_is_a_post_and_keeps_its_hint(server: str) -> None:
    endpoint = Endpoint(poll_url=server + "/ok", trigger_url=server + "/go")
    with HttpConversationApi(endpoint) as api:
        reply = api.trigger(5.0)
    assert isinstance(reply, Response)
    assert reply.status_code == 202
    assert reply.header("retry-after") == "1"


def test_the_reference_layout_quotes_the_conversation_id() -> None:
    endpoint = Endpoint.for_conversation("http://127.0.0.1:1/api/", "a b/c")
    assert endpoint.poll_url == "http://127.0.0.1:1/api/conversations/a%20b%2Fc"
    assert endpoint.trigger_url == endpoint.poll_url + "/generate-sequence"


@pytest.mark.parametrize(
    "url", ["ftp://example.invalid/x", "not a url", "http://", "/relative"]
)
def test_an_endpoint_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="poll_url"):
        Endpoint(poll_url=url)


@pytest.mark.parametrize("url", [" http://127.0.0.1/x", "http://127.0.0.1/x\n"])
def test_an_endpoint_refuses_a_url_with_white_space_around_it(url: str) -> None:
    """httpx strips it, so the message showed a valid-looking URL and said
    it was not one (found by a fresh user)."""
    with pytest.raises(ValueError, match="poll_url: white space around the URL"):
        Endpoint(poll_url=url)


def test_an_endpoint_refuses_a_body_limit_below_one() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        Endpoint(poll_url="http://127.0.0.1:1/", max_body_bytes=0)


def test_the_endpoint_repr_never_shows_header_values() -> None:
    endpoint = Endpoint(
        poll_url="http://127.0.0.1:1/", headers={"Authorization": "Bearer s3cret"}
    )
    assert "s3cret" not in repr(endpoint)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer x", ("Authorization", "Bearer x")),
        ("X-Key:v", ("X-Key", "v")),
        ("X-Empty:", ("X-Empty", "")),
        ("A: b: c", ("A", "b: c")),
    ],
)
def test_a_header_argument_splits_at_the_first_colon(
    text: str, expected: tuple[str, str]
) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no colon", ": value", "bad name: v"])
def test_a_malformed_header_argument_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Name: value"):
        parse_header(text)


def test_a_mock_transport_error_maps_to_a_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = HttpConversationApi(Endpoint(poll_url="http://127.0.0.1:1/"), client)
    assert api.fetch(1.0) == TransportFailure(FailureKind.CONNECT, "ConnectError")
    client.close()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Endpoint(poll_url="ftp://127.0.0.1/x"),
        lambda: Endpoint(poll_url="http://127.0.0.1:70000/x"),
        lambda: Endpoint(poll_url="http://127.0.0.1/x", max_body_bytes=0),
        lambda: parse_header("no colon here"),
        lambda: HttpConversationApi(Endpoint(poll_url="http://127.0.0.1/x")).trigger(1),
    ],
)
def test_every_endpoint_mistake_is_a_polling_error(make: Callable[[], object]) -> None:
    """Found by an embedding trial: these raised a bare ValueError, so a UI
    catching PollingError on a URL its user typed crashed. EndpointError is
    both, as PolicyError is."""
    with pytest.raises(EndpointError) as caught:
        make()
    assert isinstance(caught.value, PollingError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("base", "poll"),
    [
        ("http://h/api?key=abc", "http://h/api/conversations/c%201?key=abc"),
        ("http://h/api/", "http://h/api/conversations/c%201"),
        ("http://h", "http://h/conversations/c%201"),
        ("http://h:8/x/?a=1&b=2#f", "http://h:8/x/conversations/c%201?a=1&b=2#f"),
    ],
)
def test_a_query_on_the_base_url_stays_after_the_path(base: str, poll: str) -> None:
    """Found by an embedding trial: ``?api_key=abc`` on the base URL ended
    up with the path inside it (``?key=abc/conversations/c1``): a 404."""
    endpoint = Endpoint.for_conversation(base, "c 1")
    assert endpoint.poll_url == poll
    assert endpoint.trigger_url == below(base, "conversations/c%201/generate-sequence")
    assert endpoint.trigger_url is not None
    assert "/generate-sequence" in endpoint.trigger_url.split("?")[0]
