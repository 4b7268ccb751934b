"""pollwise's engine: progressive polling as a pure, clock-driven state machine.

Theory of operation. A :class:`Session` holds a declarative
:class:`PollMachine` (idle, backoff, polling, and five final states), the
:class:`Policy`, and the bookkeeping of one job. Every decision about time
(when to poll next, when to stop) is made by a pure function in
:mod:`pollwise.engine.rules` from the policy, the answers so far and a time
read from the clock port; the machine's guards only read those decisions.
A runner (:func:`run_sync`, :func:`run_async`) carries decisions out
through two ports, a :class:`Clock` and a :class:`ConversationApi`, so the
same session runs on a real clock over HTTP or on a fake clock against a
scripted timeline, and makes the same decisions.
"""

from .answers import (
    Answer,
    Failed,
    FailureKind,
    Fatal,
    Message,
    Readable,
    Reply,
    Response,
    TransportFailure,
    classify,
    classify_trigger,
)
from .errors import (
    EndpointError,
    InputFileError,
    PolicyError,
    PollingError,
    ProfileError,
    ScenarioError,
    SessionError,
)
from .events import (
    MessagesDelivered,
    PollAnswered,
    PollFailed,
    PollScheduled,
    PollSent,
    SessionEnded,
    SessionEvent,
    StateChanged,
)
from .machine import PollMachine
from .outcomes import EndReason, Outcome, Verdict
from .policy import Policy
from .ports import AsyncConversationApi, Clock, ConversationApi, Observer
from .profile import Profile, StatusKind
from .rules import Schedule
from .runners import run_async, run_sync
from .session import Session, SessionView, Statistics
from .updates import Update, UpdateStream

__all__ = [
    "Answer",
    "AsyncConversationApi",
    "Clock",
    "ConversationApi",
    "EndReason",
    "EndpointError",
    "Failed",
    "FailureKind",
    "Fatal",
    "InputFileError",
    "Message",
    "MessagesDelivered",
    "Observer",
    "Outcome",
    "Policy",
    "PolicyError",
    "PollAnswered",
    "PollFailed",
    "PollMachine",
    "PollScheduled",
    "PollSent",
    "PollingError",
    "Profile",
    "ProfileError",
    "Readable",
    "Reply",
    "Response",
    "ScenarioError",
    "Schedule",
    "Session",
    "SessionEnded",
    "SessionError",
    "SessionEvent",
    "SessionView",
    "StateChanged",
    "Statistics",
    "StatusKind",
    "TransportFailure",
    "Update",
    "UpdateStream",
    "Verdict",
    "classify",
    "classify_trigger",
    "run_async",
    "run_sync",
]
