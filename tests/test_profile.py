"""Profile: where an API keeps status, messages and ids, and what statuses mean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pollwise.engine.answers import Readable, Response, classify
from pollwise.engine.errors import PollingError, ProfileError
from pollwise.engine.profile import (
    REFERENCE_DONE,
    REFERENCE_FAILED,
    REFERENCE_RUNNING,
    Profile,
    StatusKind,
)


def test_reference_lists_are_the_contracts() -> None:
    """The reference conversation API's status lists, word for word."""
    assert set(REFERENCE_RUNNING) == {
        "generating",
        "queued",
        "pending",
        "running",
        "in_progress",
    }
    assert set(REFERENCE_DONE) == {"complete", "completed", "done", "succeeded", "idle"}
    assert set(REFERENCE_FAILED) == {
        "failed",
        "error",
        "cancelled",
        "canceled",
        "expired",
    }


def test_default_paths_are_the_contracts() -> None:
    """Status at ``status``, messages at ``messages``, ids at ``id``."""
    profile = Profile()

    assert (profile.status_path, profile.messages_path, profile.id_path) == (
        "status",
        "messages",
        "id",
    )
    assert profile.progress_path is None


@pytest.mark.parametrize(
    ("field", "expression"),
    [
        ("status_path", "status["),
        ("messages_path", "messages[?"),
        ("id_path", "a..b"),
        ("progress_path", "@@"),
        ("status_path", ""),
        ("id_path", "   "),
    ],
)
def test_an_invalid_jmespath_is_refused_when_the_profile_is_built(
    field: str, expression: str
) -> None:
    """A typo in an expression fails at build, naming the field."""
    with pytest.raises(ProfileError) as caught:
        Profile(**{field: expression})

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PollingError)


def test_a_non_string_expression_is_refused() -> None:
    """An expression must be text."""
    with pytest.raises(ProfileError) as caught:
        Profile(status_path=3)  # type: ignore[arg-type]

    assert caught.value.field == "status_path"


STATUSES: list[tuple[object, StatusKind]] = [
    *[(value, StatusKind.RUNNING) for value in REFERENCE_RUNNING],
    *[(value, StatusKind.DONE) for value in REFERENCE_DONE],
    *[(value, StatusKind.FAILED) for value in REFERENCE_FAILED],
    ("Succeeded", StatusKind.DONE),
    ("COMPLETE", StatusKind.DONE),
    ("FAILED", StatusKind.FAILED),
    ("Canceled", StatusKind.FAILED),
    ("In_Progress", StatusKind.RUNNING),
    ("GeNeRaTiNg", StatusKind.RUNNING),
    (None, StatusKind.ABSENT),
    ("provisioning", StatusKind.UNKNOWN),
    ("", StatusKind.UNKNOWN),
    ("complete ", StatusKind.UNKNOWN),
    (1, StatusKind.UNKNOWN),
    (True, StatusKind.UNKNOWN),
    (["done"], StatusKind.UNKNOWN),
    ({"state": "done"}, StatusKind.UNKNOWN),
]


@pytest.mark.parametrize(("status", "kind"), STATUSES)
def test_reference_status_kinds_ignore_case(status: object, kind: StatusKind) -> None:
    """Reference statuses, in any case; absent is no news; others are unknown."""
    assert Profile().status_kind(status) is kind


def test_a_custom_done_list_replaces_the_reference_list() -> None:
    """With ``done: [ready]``, "complete" no longer means done."""
    profile = Profile(done=["ready"])

    assert profile.status_kind("ready") is StatusKind.DONE
    assert profile.status_kind("READY") is StatusKind.DONE
    assert profile.status_kind("complete") is StatusKind.UNKNOWN
    assert profile.status_kind("failed") is StatusKind.FAILED
    assert profile.status_kind("running") is StatusKind.RUNNING


def test_custom_lists_replace_every_reference_list() -> None:
    """A status-only API's own words; the reference words become unknown."""
    profile = Profile(
        running=["Provisioning", "initializing"],
        done=["Ready"],
        failed=["broken"],
    )

    assert profile.status_kind("provisioning") is StatusKind.RUNNING
    assert profile.status_kind("INITIALIZING") is StatusKind.RUNNING
    assert profile.status_kind("ready") is StatusKind.DONE
    assert profile.status_kind("Broken") is StatusKind.FAILED
    for reference in ("running", "complete", "failed", "cancelled"):
        assert profile.status_kind(reference) is StatusKind.UNKNOWN


def test_an_empty_custom_list_replaces_too() -> None:
    """``failed: []`` means no status is a server-side failure."""
    profile = Profile(failed=[])

    assert profile.status_kind("failed") is StatusKind.UNKNOWN
    assert profile.status_kind("complete") is StatusKind.DONE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("done", "ready"),
        ("failed", 5),
        ("running", ["ok", 3]),
        ("done", {"ready": None}),
    ],
)
def test_a_status_list_must_be_a_list_of_strings(field: str, value: Any) -> None:
    """A bare string, a mapping (its keys are no list) or a non-string value
    is refused at build."""
    with pytest.raises(ProfileError) as caught:
        Profile(**{field: value})

    assert caught.value.field == field


def test_paths_find_values_with_jmespath() -> None:
    """Custom paths read a nested body."""
    profile = Profile(
        status_path="job.state",
        messages_path="data.items",
        id_path="meta.uid",
        progress_path="job.percent",
    )
    body: dict[str, Any] = {
        "job": {"state": "Ready", "percent": 40},
        "data": {"items": [{"meta": {"uid": "u1"}}]},
    }

    assert profile.search("status_path", body) == "Ready"
    assert profile.search("messages_path", body) == [{"meta": {"uid": "u1"}}]
    assert profile.search("id_path", body["data"]["items"][0]) == "u1"
    assert profile.search("progress_path", body) == 40


def test_without_a_progress_path_nothing_is_searched() -> None:
    """No progress_path: the search finds nothing, even if the body has one."""
    assert Profile().search("progress_path", {"progress": 3}) is None


def test_from_mapping_refuses_an_unknown_key() -> None:
    """A misspelt field is refused with its name."""
    with pytest.raises(ProfileError) as caught:
        Profile.from_mapping({"status_pth": "x"})

    assert caught.value.field == "status_pth"


def test_from_mapping_round_trips() -> None:
    """A profile survives a trip through a plain mapping, lists folded."""
    profile = Profile.from_mapping(
        {"status_path": "state", "done": ["Ready"], "progress_path": "pct"}
    )

    assert Profile.from_mapping(profile.to_mapping()) == profile
    assert profile.done == ("ready",)


def test_a_boolean_status_is_read_as_text_through_to_string() -> None:
    """The README's recipe for a status that is not text (``"done": true``,
    as Google's long-running operations answer; they leave ``done`` out while
    running, which read as "null", an unknown status, before the default)."""
    profile = Profile(
        status_path="to_string(done || `false`)", done=["true"], running=["false"]
    )
    answers = [
        classify(Response(200, (), body), profile, 0.0)
        for body in (b'{"done": false}', b'{"done": true}', b"{}")
    ]
    kinds = [a.status_kind for a in answers if isinstance(a, Readable)]
    assert kinds == [StatusKind.RUNNING, StatusKind.DONE, StatusKind.RUNNING]
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert 'status_path: "to_string(done || `false`)"' in readme
