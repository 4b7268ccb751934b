"""Recording a session as a trace, as it happens.

:class:`TraceRecorder` is an observer: attach it to a session and it writes
the header at once, then one record per step, each flushed before the
session goes on, so a killed process leaves a readable trace. An observer
sees what the engine read from each answer but not the answer itself; wrap
the API with :meth:`TraceRecorder.wrap` (or :meth:`~TraceRecorder.wrap_async`)
and the trace also keeps the headers that matter and, with
``keep_content``, the body's text::

    recorder = TraceRecorder("session.jsonl", policy=policy, clock=clock)
    session = Session(clock, policy, observers=[recorder])
    run_sync(session, recorder.wrap(api))
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from pollwise.engine.answers import Failed, Readable, Reply, classify_trigger
from pollwise.engine.events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    StateChanged,
)
from pollwise.engine.outcomes import Outcome
from pollwise.engine.policy import Policy
from pollwise.engine.ports import (
    AsyncConversationApi,
    Clock,
    ConversationApi,
    Observer,
)
from pollwise.engine.profile import Profile
from pollwise.engine.runners import run_sync
from pollwise.engine.session import Session

from .clocks import FakeClock, SystemClock
from .scenario import Scenario
from .scripted_api import ScriptedApi
from .trace import (
    BeginRecord,
    Decision,
    EndRecord,
    Exchange,
    HeaderRecord,
    Record,
    StepRecord,
    TraceSink,
    TraceStatistics,
    TraceWriter,
    pollwise_version,
    utc_text,
)
from .trace_body import summarize_answer, summarize_trigger

__all__ = [
    "AsyncRecordingApi",
    "MemorySink",
    "RecordingApi",
    "TraceRecorder",
    "record_scenario",
]

_TRIGGER_STATUS = re.compile(r"trigger answered HTTP (\d+)")
#: The engine's words for a hint past the deadline (see Session).
_HINT_WORDS = re.compile(r"server asked to wait ([0-9.e+]+)s")
_FINAL_STATES = frozenset(outcome.value for outcome in Outcome)


class MemorySink:
    """Keeps records in a list (replays and tests)."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.closed = False

    def write(self, record: Record) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed = True


def _sink(target: str | Path | IO[str] | TraceSink) -> TraceSink:
    if isinstance(target, str | Path | io.IOBase):
        return TraceWriter(target)  # type: ignore[arg-type]
    return target  # type: ignore[return-value]


class TraceRecorder(Observer):
    """Writes a session's trace, one flushed record per step.

    Args:
        sink: a path, an open text stream, or a :class:`TraceSink`.
        policy: the session's policy (written into the header).
        profile: the session's profile.
        history: ids of the messages known before the trigger.
        clock: the session's clock, for the wall time at t = 0 and the
            trigger's duration; the system clock by default.
        keep_content: keep each body's text (message contents may be
            private, so they are left out unless asked for).
        trigger: whether the session begins with a trigger request.
        source: what is being recorded, for the header (URLs redacted).
    """

    def __init__(
        self,
        sink: str | Path | IO[str] | TraceSink,
        *,
        policy: Policy,
        profile: Profile | None = None,
        history: Iterable[object] = (),
        clock: Clock | None = None,
        keep_content: bool = False,
        trigger: bool = True,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else SystemClock()
        self.keep_content = keep_content
        self._sink = _sink(sink)
        self._profile = profile if profile is not None else Profile()
        self._policy = policy
        self._trigger = trigger
        self._state = "idle"
        self._wall0: float | None = None
        self._begun = False
        self._ended = False
        self._trigger_reply: Reply | None = None
        self._trigger_duration: float | None = None
        self._reply: Reply | None = None
        self._sent: PollSent | None = None
        self._answer: PollAnswered | PollFailed | None = None
        self._new: list[Any] = []
        self._step_from = "backoff"
        self._step_to: str | None = None
        self._end_from: str | None = None
        self._polls = 0
        self._failed_polls = 0
        self._messages = 0
        self._write(
            HeaderRecord(
                pollwise=pollwise_version(),
                created=utc_text(self.clock.wall_time()),
                policy=policy.to_mapping(),
                profile=self._profile.to_mapping(),
                history=tuple(history),
                trigger=trigger,
                decisions="pollwise",
                content_kept=keep_content,
                source=dict(source or {"tool": "pollwise"}),
                timing={
                    "source": "fake clock"
                    if isinstance(self.clock, FakeClock)
                    else "clock",
                    "assumed": False,
                    "note": "",
                },
            )
        )

    @classmethod
    def attach(
        cls,
        session: Session,
        sink: str | Path | IO[str] | TraceSink,
        *,
        history: Iterable[object] = (),
        keep_content: bool = False,
        trigger: bool = True,
        source: Mapping[str, Any] | None = None,
    ) -> TraceRecorder:
        """A recorder for ``session`` (its clock, policy and profile), attached."""
        recorder = cls(
            sink,
            policy=session.policy,
            profile=session.profile,
            history=history,
            clock=session.clock,
            keep_content=keep_content,
            trigger=trigger,
            source=source,
        )
        session.add_observer(recorder)
        return recorder

    # -- wrapping the API ---------------------------------------------------

    def wrap(self, api: ConversationApi) -> RecordingApi:
        """``api``, with every reply shown to this recorder first."""
        return RecordingApi(api, self)

    def wrap_async(self, api: AsyncConversationApi) -> AsyncRecordingApi:
        """The asyncio twin of :meth:`wrap`."""
        return AsyncRecordingApi(api, self)

    def note_trigger(self, reply: Reply, duration: float) -> None:
        """The trigger's reply, as the API port returned it."""
        self._trigger_reply = reply
        self._trigger_duration = duration

    def note_reply(self, reply: Reply) -> None:
        """A poll's reply, as the API port returned it."""
        self._reply = reply

    # -- observing ------------------------------------------------------------

    def state_changed(self, event: StateChanged) -> None:
        if event.source == "idle" and self._wall0 is None:
            self._wall0 = self.clock.wall_time() - event.at
        if event.target == "polling":
            self._step_from = event.source
        if event.source == "polling":
            self._step_to = event.target
        if event.target in _FINAL_STATES:
            self._end_from = event.source
        self._state = event.target

    def poll_sent(self, event: PollSent) -> None:
        self._sent = event
        self._answer = None
        self._reply = None
        self._new = []
        self._step_to = None

    def poll_answered(self, event: PollAnswered) -> None:
        self._answer = event

    def poll_failed(self, event: PollFailed) -> None:
        self._answer = event

    def messages_delivered(self, event: MessagesDelivered) -> None:
        self._new.extend(m.label for m in event.messages)

    def poll_scheduled(self, event: PollScheduled) -> None:
        schedule = event.schedule
        has_progress = (
            isinstance(self._answer, PollAnswered) and self._answer.has_progress
        )
        decision = Decision(
            action="poll",
            next_at=schedule.at,
            wait=schedule.wait,
            hint=schedule.hint,
            why=schedule.why,
            no_progress_polls=event.no_progress_polls,
            progress_reset=has_progress and self._policy.reset_on_progress,
        )
        if not self._begun:
            self._write_begin(decision)
        else:
            self._write_step(decision)

    def session_ended(self, event: SessionEnded) -> None:
        if self._ended:
            return
        self._ended = True
        decision = Decision(
            action="end",
            outcome=event.outcome.value,
            reason=event.reason.value,
            detail=event.detail,
        )
        if not self._begun:
            self._write_begin(decision)
        elif self._sent is not None:
            self._write_step(decision)
        self._write(
            EndRecord(
                at=event.at,
                outcome=event.outcome.value,
                reason=event.reason.value,
                detail=event.detail,
                statistics=self._statistics(event),
                state_before=self._end_from,
            )
        )
        self._sink.close()

    # -- records --------------------------------------------------------------

    def _write(self, record: Record) -> None:
        self._sink.write(record)

    def _statistics(self, event: SessionEnded) -> TraceStatistics:
        return TraceStatistics(
            polls=self._polls,
            failed_polls=self._failed_polls,
            messages=self._messages,
            elapsed=event.at,
        )

    def _trigger_exchange(self, decision: Decision) -> Exchange | None:
        if not self._trigger:
            return None
        wall = self._wall0 if self._wall0 is not None else self.clock.wall_time()
        duration = self._trigger_duration
        sent = 0.0 - duration if duration is not None else None
        if self._trigger_reply is not None:
            answer = classify_trigger(self._trigger_reply, wall)
            return summarize_trigger(answer, self._trigger_reply, sent=sent)
        # Observed without the API: rebuild what the decision tells.
        if decision.reason == "trigger_failed":
            detail = decision.detail or "trigger failed"
            match = _TRIGGER_STATUS.search(detail)
            status = int(match.group(1)) if match else None
            return summarize_trigger(
                Failed(reason=detail, http_status=status), None, sent=sent
            )
        hint = decision.hint if decision.hint else None
        if decision.reason == "hint_past_deadline":
            match = _HINT_WORDS.search(decision.detail or "")
            hint = float(match.group(1)) if match else None
        return summarize_trigger(Readable(http_status=None, hint=hint), None, sent=sent)

    def _write_begin(self, decision: Decision) -> None:
        self._begun = True
        self._write(
            BeginRecord(
                at=0.0,
                wall=self._wall0,
                trigger=self._trigger_exchange(decision),
                state_before="idle",
                state_after=self._state,
                decision=decision,
            )
        )

    def _write_step(self, decision: Decision) -> None:
        sent, answer_event = self._sent, self._answer
        if sent is None:
            return
        self._polls = sent.number
        if answer_event is None:
            exchange = Exchange(sent=sent.at, answered=None, answer="abandoned")
            has_progress = None
        else:
            exchange = summarize_answer(
                answer_event.answer,
                self._reply,
                sent=sent.at,
                answered=answer_event.at,
                keep_content=self.keep_content,
            )
            has_progress = (
                answer_event.has_progress
                if isinstance(answer_event, PollAnswered)
                else False
            )
            if isinstance(answer_event, PollFailed):
                self._failed_polls += 1
        self._messages += len(self._new)
        self._write(
            StepRecord(
                number=sent.number,
                exchange=exchange,
                request_timeout=sent.request_timeout,
                has_progress=has_progress,
                new_messages=tuple(self._new),
                state_before=self._step_from,
                state_after=self._step_to or self._state,
                decision=decision,
            )
        )
        self._sent = None
        self._answer = None
        self._reply = None
        self._new = []


class RecordingApi:
    """A sync API port that shows each reply to a :class:`TraceRecorder`."""

    def __init__(self, api: ConversationApi, recorder: TraceRecorder) -> None:
        self.api = api
        self.recorder = recorder

    def trigger(self, timeout: float) -> Reply:
        clock = self.recorder.clock
        started = clock.now()
        reply = self.api.trigger(timeout)
        self.recorder.note_trigger(reply, clock.now() - started)
        return reply

    def fetch(self, timeout: float) -> Reply:
        reply = self.api.fetch(timeout)
        self.recorder.note_reply(reply)
        return reply

    def interrupt(self) -> None:
        """Abandon the wrapped API's request in flight, if it can.

        :func:`~pollwise.engine.runners.run_sync` calls it on a cancel, so a
        recorded session is cancelled as fast as one that is not (without
        it, a cancel waited out the request timeout).
        """
        interrupt = getattr(self.api, "interrupt", None)
        if callable(interrupt):
            interrupt()


class AsyncRecordingApi:
    """The asyncio twin of :class:`RecordingApi`."""

    def __init__(self, api: AsyncConversationApi, recorder: TraceRecorder) -> None:
        self.api = api
        self.recorder = recorder

    async def trigger(self, timeout: float) -> Reply:
        clock = self.recorder.clock
        started = clock.now()
        reply = await self.api.trigger(timeout)
        self.recorder.note_trigger(reply, clock.now() - started)
        return reply

    async def fetch(self, timeout: float) -> Reply:
        reply = await self.api.fetch(timeout)
        self.recorder.note_reply(reply)
        return reply


def record_scenario(
    scenario: Scenario,
    sink: str | Path | IO[str] | TraceSink,
    *,
    keep_content: bool = False,
) -> Session:
    """Run a scenario on a fake clock (as ``simulate`` does) and record it.

    Returns:
        The ended session.
    """
    clock = FakeClock(start=0.0, wall_start=scenario.wall_clock)
    session = Session(
        clock, scenario.policy, scenario.profile, history=scenario.history
    )
    recorder = TraceRecorder.attach(
        session,
        sink,
        history=scenario.history,
        keep_content=keep_content,
        source={"tool": "pollwise simulate", "scenario": scenario.name},
    )
    if scenario.cancel_at is not None:
        clock.call_at(scenario.cancel_at, session.cancel)
    api = ScriptedApi(scenario.backend, clock, trigger=scenario.trigger)
    run_sync(session, recorder.wrap(api))
    return session
