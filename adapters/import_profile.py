"""Guessing where an imported API keeps its status, messages and progress.

A recording says nothing about which field is the status. The guess looks
at the answers of the polling session, in this order:

1. a ``messages`` list of objects: a chat-style API like the reference one;
2. a field named ``status``, ``state``, ``provisioningState`` or ``phase``
   (the shallowest one found in most answers): a status-only API, whose
   progress is the status moving from one phase to the next;
3. answers that are lists, after a DELETE of one item: the item vanishing
   from the list ends the session;
4. failed answers (a 503, say) turning into a 2xx: the first readable
   answer ends the session;
5. otherwise no status at all: only stall, timeout and errors end it.

The observed status values are sorted into the profile's done, failed and
running lists (known words decide; the rest is running), so no value is an
"unknown status". The guess is always reported, in words.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import attrs

from pollwise.engine.profile import (
    REFERENCE_DONE,
    REFERENCE_FAILED,
    REFERENCE_RUNNING,
    Profile,
)

from .recording import Interaction

__all__ = ["KNOWN_DONE", "KNOWN_FAILED", "ProfileGuess", "guess_profile"]

#: Status words that mean the operation finished well.
KNOWN_DONE: Final = frozenset(
    {*REFERENCE_DONE, "ready", "available", "success", "successful", "finished"}
    | {"checked", "created", "deleted", "ok"}
)
#: Status words that mean it finished badly.
KNOWN_FAILED: Final = frozenset(
    {*REFERENCE_FAILED, "failure", "errored", "rejected", "aborted", "timed_out"}
)
_STATUS_KEYS: Final = frozenset({"status", "state", "provisioningstate", "phase"})
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITEM_KEYS: Final = ("name", "id", "key", "label")
_FAILING: Final = frozenset({408, 425, 429})


@attrs.frozen
class ProfileGuess:
    """A guessed profile and the reason for it, in words."""

    profile: Profile
    explanation: str


def _path_text(path: Sequence[str]) -> str:
    return ".".join(
        key if _IDENTIFIER.fullmatch(key) else json.dumps(key) for key in path
    )


def _raw_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _status_paths(document: Any, prefix: tuple[str, ...] = ()) -> Iterable[Any]:
    if not isinstance(document, dict) or len(prefix) >= 3:
        return
    for key, value in document.items():
        path = (*prefix, str(key))
        if str(key).casefold() in _STATUS_KEYS and isinstance(value, str):
            yield path, value
        yield from _status_paths(value, path)


def _dig(document: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _lists(values: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    done, failed = list(REFERENCE_DONE), list(REFERENCE_FAILED)
    running = list(REFERENCE_RUNNING)
    for value in dict.fromkeys(v.casefold() for v in values):
        if value in done or value in failed or value in running:
            continue
        if value in KNOWN_DONE:
            done.append(value)
        elif value in KNOWN_FAILED:
            failed.append(value)
        else:
            running.append(value)
    return done, failed, running


def _readable_documents(polls: Sequence[Interaction]) -> list[Any]:
    return [
        p.document
        for p in polls
        if p.status is not None and 200 <= p.status <= 299 and p.document is not None
    ]


def _messages_guess(documents: Sequence[Any]) -> ProfileGuess | None:
    if not any(
        isinstance(d, dict)
        and isinstance(d.get("messages"), list)
        and all(isinstance(m, dict) for m in d["messages"])
        for d in documents
    ):
        return None
    statuses = [
        d["status"]
        for d in documents
        if isinstance(d, dict) and isinstance(d.get("status"), str)
    ]
    done, failed, running = _lists(statuses)
    return ProfileGuess(
        Profile(done=done, failed=failed, running=running),
        "messages at 'messages' (ids at 'id'), status at 'status' "
        f"({', '.join(dict.fromkeys(statuses)) or 'none seen'})",
    )


def _status_guess(documents: Sequence[Any]) -> ProfileGuess | None:
    counts: Counter[tuple[str, ...]] = Counter()
    for document in documents:
        counts.update({path for path, _ in _status_paths(document)})
    if not counts:
        return None
    path = min(counts, key=lambda p: (-counts[p], len(p), p))
    values = [v for d in documents if isinstance(v := _dig(d, path), str)]
    done, failed, running = _lists(values)
    expression = _path_text(path)
    seen = list(dict.fromkeys(values))
    finished = [v for v in seen if v.casefold() in set(done) | set(failed)]
    return ProfileGuess(
        Profile(
            status_path=expression,
            progress_path=expression,
            done=done,
            failed=failed,
            running=running,
        ),
        f"status-only API: status at '{expression}' ({' -> '.join(seen)}); "
        f"it ends on {', '.join(finished) or 'none of them'}; progress is the "
        f"status moving between phases (progress_path '{expression}')",
    )


def _vanish_guess(
    documents: Sequence[Any], trigger: Interaction | None
) -> ProfileGuess | None:
    if trigger is None or trigger.method != "DELETE":
        return None
    if not documents or not all(isinstance(d, list) for d in documents):
        return None
    name = unquote(urlsplit(trigger.url).path.rstrip("/").rpartition("/")[2])
    for field in _ITEM_KEYS:
        if any(
            isinstance(item, dict) and item.get(field) == name
            for document in documents
            for item in document
        ):
            match = f"[?{field}=={_raw_literal(name)}]"
            return ProfileGuess(
                Profile(
                    status_path=f"length({match}) == `0` && 'gone' || 'present'",
                    progress_path=f"{match} | [0]",
                    done=["gone"],
                    failed=[],
                    running=["present"],
                ),
                f"list API after DELETE of {name!r}: done when no item has "
                f"{field} == {name!r} any more; progress is that item changing",
            )
    return None


def _first_success_guess(polls: Sequence[Interaction]) -> ProfileGuess | None:
    failing_first = False
    for poll in polls:
        status = poll.status
        if status is None or status >= 500 or status in _FAILING:
            failing_first = True
        elif 200 <= status <= 299:
            break
    else:
        return None
    if not failing_first:
        return None
    return ProfileGuess(
        Profile(status_path="'ready'", done=["ready"], failed=[], running=[]),
        "no status field; failed answers turn into a 2xx, so the first "
        "readable answer ends the session (status_path \"'ready'\")",
    )


def guess_profile(
    polls: Sequence[Interaction], trigger: Interaction | None = None
) -> ProfileGuess:
    """The profile that reads ``polls`` best, with the reason in words."""
    documents = _readable_documents(polls)
    for guess in (
        _messages_guess(documents),
        _status_guess(documents),
        _vanish_guess(documents, trigger),
        _first_success_guess(polls),
    ):
        if guess is not None:
            return guess
    return ProfileGuess(
        Profile(),
        "no status field found: only stall, timeout and errors can end such a session",
    )
