"""Guessing an imported API's profile from its answers, and saying so."""

from __future__ import annotations

import json
from typing import Any

from pollwise.adapters.import_profile import guess_profile
from pollwise.adapters.recording import Interaction
from pollwise.engine import Profile, Readable, StatusKind, classify


def _polls(*bodies: Any, status: int = 200) -> list[Interaction]:
    return [
        Interaction(
            index=i,
            method="GET",
            url="https://x/job",
            status=status if not isinstance(b, int) else b,
            body=b"" if isinstance(b, int) else json.dumps(b).encode(),
        )
        for i, b in enumerate(bodies)
    ]


def _kind(profile: Profile, body: Any) -> StatusKind:
    answer = classify(_polls(body)[0].reply(), profile, 0.0)
    assert isinstance(answer, Readable)
    return answer.status_kind


def test_a_messages_list_means_a_chat_style_api() -> None:
    guess = guess_profile(_polls({"status": "generating", "messages": [{"id": 1}]}))
    assert guess.profile.messages_path == "messages"
    assert "messages at 'messages'" in guess.explanation


def test_the_shallowest_status_field_is_the_status() -> None:
    polls = _polls(
        {"snapshot": {"state": "snapshotting", "volume": {"state": "in_use"}}},
        {"snapshot": {"state": "available", "volume": {"state": "in_use"}}},
    )
    guess = guess_profile(polls)
    assert guess.profile.status_path == "snapshot.state"
    assert guess.profile.progress_path == "snapshot.state"
    assert _kind(guess.profile, {"snapshot": {"state": "available"}}) is StatusKind.DONE
    assert (
        _kind(guess.profile, {"snapshot": {"state": "snapshotting"}})
        is StatusKind.RUNNING
    )
    assert "snapshotting -> available" in guess.explanation


def test_observed_values_are_sorted_into_done_failed_and_running() -> None:
    guess = guess_profile(_polls({"status": "notStarted"}, {"status": "Rejected"}))
    assert _kind(guess.profile, {"status": "notStarted"}) is StatusKind.RUNNING
    assert _kind(guess.profile, {"status": "rejected"}) is StatusKind.FAILED
    assert _kind(guess.profile, {"status": "succeeded"}) is StatusKind.DONE


def test_an_item_vanishing_from_a_list_after_a_delete_is_done() -> None:
    trigger = Interaction(
        index=0, method="DELETE", url="https://x/buckets/my%20b", status=204
    )
    polls = _polls(
        [{"name": "my b", "deleted": True}, {"name": "other"}], [{"name": "other"}]
    )
    guess = guess_profile(polls, trigger)
    assert _kind(guess.profile, [{"name": "my b"}]) is StatusKind.RUNNING
    assert _kind(guess.profile, [{"name": "other"}]) is StatusKind.DONE
    assert "after DELETE of 'my b'" in guess.explanation


def test_failures_turning_into_a_2xx_end_at_the_first_readable_answer() -> None:
    polls = [*_polls(503, 503), *_polls({"kubeconfig": "..."})]
    guess = guess_profile(polls)
    assert _kind(guess.profile, {"kubeconfig": "..."}) is StatusKind.DONE
    assert "first readable answer" in guess.explanation


def test_without_any_of_it_only_stall_timeout_and_errors_end_it() -> None:
    guess = guess_profile(_polls({"count": 1}, {"count": 2}))
    assert guess.profile == Profile()
    assert "no status field" in guess.explanation
