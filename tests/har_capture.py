"""Recording a real session as HAR 1.2, as a browser's developer tools would.

:class:`HarCapture` is an httpx transport that passes every request to a
real one and keeps what went over the wire, with wall-clock start times
and durations; :func:`har_document` writes that as HAR 1.2. The tests use
it to capture live sessions against the reference server, and running
this file regenerates the two committed fixtures of one such session::

    .venv/bin/python tests/har_capture.py

``tests/fixtures/traces/reference-session.har`` (the HTTP traffic, as a
frontend would capture it) and ``reference-session.jsonl`` (pollwise's own
trace of the same session, on the real clock).
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import httpx

from pollwise.adapters.clocks import SystemClock
from pollwise.adapters.httpx_api import Endpoint, HttpConversationApi
from pollwise.adapters.reference_server import ReferenceServer, ServerSettings
from pollwise.adapters.trace_recorder import TraceRecorder
from pollwise.engine import Outcome, Policy, Session, run_sync

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"


def _iso(wall: float) -> str:
    moment = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HarCapture(httpx.BaseTransport):
    """An httpx transport that keeps every exchange as a HAR entry."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner if inner is not None else httpx.HTTPTransport()
        self.entries: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.time()
        clock = time.perf_counter()
        response = self.inner.handle_request(request)
        body = response.read()
        elapsed_ms = (time.perf_counter() - clock) * 1000.0
        headers = [
            (k, v) for k, v in response.headers.multi_items() if k != "content-encoding"
        ]
        self.entries.append(
            {
                "startedDateTime": _iso(started),
                "time": round(elapsed_ms, 3),
                "request": {
                    "method": request.method,
                    "url": str(request.url),
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [
                        {"name": k, "value": v}
                        for k, v in request.headers.multi_items()
                        if k.lower() != "authorization"
                    ],
                    "queryString": [],
                    "headersSize": -1,
                    "bodySize": len(request.content),
                },
                "response": {
                    "status": response.status_code,
                    "statusText": response.reason_phrase,
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [{"name": k, "value": v} for k, v in headers],
                    "content": {
                        "size": len(body),
                        "mimeType": response.headers.get("content-type", ""),
                        "text": body.decode("utf-8", errors="replace"),
                    },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": len(body),
                },
                "cache": {},
                "timings": {"send": 0, "wait": round(elapsed_ms, 3), "receive": 0},
            }
        )
        return httpx.Response(
            response.status_code, headers=headers, content=body, request=request
        )

    def close(self) -> None:
        self.inner.close()


def har_document(capture: HarCapture) -> dict[str, Any]:
    """The captured exchanges as a HAR 1.2 document."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "pollwise tests/har_capture.py", "version": "1"},
            "pages": [],
            "entries": capture.entries,
        }
    }


def capture_session(
    server_url: str,
    policy: Policy,
    trace: Any = None,
    faults: dict[str, Any] | None = None,
) -> tuple[HarCapture, Session]:
    """Create a conversation, read it once (history), then trigger and poll it
    to the end: every request captured as HAR, the session optionally traced."""
    capture = HarCapture()
    with httpx.Client(transport=capture) as client:
        created = client.post(
            f"{server_url}/conversations", json={"faults": faults} if faults else {}
        )
        conversation = created.json()["id"]
        endpoint = Endpoint.for_conversation(server_url, conversation)
        history = [m["id"] for m in client.get(endpoint.poll_url).json()["messages"]]
        session = Session(SystemClock(), policy, history=history)
        api = HttpConversationApi(endpoint, client=client)
        if trace is not None:
            recorder = TraceRecorder.attach(
                session,
                trace,
                history=history,
                source={"tool": "tests/har_capture.py", "url": endpoint.poll_url},
            )
            run_sync(session, recorder.wrap(api))
        else:
            run_sync(session, api)
    return capture, session


def main() -> None:
    """Regenerate the committed fixtures from one live session."""
    import json

    policy = Policy(initial_delay=0.2, max_delay=0.8, max_retry_after=1.0, timeout=20)
    settings = ServerSettings(pace=0.3, count=3)
    with ReferenceServer(settings) as server:
        capture, session = capture_session(
            server.url,
            policy,
            trace=FIXTURES / "reference-session.jsonl",
            faults={"rate_limit": 1, "retry_after": "0.5"},
        )
    assert session.outcome is Outcome.DONE
    (FIXTURES / "reference-session.har").write_text(
        json.dumps(har_document(capture), indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
