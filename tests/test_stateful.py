"""A real Session on a FakeClock, driven step by step against a model.

Each step does what a runner, the server or the user might do next (let
part of the wait pass, send the due poll, answer it after some latency with
any kind of reply, cancel, poke an ended session); after every step the
session must agree with :class:`strategies.ContractModel`, an independent
re-implementation of the contract in exact arithmetic. Times stay on a
quarter-second grid so that the session's float arithmetic is exact too.

There is a single rule, taking a list of weighted steps: hypothesis's
stateful engine switches rules off at random for a whole run (swarm
testing), and a run whose "answer the poll" rule is off would stall in
"polling" for every remaining step.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from strategies import (
    ContractModel,
    Recorder,
    ReplySpec,
    grid_policies,
    history_ids,
    identity,
    reply_specs,
    trigger_specs,
    weighted,
)

from pollwise.adapters.clocks import FakeClock
from pollwise.engine.answers import FailureKind, Response
from pollwise.engine.machine import FINAL_STATES
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile
from pollwise.engine.session import Session

#: mostly snapshots, so that sessions live a while
REPLIES = reply_specs(readable=16)

#: fractions of the remaining wait or of the request timeout
PARTS = st.sampled_from([Fraction(1, 2), Fraction(0), Fraction(1, 4), Fraction(1)])

#: one step: what happens, the reply if it is an answer, and a fraction of time
STEPS = st.tuples(
    weighted(
        (16, st.just("poll")),
        (3, st.just("wait")),
        (2, st.just("send")),
        (1, st.just("cancel")),
    ),
    REPLIES,
    PARTS,
)


def _started(machine: Any) -> bool:
    return bool(machine.started)


class SessionAgainstModel(RuleBasedStateMachine):
    """Drives one Session; the model says what every step must do."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False
        self.clock = FakeClock()
        self.recorder = Recorder()
        self.final_state: str | None = None
        self.request_timeout = Fraction(0)
        self.sent_at = Fraction(0)

    @initialize(
        policy=grid_policies(),
        trigger=weighted((6, st.none()), (1, trigger_specs())),
        history=history_ids(),
        progress_path=st.booleans(),
    )
    def begin(
        self,
        policy: Policy,
        trigger: ReplySpec | None,
        history: tuple[Any, ...],
        progress_path: bool,
    ) -> None:
        profile = Profile(progress_path="progress") if progress_path else None
        self.session = Session(
            self.clock, policy, profile, history=history, observers=[self.recorder]
        )
        self.model = ContractModel(policy, history, progress_path=progress_path)
        self.policy = policy
        self.started = True

        self.session.begin(None if trigger is None else trigger.reply())
        self.model.begin(trigger)

    def now(self) -> Fraction:
        return Fraction(self.clock.now())

    # -- what happens next ----------------------------------------------------------

    @precondition(_started)
    @rule(steps=st.lists(STEPS, min_size=3, max_size=10))
    def what_happens_next(self, steps: list[tuple[str, ReplySpec, Fraction]]) -> None:
        """A few things happen in turn; every invariant holds after each.

        Depending on the session's state, a step is what a runner, the
        server or the user would do: "poll" sends the due poll and answers
        it (or answers the one in flight), "send" only sends it, "wait"
        lets part of the wait or of the request timeout pass (never past
        the due time), "cancel" is the user's. Once the session has ended,
        every step pokes it and must change nothing.
        """
        for kind, reply, part in steps:
            if self.model.ended:
                self.an_ended_session_is_poked(reply, part)
                return
            if kind == "cancel":
                self.the_user_cancels()
            elif kind == "wait":
                self.time_passes(part)
            elif self.model.state == "backoff":
                self.send_the_due_poll()
                if kind == "poll":
                    self.the_poll_ends(reply, part)
            else:
                self.the_poll_ends(reply, part)
            self.check_every_invariant()

    def time_passes(self, part: Fraction) -> None:
        """Part of the wait (or of the request's time) passes."""
        if self.model.state == "backoff":
            assert self.model.next_at is not None
            self.clock.advance(float((self.model.next_at - self.now()) * part))
        else:
            self.clock.advance(float(self.time_left_for_the_request() * part))

    def time_left_for_the_request(self) -> Fraction:
        return self.sent_at + self.request_timeout - self.now()

    def send_the_due_poll(self) -> None:
        """The runner sleeps until the poll is due and sends it."""
        assert self.model.next_at is not None
        self.clock.advance(float(self.model.next_at - self.now()))
        request_timeout = self.session.start_poll()
        self.sent_at = self.now()
        expected = self.model.send(self.sent_at)

        assert request_timeout == float(expected)
        self.request_timeout = expected

    def the_poll_ends(self, reply: ReplySpec, part: Fraction) -> None:
        """The server answers (or the request fails) within the request timeout."""
        left = self.time_left_for_the_request()
        self.clock.advance(
            float(left if reply.error is FailureKind.TIMEOUT else left * part)
        )

        self.session.end_poll(reply.reply())
        self.model.answer(self.now(), reply)

    def the_user_cancels(self) -> None:
        """A cancel ends a running session at once; an ended one stays as it is."""
        assert self.session.cancel() is self.model.cancel(self.now())

    def an_ended_session_is_poked(self, reply: ReplySpec, part: Fraction) -> None:
        """After the end, driving or cancelling the session does nothing at all."""
        self.clock.advance(float(100 * part))
        count = len(self.recorder.events)

        self.the_user_cancels()
        assert self.session.start_poll() is None
        self.session.end_poll(reply.reply())
        self.session.end_poll(Response(200, (), b'{"messages": [{"id": "new"}]}'))

        assert len(self.recorder.events) == count

    def check_every_invariant(self) -> None:
        self.a_final_state_is_never_left()
        self.the_state_is_the_models()
        self.elapsed_never_passes_the_timeout()
        self.the_next_poll_is_at_the_models_time()
        self.delivered_messages_are_the_models()
        self.the_end_is_the_models()

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def a_final_state_is_never_left(self) -> None:
        if not self.started:
            return
        if self.final_state is not None:
            assert self.session.state == self.final_state
        if self.session.is_ended:
            assert self.session.state in FINAL_STATES
            self.final_state = self.session.state

    @invariant()
    def the_state_is_the_models(self) -> None:
        if not self.started:
            return
        assert self.session.state == self.model.state
        assert self.session.statistics().polls == self.model.polls

    @invariant()
    def elapsed_never_passes_the_timeout(self) -> None:
        if not self.started:
            return
        assert self.session.elapsed() <= self.policy.timeout

    @invariant()
    def the_next_poll_is_at_the_models_time(self) -> None:
        if not self.started:
            return
        expected = self.model.next_at if self.model.state == "backoff" else None
        actual = self.session.next_poll_at
        assert actual == (None if expected is None else float(expected))

    @invariant()
    def delivered_messages_are_the_models(self) -> None:
        if not self.started:
            return
        view = self.session.view()
        assert [identity(m) for m in view.messages] == [
            k for k, _ in self.model.delivered
        ]
        assert view.active is not self.model.ended

    @invariant()
    def the_end_is_the_models(self) -> None:
        if not self.started or not self.model.ended:
            return
        verdict = self.session.verdict
        assert verdict is not None
        assert verdict.reason.value == self.model.reason
        assert self.model.ended_at is not None
        assert self.session.ended_at == float(self.model.ended_at)


#: each run is a whole session of many polls, so half the profile's examples
SessionAgainstModel.TestCase.settings = settings(
    max_examples=max(25, settings().max_examples // 2),
    stateful_step_count=5,
)
TestSessionAgainstModel = SessionAgainstModel.TestCase
