"""Reading VCR.py and go-vcr cassettes, with what trips importers in them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml

from pollwise.adapters.import_vcr import read_govcr, read_vcrpy
from pollwise.adapters.trace import TraceError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "traces"


def test_gzip_binary_bodies_are_decompressed() -> None:
    """OpenAI's cassette keeps bodies as !!binary gzip."""
    interactions = read_vcrpy(FIXTURES / "openai-assistants-run-poll.yaml")
    polls = [i for i in interactions if i.method == "GET" and "/runs/" in i.url]
    assert len(polls) == 19
    assert all(isinstance(p.document, dict) for p in polls)
    assert polls[-1].document["status"] == "completed"


def test_azure_bytes_literal_request_bodies_are_opaque() -> None:
    interactions = read_vcrpy(FIXTURES / "azure-formrec-train-model.yaml")
    assert [i.method for i in interactions] == ["POST", "GET", "GET", "GET"]
    assert interactions[0].header("Location") is not None
    assert interactions[0].header("location") == interactions[0].header("LOCATION")


def test_plain_string_headers_and_any_case_are_read(tmp_path: Path) -> None:
    document = {
        "interactions": [
            {
                "request": {"method": "get", "uri": "https://x/1"},
                "response": {
                    "status": {"code": 200},
                    "headers": {
                        "content-ENCODING": "gzip",
                        "DATE": "Thu, 01 Jan 2026 00:00:00 GMT",
                    },
                    "body": {
                        "string": gzip.compress(json.dumps({"status": "ok"}).encode())
                    },
                },
            }
        ]
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    (item,) = read_vcrpy(path)
    assert item.method == "GET"
    assert item.document == {"status": "ok"}
    assert item.date == 1767225600.0


def test_go_vcr_v2_keeps_each_requests_duration() -> None:
    interactions = read_govcr(FIXTURES / "scaleway-redis-cluster-create-delete.yaml")
    assert interactions[0].duration == pytest.approx(0.23169175)
    assert interactions[1].duration == pytest.approx(0.825685792)


def test_go_vcr_v1_without_date_keeps_expires() -> None:
    interactions = read_govcr(FIXTURES / "linode-lke-kubeconfig-503-poll.yaml")
    assert all(i.date is None for i in interactions)
    assert all(i.expires is not None for i in interactions)
    assert [i.status for i in interactions].count(503) == 13


def test_a_broken_interaction_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "interactions:\n"
        "- request: {method: GET, uri: 'https://x'}\n"
        "  response: {status: {code: 200}, body: {string: ''}}\n"
        "- request: {method: GET, uri: 'https://x'}\n"
        "  response: {body: {string: ''}}\n"
    )
    with pytest.raises(TraceError) as caught:
        read_vcrpy(path)
    assert caught.value.line == 4
    assert "interaction 1: the response has no status code" in str(caught.value)


def test_yaml_that_is_not_a_cassette_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: a scenario\n")
    with pytest.raises(TraceError, match="no list of 'interactions'"):
        read_govcr(path)
    path.write_text("interactions: [\n")
    with pytest.raises(TraceError, match="invalid YAML") as caught:
        read_vcrpy(path)
    assert caught.value.line is not None
