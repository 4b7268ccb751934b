"""Turning another tool's recording into a pollwise trace.

1. Read the file (HAR, VCR.py, go-vcr, Azure test proxy) into interactions.
2. Give every interaction a send and an answer time: HAR's
   ``startedDateTime`` and ``time``; else the Date header (whole seconds:
   requests within one second are spread evenly across it), with go-vcr
   v2's per-request ``duration``; else Expires (Linode strips Date but puts
   the server time there); else the latest ``created_at``-like time in the
   body (a lower bound); else request order, one second apart, flagged as
   an assumption.
3. Find the polling sessions: the same method and URL asked again and
   again, a run that another change on the server (POST, PUT, PATCH or
   DELETE to something else) ends. Each session's trigger is the request
   whose Location, Operation-Location or Azure-AsyncOperation header names
   the polled URL, else the last change before the first poll.
4. Guess the profile (:mod:`pollwise.adapters.import_profile`) and cut the
   session after its first final answer, as its client surely stopped
   there: later reads of the same URL are something else.

The trace keeps the other client's answers but has no decisions of
pollwise's: ``replay`` compares that client's session with pollwise's on
the same rebuilt timeline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from pollwise.engine.answers import Failed, Fatal, Readable, classify, classify_trigger
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile, StatusKind
from pollwise.engine.rules import detect_progress

from .import_azure import read_azure
from .import_har import read_har
from .import_profile import ProfileGuess, guess_profile
from .import_vcr import read_govcr, read_vcrpy
from .recording import Interaction
from .redaction import redact_url
from .trace import (
    BeginRecord,
    EndRecord,
    HeaderRecord,
    StepRecord,
    Trace,
    TraceError,
    TraceStatistics,
    pollwise_version,
    utc_text,
)
from .trace_body import summarize_answer, summarize_trigger

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "ImportResult",
    "PollingSession",
    "Timing",
    "detect_format",
    "find_sessions",
    "import_recording",
    "read_interactions",
    "resolve_times",
]

#: The formats ``pollwise import --format`` accepts.
FORMATS: Final = ("har", "vcr", "govcr", "azure")
#: How each format is named in reports.
FORMAT_NAMES: Final = {
    "har": "HAR 1.2",
    "vcr": "VCR.py cassette",
    "govcr": "go-vcr cassette",
    "azure": "Azure test-proxy recording",
}
_READERS: Final[dict[str, Callable[[str | Path], list[Interaction]]]] = {
    "har": read_har,
    "vcr": read_vcrpy,
    "govcr": read_govcr,
    "azure": read_azure,
}
_LOCATION_HEADERS: Final = ("azure-asyncoperation", "operation-location", "location")
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def detect_format(path: str | Path) -> str:
    """The recording's format, from its name and first bytes.

    Raises:
        TraceError: the file cannot be read or is none of the formats.
    """
    name = str(path)
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff")
    except FileNotFoundError:
        raise TraceError(name, "no such file") from None
    except OSError as exc:
        raise TraceError(name, f"cannot be read ({exc.strerror or exc})") from None
    stripped = head.lstrip()
    if name.lower().endswith(".har") or (
        stripped.startswith("{") and '"log"' in head[:400]
    ):
        return "har"
    if stripped.startswith("{") and '"Entries"' in head:
        return "azure"
    if "interactions:" in head:
        if "url:" in head or "version: 2" in head or "\ncode:" in head:
            return "govcr"
        return "vcr"
    raise TraceError(
        name,
        "not a recording pollwise can import (HAR, VCR.py, go-vcr or Azure "
        "test-proxy JSON); give --format to say which",
    )


def read_interactions(
    path: str | Path, fmt: str | None = None
) -> tuple[str, list[Interaction]]:
    """The recording's format and its interactions, in recorded order."""
    chosen = fmt or detect_format(path)
    if chosen not in _READERS:
        raise TraceError(
            str(path), f"unknown format {chosen!r} (one of {', '.join(FORMATS)})"
        )
    return chosen, _READERS[chosen](path)


# -- timing ----------------------------------------------------------------


@attrs.frozen
class Timing:
    """Where a recording's times come from."""

    source: str
    assumed: bool
    note: str

    def to_mapping(self) -> dict[str, Any]:
        return {"source": self.source, "assumed": self.assumed, "note": self.note}


def _filled(values: list[float | None]) -> list[float]:
    known = [v for v in values if v is not None]
    result, last = [], known[0]
    for value in values:
        last = value if value is not None else last
        result.append(last)
    return result


def _spread(seconds: list[float]) -> tuple[list[float], bool]:
    """Spread requests that share one whole second evenly across it."""
    result = list(seconds)
    spread = False
    start = 0
    while start < len(seconds):
        end = start
        while end + 1 < len(seconds) and seconds[end + 1] == seconds[start]:
            end += 1
        count = end - start + 1
        if count > 1:
            spread = True
            for offset in range(count):
                result[start + offset] = seconds[start] + offset / count
        start = end + 1
    return result, spread


def resolve_times(
    interactions: Sequence[Interaction],
) -> tuple[list[tuple[float, float]], Timing]:
    """The (sent, answered) time of every interaction, seconds since the epoch."""
    if not interactions:
        return [], Timing("order", True, "the recording is empty")
    if all(i.started is not None for i in interactions):
        times = [
            (i.started or 0.0, (i.started or 0.0) + (i.duration or 0.0))
            for i in interactions
        ]
        return times, Timing("har", False, "HAR startedDateTime and timings")
    durations = all(i.duration is not None for i in interactions)
    readers: tuple[tuple[str, Callable[[Interaction], float | None], str], ...] = (
        ("date", lambda i: i.date, "Date headers"),
        ("expires", lambda i: i.expires, "Expires headers (the server's time)"),
    )
    for source, read, words in readers:
        found = [read(i) for i in interactions]
        if sum(v is not None for v in found) * 2 < len(found):
            continue
        answered, spread = _spread(_filled(found))
        notes = [f"{words}, whole seconds"]
        if spread:
            notes.append("requests within one second spread evenly across it")
        if durations:
            notes.append("each request's duration from the recording")
            source += "+duration"
        times = [
            (a - (i.duration or 0.0), a)
            for a, i in zip(answered, interactions, strict=True)
        ]
        return times, Timing(source, False, "; ".join(notes))
    stamps = [i.body_time() for i in interactions]
    if any(s is not None for s in stamps):
        floor, times = -math.inf, []
        for stamp in stamps:
            floor = max(floor, stamp if stamp is not None else floor)
            times.append((floor, floor))
        first = next(s for s in stamps if s is not None)
        times = [
            (first if math.isinf(s) else s, first if math.isinf(a) else a)
            for s, a in times
        ]
        return times, Timing(
            "created_at",
            False,
            "no Date headers: times are the latest created_at-like field of "
            "each body, so each is a lower bound",
        )
    return [(float(n), float(n)) for n in range(len(interactions))], Timing(
        "order",
        True,
        "the recording has no times: requests are ASSUMED one second apart, "
        "in recorded order",
    )


# -- sessions ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PollingSession:
    """One polling session found in a recording (1-based ``number``)."""

    number: int
    polls: tuple[Interaction, ...]
    trigger: Interaction | None
    guess: ProfileGuess
    #: an earlier read of the polled URL, before the trigger (its messages
    #: are history)
    before: Interaction | None = None


def _runs(interactions: Sequence[Interaction]) -> list[list[Interaction]]:
    open_runs: dict[tuple[str, str], list[Interaction]] = {}
    finished: list[list[Interaction]] = []
    for item in interactions:
        if item.is_mutating:
            for key in [k for k in open_runs if k != item.key]:
                finished.append(open_runs.pop(key))
        open_runs.setdefault(item.key, []).append(item)
    finished.extend(open_runs.values())
    runs = [run for run in finished if len(run) >= 2]
    return sorted(runs, key=lambda run: run[0].index)


def _same_resource(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (left.netloc.lower(), left.path.rstrip("/")) == (
        right.netloc.lower(),
        right.path.rstrip("/"),
    )


def _trigger(
    interactions: Sequence[Interaction], first: Interaction
) -> Interaction | None:
    earlier = [i for i in interactions if i.index < first.index]
    for item in reversed(earlier):
        for name in _LOCATION_HEADERS:
            target = item.header(name)
            if target and _same_resource(target, first.url):
                return item
    return next((i for i in reversed(earlier) if i.is_mutating), None)


def _is_final(item: Interaction, profile: Profile) -> bool:
    answer = classify(item.reply(), profile, 0.0)
    if isinstance(answer, Fatal):
        return True
    return isinstance(answer, Readable) and answer.status_kind in (
        StatusKind.DONE,
        StatusKind.FAILED,
    )


def find_sessions(
    interactions: Sequence[Interaction], profile: Profile | None = None
) -> list[PollingSession]:
    """Every polling session of a recording, each cut after its final answer.

    Args:
        profile: read every session with this profile instead of a guess.
    """
    sessions: list[PollingSession] = []
    for run in _runs(interactions):
        trigger = _trigger(interactions, run[0])
        guess = (
            guess_profile(run, trigger)
            if profile is None
            else ProfileGuess(profile, "profile given")
        )
        polls: list[Interaction] = []
        for item in run:
            polls.append(item)
            if _is_final(item, guess.profile):
                break
        limit = trigger.index if trigger is not None else run[0].index
        before = next(
            (
                i
                for i in reversed(interactions[:limit])
                if i.key == run[0].key and i.index < limit
            ),
            None,
        )
        sessions.append(
            PollingSession(
                number=len(sessions) + 1,
                polls=tuple(polls),
                trigger=trigger,
                guess=guess,
                before=before,
            )
        )
    return sessions


# -- the trace -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ImportResult:
    """An imported recording: the trace of one session, and what was found."""

    format: str
    interactions: int
    sessions: tuple[PollingSession, ...]
    chosen: PollingSession
    timing: Timing
    trace: Trace

    def report(self) -> list[str]:
        """What was imported, in lines for a person to read."""
        lines = [f"{FORMAT_NAMES[self.format]}, {self.interactions} interactions"]
        for session in self.sessions:
            mark = "*" if session is self.chosen else " "
            first = session.polls[0]
            trigger = (
                f" after {session.trigger.method} {redact_url(session.trigger.url)}"
                if session.trigger is not None
                else " (no trigger found)"
            )
            lines.append(
                f"{mark} session {session.number}: {len(session.polls)} polls of "
                f"{first.method} {redact_url(first.url)}{trigger}"
            )
        end = self.trace.end
        if end is not None:
            lines.append(f"ends: {end.outcome} ({end.detail})")
        assumed = " (ASSUMED)" if self.timing.assumed else ""
        lines.append(f"timing: {self.timing.source}{assumed}: {self.timing.note}")
        lines.append(f"profile guess: {self.chosen.guess.explanation}")
        return lines


def _end_record(
    steps: Sequence[StepRecord],
    last_answer: Readable | Failed | Fatal,
    trigger: Interaction | None,
    messages: int,
) -> EndRecord:
    """How the recorded client's session ended, as far as pollwise can tell."""
    last = steps[-1].exchange
    kinds = {
        StatusKind.DONE: ("done", "completed"),
        StatusKind.FAILED: ("failed", "server_failed"),
    }
    if isinstance(last_answer, Fatal):
        gone = trigger is not None and trigger.method == "DELETE"
        if gone and last.http_status in (404, 410):
            outcome, reason = "done", "completed"
            detail = f"HTTP {last.http_status} after DELETE: the resource is gone"
        else:
            outcome, reason, detail = "failed", "fatal_answer", last_answer.reason
    elif isinstance(last_answer, Readable) and last_answer.status_kind in kinds:
        outcome, reason = kinds[last_answer.status_kind]
        detail = f"status {last_answer.status!r}"
    else:
        outcome, reason = "unknown", "recording_ends"
        detail = f"the recording stops here (last status {last.body.status!r})"
    return EndRecord(
        at=last.answered or 0.0,
        outcome=outcome,
        reason=reason,
        detail=detail,
        statistics=TraceStatistics(
            polls=len(steps),
            failed_polls=sum(1 for s in steps if s.exchange.answer != "readable"),
            messages=messages,
            elapsed=last.answered or 0.0,
        ),
    )


def _build_trace(
    path: str,
    fmt: str,
    session: PollingSession,
    times: dict[int, tuple[float, float]],
    timing: Timing,
    sessions: int,
    keep_content: bool,
) -> Trace:
    profile = session.guess.profile
    trigger = session.trigger
    origin = (
        times[trigger.index][1]
        if trigger is not None
        else times[session.polls[0].index][0]
    )
    history: list[Any] = []
    if session.before is not None:
        earlier = classify(session.before.reply(), profile, origin)
        if isinstance(earlier, Readable):
            history = [m.id for m in earlier.messages if m.key[0] == "id"]
    seen = {
        ("id", json.dumps(h, sort_keys=True, separators=(",", ":"))) for h in history
    }
    value: Any = None
    value_seen = False
    steps: list[StepRecord] = []
    delivered = 0
    answer: Readable | Failed | Fatal = Failed("no poll")
    floor = origin
    for number, poll in enumerate(session.polls, start=1):
        # Polls are sequential: a poll is sent after the previous answer.
        sent_wall = max(times[poll.index][0], floor)
        answered_wall = floor = max(times[poll.index][1], sent_wall)
        reply = poll.reply()
        answer = classify(reply, profile, answered_wall)
        progress = detect_progress(answer, seen, value, value_seen)
        value, value_seen = progress.progress_value, progress.progress_value_seen
        seen.update(m.key for m in progress.new_messages)
        delivered += len(progress.new_messages)
        steps.append(
            StepRecord(
                number=number,
                exchange=summarize_answer(
                    answer,
                    reply,
                    sent=sent_wall - origin,
                    answered=answered_wall - origin,
                    keep_content=keep_content,
                ),
                has_progress=progress.has_progress,
                new_messages=tuple(m.label for m in progress.new_messages),
            )
        )
    begin = BeginRecord(
        at=0.0,
        wall=origin,
        trigger=None
        if trigger is None
        else summarize_trigger(
            classify_trigger(trigger.reply(), origin),
            trigger.reply(),
            sent=times[trigger.index][0] - origin,
        ),
        state_before=None,
    )
    first = session.polls[0]
    header = HeaderRecord(
        pollwise=pollwise_version(),
        created=utc_text(origin),
        policy=Policy().to_mapping(),
        profile=profile.to_mapping(),
        history=tuple(history),
        trigger=trigger is not None,
        decisions="other",
        content_kept=keep_content,
        source={
            "tool": "pollwise import",
            "format": fmt,
            "file": Path(path).name,
            "session": session.number,
            "sessions": sessions,
            "poll": f"{first.method} {redact_url(first.url)}",
            "trigger": None
            if trigger is None
            else f"{trigger.method} {redact_url(trigger.url)}",
        },
        timing=timing.to_mapping(),
        profile_guess=session.guess.explanation,
    )
    return Trace(
        path=path,
        header=header,
        begin=begin,
        steps=tuple(steps),
        end=_end_record(steps, answer, trigger, delivered),
    )


def import_recording(
    path: str | Path,
    *,
    fmt: str | None = None,
    session: int | None = None,
    profile: Profile | None = None,
    keep_content: bool = False,
) -> ImportResult:
    """Import one polling session of a recording as a trace.

    Args:
        fmt: the format (one of :data:`FORMATS`); guessed when None.
        session: which session (1-based); the longest when None.
        profile: read the answers with this profile instead of a guess.
        keep_content: keep each body's text in the trace.

    Raises:
        TraceError: the file cannot be read, holds no polling session, or
            has no session of that number.
    """
    name = str(path)
    try:
        chosen_format, interactions = read_interactions(path, fmt)
    except RecursionError:
        raise TraceError(name, "nested too deeply to be a recording") from None
    sessions = find_sessions(interactions, profile)
    if not sessions:
        raise TraceError(name, "no polling session found (no request is repeated)")
    if session is None:
        chosen = max(sessions, key=lambda s: (len(s.polls), -s.number))
    elif 1 <= session <= len(sessions):
        chosen = sessions[session - 1]
    else:
        raise TraceError(
            name, f"there is no session {session} (sessions: 1 to {len(sessions)})"
        )
    all_times, timing = resolve_times(interactions)
    times = {i.index: t for i, t in zip(interactions, all_times, strict=True)}
    trace = _build_trace(
        name, chosen_format, chosen, times, timing, len(sessions), keep_content
    )
    return ImportResult(
        format=chosen_format,
        interactions=len(interactions),
        sessions=tuple(sessions),
        chosen=chosen,
        timing=timing,
        trace=trace,
    )
