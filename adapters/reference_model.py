"""The reference conversation server's model: pure timing, no I/O.

A conversation's state is never updated in the background: it is computed
from the clock whenever someone asks. A generation started at monotonic
time ``s`` with pace ``p`` makes message k (1-based) available at
``s + k * p`` and is complete at ``s + count * p``. Two faults replace the
completion:

- ``stall_after = n``: at most n messages ever appear and the status stays
  "generating" for good (even when n >= count: the server "forgets" to
  finish);
- ``fail_after = n``: at most n messages appear and the status becomes
  "failed" one pace after the last of them, when the next one was due
  (at ``s + (min(n, count) + 1) * p``).

The other faults (:mod:`pollwise.adapters.reference_faults`) change how
single GETs are answered; the server carries them out.

Everything takes the time from injected callables, so tests move a fake
clock instead of sleeping.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from pollwise.engine.errors import PollingError

from .reference_faults import (
    FAULT_NAMES,
    Faults,
    GetFault,
    SettingsError,
    check_count,
    loosen_whole,
    optional_seconds_field,
    seconds_field,
)

__all__ = [
    "FAULT_NAMES",
    "MAX_CONVERSATIONS",
    "MAX_COUNT",
    "Conversation",
    "ConversationStore",
    "Faults",
    "Generation",
    "GenerationRunningError",
    "GetFault",
    "Overrides",
    "ServerSettings",
    "SettingsError",
]

#: The most messages one generation may have (bodies stay small).
MAX_COUNT: Final = 10_000
#: The most conversations kept; creating one more forgets the oldest.
MAX_CONVERSATIONS: Final = 1_000

_SENTENCES: Final = (
    "Let me think about that for a moment.",
    "Here is a first idea worth trying.",
    "A second approach trades speed for clarity.",
    "Both rely on the same small set of facts.",
    "To sum up, start simple and measure.",
    "One more detail: check the edge cases.",
    "That should cover the question.",
)


class GenerationRunningError(PollingError, RuntimeError):
    """A generation was asked for while the previous one is still generating."""


def _message_count_field(
    instance: Any, attribute: attrs.Attribute[Any], value: Any
) -> None:
    if value is not None:
        check_count(attribute.name, value, MAX_COUNT)


@attrs.frozen(kw_only=True)
class ServerSettings:
    """How the reference server behaves unless a request says otherwise.

    Attributes:
        pace: seconds between two messages of a generation.
        count: messages per generation.
        faults: the faults of new conversations.
        retry_after: the ``Retry-After`` header of a 429, sent verbatim (so
            an HTTP-date or garbage can be tried too).
    """

    pace: float = attrs.field(default=1.0, validator=seconds_field)
    count: int = attrs.field(default=5, validator=_message_count_field)
    faults: Faults = attrs.field(factory=Faults)
    retry_after: str = "2"


@attrs.frozen(kw_only=True)
class Overrides:
    """What a request body may change: pace, count and faults; None keeps the default.

    A ``faults`` value replaces the faults whole (omitted keys are off); it
    is a JSON object (:meth:`Faults.from_mapping`) or a list of names
    (:meth:`Faults.from_names`).
    """

    pace: float | None = attrs.field(default=None, validator=optional_seconds_field)
    count: int | None = attrs.field(default=None, validator=_message_count_field)
    faults: Faults | None = None

    @classmethod
    def from_json(cls, body: bytes) -> Overrides:
        """Read a request body; an empty one changes nothing.

        Raises:
            SettingsError: the body is not a JSON object of known fields with
                acceptable values.
        """
        if not body.strip():
            return cls()
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise SettingsError(
                "body", body[:40].decode(errors="replace"), "is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise SettingsError("body", data, "must be a JSON object")
        unknown = sorted(set(data) - {"pace", "count", "faults"})
        if unknown:
            raise SettingsError(unknown[0], data[unknown[0]], "is not a known field")
        return cls(
            pace=data.get("pace"),
            count=loosen_whole(data.get("count")),
            faults=_read_faults(data.get("faults")),
        )


def _read_faults(value: Any) -> Faults | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return Faults.from_mapping(value)
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return Faults.from_names(value)
    raise SettingsError("faults", value, "must be an object or a list of fault names")


def _timestamp(wall: float) -> str:
    moment = datetime.fromtimestamp(wall, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class Generation:
    """One generate-sequence request: what appears when, from its start."""

    #: monotonic time of the start
    started_at: float
    #: wall time of the start, for ``created_at``
    wall_started_at: float
    #: number of the generation's first message ("m<first_number>")
    first_number: int
    pace: float
    count: int
    faults: Faults

    @property
    def limit(self) -> int:
        """The most messages this generation ever shows."""
        cut = self.faults.stall_after
        if cut is None:
            cut = self.faults.fail_after
        return self.count if cut is None else min(cut, self.count)

    def due(self, k: int) -> float:
        """The monotonic time at which message k (1-based) is available."""
        return self.started_at + k * self.pace

    def available(self, now: float) -> int:
        """How many messages are available at ``now``."""
        if now >= self.due(self.limit):
            return self.limit
        shown = min(self.limit, int((now - self.started_at) // self.pace))
        # The estimate and due() can disagree in the last bit; due() decides.
        while shown < self.limit and self.due(shown + 1) <= now:
            shown += 1
        while shown > 0 and self.due(shown) > now:
            shown -= 1
        return shown

    def status(self, now: float) -> str:
        """The status at ``now``: "generating", "complete" or "failed"."""
        if self.faults.fail_after is not None:
            return "failed" if now >= self.due(self.limit + 1) else "generating"
        if self.faults.stall_after is None and now >= self.due(self.count):
            return "complete"
        return "generating"

    def message_id(self, number: int) -> Any:
        """The id of the conversation's message ``number`` (1-based).

        "m<number>"; with ``mixed_ids``, numbers and strings by turns: 1, "1",
        2, "2", ... (the contract tells 7 and "7" apart).
        """
        if not self.faults.mixed_ids:
            return f"m{number}"
        half = (number + 1) // 2
        return half if number % 2 else str(half)

    def messages(self, now: float) -> list[dict[str, Any]]:
        """The messages available at ``now``, in order, as the API lists them."""
        return [
            {
                "id": self.message_id(self.first_number + k - 1),
                "role": "assistant",
                "content": _SENTENCES[(self.first_number + k - 2) % len(_SENTENCES)],
                "created_at": _timestamp(self.wall_started_at + k * self.pace),
            }
            for k in range(1, self.available(now) + 1)
        ]


class Conversation:
    """One conversation: finished messages plus, maybe, a generation.

    Not thread-safe by itself; :class:`ConversationStore` guards it.
    """

    def __init__(
        self, conversation_id: str, pace: float, count: int, faults: Faults
    ) -> None:
        self.id = conversation_id
        self.pace = pace
        self.count = count
        self.faults = faults
        self._earlier: list[dict[str, Any]] = []
        self._generation: Generation | None = None
        self._gets = 0

    @property
    def generation(self) -> Generation | None:
        """The latest generation, None before the first."""
        return self._generation

    @property
    def current_faults(self) -> Faults:
        """The latest generation's faults, or the conversation's before one."""
        return self._generation.faults if self._generation else self.faults

    def status(self, now: float) -> str:
        """The status at ``now``: "idle" before any generation, else the latest's."""
        return "idle" if self._generation is None else self._generation.status(now)

    def snapshot(self, now: float) -> dict[str, Any]:
        """The body of ``GET /conversations/{id}`` at ``now``."""
        messages = list(self._earlier)
        if self._generation is not None:
            messages.extend(self._generation.messages(now))
        return {"id": self.id, "status": self.status(now), "messages": messages}

    def start_generation(
        self, overrides: Overrides, now: float, wall: float
    ) -> Generation:
        """Start a generation at ``now``, after the messages so far.

        Raises:
            GenerationRunningError: the latest generation is still generating
                (a stalled one always is).
        """
        previous = self._generation
        if previous is not None:
            if previous.status(now) == "generating":
                raise GenerationRunningError(
                    f"conversation {self.id!r} is still generating"
                )
            self._earlier.extend(previous.messages(now))
        self._generation = Generation(
            started_at=now,
            wall_started_at=wall,
            first_number=len(self._earlier) + 1,
            pace=self.pace if overrides.pace is None else overrides.pace,
            count=self.count if overrides.count is None else overrides.count,
            faults=self.faults if overrides.faults is None else overrides.faults,
        )
        self._gets = 0
        return self._generation

    def count_get(self) -> GetFault:
        """Count one GET and say how it is answered (no fault before a generation)."""
        if self._generation is None:
            return GetFault.NONE
        self._gets += 1
        return self._generation.faults.fault_for_get(self._gets)


class ConversationStore:
    """Every conversation of one server, in memory, safe from any thread.

    Args:
        settings: the defaults of new conversations.
        now: monotonic time in seconds.
        wall_time: seconds since the epoch, for ``created_at``.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings if settings is not None else ServerSettings()
        self._now = now
        self._wall_time = wall_time
        self._lock = threading.Lock()
        self._conversations: dict[str, Conversation] = {}

    def create(self, overrides: Overrides | None = None) -> dict[str, Any]:
        """Create a conversation; returns its snapshot."""
        overrides = overrides if overrides is not None else Overrides()
        settings = self.settings
        with self._lock:
            conversation_id = secrets.token_hex(4)
            while conversation_id in self._conversations:
                conversation_id = secrets.token_hex(4)
            conversation = Conversation(
                conversation_id,
                pace=settings.pace if overrides.pace is None else overrides.pace,
                count=settings.count if overrides.count is None else overrides.count,
                faults=settings.faults
                if overrides.faults is None
                else overrides.faults,
            )
            self._conversations[conversation_id] = conversation
            while len(self._conversations) > MAX_CONVERSATIONS:
                del self._conversations[next(iter(self._conversations))]
            return conversation.snapshot(self._now())

    def snapshot(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's body now; None for an unknown id."""
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            return conversation.snapshot(self._now()) if conversation else None

    def count_get(self, conversation_id: str) -> tuple[GetFault, float] | None:
        """Count a GET: how it is answered and how long it waits first.

        Returns None for an unknown id.
        """
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is None:
                return None
            return conversation.count_get(), conversation.current_faults.slow

    def faults(self, conversation_id: str) -> Faults | None:
        """The faults its GETs answer with now; None for an unknown id."""
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            return conversation.current_faults if conversation else None

    def generate(self, conversation_id: str, overrides: Overrides) -> str | None:
        """Start a generation; returns the status right after it started.

        Returns:
            "generating" (or already final, for a zero count or pace), or
            None for an unknown id.

        Raises:
            GenerationRunningError: a generation is still running.
        """
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is None:
                return None
            now = self._now()
            conversation.start_generation(overrides, now, self._wall_time())
            return conversation.status(now)

    def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; False when the id was unknown."""
        with self._lock:
            return self._conversations.pop(conversation_id, None) is not None
