"""Reading the Azure SDK test proxy's JSON recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pollwise.adapters.import_azure import read_azure
from pollwise.adapters.trace import TraceError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"


def test_entries_become_interactions_with_json_bodies() -> None:
    interactions = read_azure(FIXTURES / "azure-arm-deploymentscript-failed.json")
    assert len(interactions) == 13
    assert interactions[0].url.startswith("https://login.microsoftonline.com/")
    polls = [i for i in interactions if "deploymentScriptOperationResults" in i.url]
    assert [p.document["status"] for p in polls] == [
        "creating",
        "provisioningResources",
        "provisioningResources",
        "failed",
    ]
    put = interactions[3]
    assert put.header("azure-asyncoperation") == polls[0].url
    # The proxy stores bodies parsed, so a recorded gzip encoding is dropped.
    assert polls[0].header("content-encoding") is None


def test_a_string_or_missing_body_is_kept_as_it_is(tmp_path: Path) -> None:
    document = {
        "Entries": [
            {
                "RequestUri": "https://x",
                "RequestMethod": "GET",
                "StatusCode": 200,
                "ResponseHeaders": {"Date": "Thu, 01 Jan 2026 00:00:00 GMT"},
                "ResponseBody": "plain",
            },
            {
                "RequestUri": "https://x",
                "RequestMethod": "GET",
                "StatusCode": 204,
                "ResponseHeaders": {},
                "ResponseBody": None,
            },
        ]
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    first, second = read_azure(path)
    assert first.body == b"plain"
    assert first.date == 1767225600.0
    assert second.body == b""


def test_an_entry_without_a_status_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps({"Entries": [{"RequestUri": "https://x", "RequestMethod": "GET"}]})
    )
    with pytest.raises(TraceError, match="entry 0: no StatusCode"):
        read_azure(path)
    path.write_text(json.dumps({"Variables": {}}))
    with pytest.raises(TraceError, match="no 'Entries' list"):
        read_azure(path)
