"""Hostile and mistaken input: one clear line, never a traceback, exit 2.

Command-line flags, profile files, scenario files and trace files, each
wrong in its own way: the error names the file (and the line, where one
can be known) and the problem, and the process exits 2. An invalid
JMESPath in a profile is refused when the profile is built, before any
request goes out. (The scenario fixtures in tests/fixtures/bad_scenarios
are checked by test_specs.py; the cases here are the ones a fixture file
cannot hold, such as megabytes of nesting.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import raw_server, read_request

from pollwise.adapters.cli import main
from pollwise.adapters.profile_file import load_profile
from pollwise.adapters.scenario import load_scenario, scenario_from_mapping
from pollwise.engine.errors import ScenarioError

NOWHERE = "http://127.0.0.1:9/"
FIXTURE_TRACES = Path(__file__).parent / "fixtures" / "traces"
RECORDED = str(FIXTURE_TRACES / "reference-session.jsonl")
HAR = str(FIXTURE_TRACES / "reference-session.har")


def _assert_one_clear_line(err: str, *words: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines, "no message at all"
    for word in words:
        assert word in err, (word, err)


# -- command-line flags -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["watch", NOWHERE, "--timeout", "1e400"], ["timeout", "finite"]),
        (["watch", NOWHERE, "--stall-after", "nan"], ["stall_after"]),
        (["watch", NOWHERE, "--max-polls", "0"], ["max_polls"]),
        (["watch", NOWHERE, "--max-consecutive-errors", "0"], ["max_consecutive"]),
        (["watch", NOWHERE, "--request-timeout", "-1"], ["request_timeout"]),
        (["watch", NOWHERE, "--max-retry-after", "inf"], ["max_retry_after"]),
        (["watch", NOWHERE, "--multiplier", "inf"], ["multiplier"]),
        (["watch", NOWHERE, "--initial-delay", "2", "--max-delay", "1"], ["max_delay"]),
        (["watch", NOWHERE, "--jitter", ""], ["jitter"]),
        (["watch", NOWHERE, "--max-body-bytes", "0"], ["max_body_bytes"]),
        (["watch", ""], ["not an http(s) URL"]),
        (["watch", "http://[::1"], ["not a URL"]),
        (["watch", "http://", "--no-trigger"], ["not an http(s) URL"]),
        (["watch", NOWHERE, "--trigger-url", "ftp://x/"], ["trigger_url"]),
        (["watch", NOWHERE, "--header", ": value"], ["Name: value"]),
        (["watch", NOWHERE, "--header", "Bad Name: v"], ["Name: value"]),
        (["watch", NOWHERE, "--profile", "."], [".: is a directory"]),
        (
            ["watch", NOWHERE, "--no-trigger", "--trigger-url", NOWHERE],
            ["--no-trigger and --trigger-url"],
        ),
        (
            [
                "replay",
                RECORDED,
                "--policy",
                "target_latency=0.5",
            ],
            ["target_latency applies only with mode=adaptive"],
        ),
        (
            [
                "import",
                HAR,
                "-o",
                HAR,
            ],
            ["--output is the recording being imported"],
        ),
        (["serve", "--pace", "-1"], ["pace"]),
        (["serve", "--count", "99999999"], ["count", "10000"]),
        (["demo", "--count", "-1"], ["count"]),
        (["demo", "--pace", "nan"], ["pace"]),
        (["new", NOWHERE, "--fault", "gremlins"], ["gremlins"]),
        (["simulate", "."], [".: is a directory"]),
        (["simulate", "no-such-file.yaml"], ["no-such-file.yaml", "no such file"]),
    ],
)
def test_a_bad_flag_exits_2_with_a_clear_message(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    _assert_one_clear_line(capsys.readouterr().err, *words)


@pytest.mark.parametrize(
    "argv",
    [
        ["watch", NOWHERE, "--initial-delay", "soon"],
        ["watch", NOWHERE, "--max-polls", "1.5"],
        ["watch", NOWHERE, "--seed", "x"],
        ["serve", "--port", "99999"],
        ["serve", "--port", "-1"],
        ["watch"],
        ["frobnicate"],
        [],
    ],
)
def test_a_flag_argparse_cannot_read_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    _assert_one_clear_line(capsys.readouterr().err, "error:")


def test_a_diagram_folder_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out names a file, not a folder: an OSError, reported in one line."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")

    assert main(["diagram", "--out", str(blocker / "diagrams")]) == 2
    _assert_one_clear_line(capsys.readouterr().err, str(blocker))


# -- profile files -----------------------------------------------------------------


def _deep(opening: str, depth: int) -> str:
    return opening * depth


PROFILES = [
    pytest.param("status_path: [\n", ["invalid YAML"], 2, id="yaml-syntax"),
    pytest.param("- a\n- b\n", ["must be a mapping"], None, id="a-list"),
    pytest.param("statuspath: status\n", ["statuspath"], None, id="unknown-field"),
    pytest.param("done: complete\n", ["done", "list"], None, id="done-not-a-list"),
    pytest.param("done: [1, 2]\n", ["done", "strings"], None, id="done-numbers"),
    pytest.param("status_path: ''\n", ["status_path"], None, id="empty-path"),
    pytest.param(
        "status_path: " + _deep("[", 5000) + "\n",
        ["nested too deeply"],
        None,
        id="deep-nesting",
    ),
]


@pytest.mark.parametrize(("text", "words", "line"), PROFILES)
def test_a_bad_profile_file_names_the_file_and_the_problem(
    text: str,
    words: list[str],
    line: int | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = tmp_path / "api.yaml"
    profile.write_text(text, encoding="utf-8")

    assert main(["watch", NOWHERE, "--profile", str(profile)]) == 2
    err = capsys.readouterr().err
    where = f"{profile}:{line}:" if line is not None else f"{profile}:"
    _assert_one_clear_line(err, where, *words)


def test_a_profile_that_is_not_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "api.yaml"
    profile.write_bytes(b"\xff\xfe\x00status_path: a")

    assert main(["watch", NOWHERE, "--profile", str(profile)]) == 2
    _assert_one_clear_line(capsys.readouterr().err, str(profile))


@pytest.mark.parametrize(
    "field", ["status_path", "messages_path", "id_path", "progress_path"]
)
def test_an_invalid_jmespath_is_refused_when_the_profile_is_built(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loading the profile fails, naming the field: no request is ever sent
    (a server on 127.0.0.1 counts the connections it gets)."""
    profile = tmp_path / "api.yaml"
    profile.write_text(f"{field}: \"items[?status == 'done'\"\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=field):
        load_profile(profile)

    with raw_server(read_request) as server:
        argv = ["watch", f"{server.url}/job", "--profile", str(profile)]
        assert main(argv) == 2
        assert server.connections == 0
    _assert_one_clear_line(capsys.readouterr().err, str(profile), field, "JMESPath")


# -- scenario files a fixture cannot hold ----------------------------------------

SCENARIOS: list[tuple[str, Callable[[], bytes], str]] = [
    ("deep.json", lambda: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("deep.yaml", lambda: b"name: deep\nbackend: " + b"[" * 5000, "nested too deeply"),
    (
        "bomb.yaml",
        lambda: (
            b"name: bomb\nbackend:\n  - at: 0\n    body:\n"
            + b"".join(
                f"      l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]\n".encode()
                if k
                else b"      l0: &l0 [a, a, a, a, a, a, a, a, a]\n"
                for k in range(9)
            )
        ),
        "alias",
    ),
    ("binary.yaml", lambda: b"\xff\xfe\x00\x01garbage", "not UTF-8"),
    ("empty.yaml", lambda: b"", "must be a mapping"),
]


@pytest.mark.parametrize(("name", "content", "words"), SCENARIOS)
def test_a_hostile_scenario_file_is_refused_quickly_and_clearly(
    name: str,
    content: Callable[[], bytes],
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Deep nesting, an alias bomb (9 levels of 9 aliases: 387 million values
    once expanded; refused at a million), bytes that are not text, nothing."""
    path = tmp_path / name
    path.write_bytes(content())

    with pytest.raises(ScenarioError, match=words):
        load_scenario(path)
    assert main(["simulate", str(path)]) == 2
    _assert_one_clear_line(capsys.readouterr().err, str(path), words)


# -- scenario fields of the wrong kind --------------------------------------------


def _simulate_refuses(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``pollwise simulate`` on ``path``, which must exit 2 with one line
    naming the file; what that line says after the file's name."""
    with pytest.raises(ScenarioError):
        load_scenario(path)
    assert main(["simulate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    prefix = f"pollwise simulate: {path}"
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix) :]


def _write(tmp_path: Path, suffix: str, text: str) -> Path:
    path = tmp_path / f"scenario{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def _assert_refused_as_yaml_and_json(
    text: str,
    says: str,
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``text`` (JSON, so YAML too) in a file with ``suffix`` is refused with
    ``says``; the YAML error names line 1, a JSON error names no line."""
    path = _write(tmp_path, suffix, text)
    line = ":1" if suffix == ".yaml" else ""
    assert _simulate_refuses(path, capsys) == f"{line}: {says}"


#: Each text is JSON, so YAML too: read from both kinds of file. The YAML
#: error names line 1; a JSON error names no line.
WRONG_KINDS = [
    ('{"policy": []}', "policy: must be a mapping, not a list"),
    ('{"policy": 0}', "policy: must be a mapping, not a number"),
    ('{"policy": false}', "policy: must be a mapping, not a boolean"),
    ('{"backend": {}}', "backend: must be a list of entries, not a mapping"),
    ('{"backend": ""}', "backend: must be a list of entries, not a string"),
    ('{"history": ""}', "history: must be a list of message ids, not a string"),
    ('{"history": 0}', "history: must be a list of message ids, not a number"),
    ('{"profile": false}', "profile: must be a mapping, not a boolean"),
    ('{"profile": []}', "profile: must be a mapping, not a list"),
]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(("text", "says"), WRONG_KINDS)
def test_an_empty_or_falsy_value_of_the_wrong_kind_is_refused(
    text: str,
    says: str,
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``policy: []`` or ``history: ""`` is no omitted field: the wrong kind
    of value is refused even when it is empty or false."""
    _assert_refused_as_yaml_and_json(text, says, suffix, tmp_path, capsys)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_null_field_means_the_default(suffix: str, tmp_path: Path) -> None:
    """The contract is silent on null: it stays the same as an omitted field."""
    nulls = '{"policy": null, "history": null, "profile": null, "backend": null}'

    scenario = load_scenario(_write(tmp_path, suffix, nulls))

    omitted = load_scenario(_write(tmp_path, f"-omitted{suffix}", "{}"))
    assert (scenario.policy, scenario.history) == (omitted.policy, omitted.history)
    assert (scenario.profile, scenario.backend) == (omitted.profile, omitted.backend)


DUPLICATES = [
    (
        "policy: {timeout: 5}\npolicy: {timeout: 6}\n",
        ":2: duplicate key 'policy' (first on line 1)",
    ),
    (
        "policy: {timeout: 5, timeout: 6}\n",
        ":1: duplicate key 'timeout' (first on line 1)",
    ),
    (
        "backend:\n  - at: 0\n    body:\n      status: complete\n"
        "      status: generating\n",
        ":5: duplicate key 'status' (first on line 4)",
    ),
    (
        # distinct YAML keys that JSON would write as the same "1"
        "backend:\n  - at: 0\n    body: {1: a, '1': b}\n",
        ":3: backend[0].body: duplicate key '1' once written as JSON",
    ),
    ('{"name": "a", "name": "b"}', ": invalid JSON: duplicate key 'name'"),
    (
        '{"backend": [{"at": 0, "body": {"status": "a", "status": "b"}}]}',
        ": invalid JSON: duplicate key 'status'",
    ),
]


@pytest.mark.parametrize(("text", "says"), DUPLICATES)
def test_a_key_given_twice_is_refused(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML and JSON parsers keep the last of two equal keys; a scenario
    refuses them, at the top, in a policy and in a backend body."""
    path = _write(tmp_path, ".json" if text.startswith("{") else ".yaml", text)

    assert _simulate_refuses(path, capsys) == says


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_raw_body_keeps_its_duplicate_keys(suffix: str, tmp_path: Path) -> None:
    """A raw body is the server's bytes: what they hold is the engine's business."""
    raw = '{"status": "generating", "status": "complete"}'
    text = json.dumps({"backend": [{"at": 0, "raw": raw}]})

    scenario = load_scenario(_write(tmp_path, suffix, text))

    assert scenario.backend[0].body == raw.encode()


def test_a_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    """``<<`` merges a mapping whose keys the mapping's own keys override:
    that is YAML's meaning, not a duplicate."""
    text = "policy: {<<: {timeout: 5, stall_after: 2}, timeout: 6}\n"

    scenario = load_scenario(_write(tmp_path, ".yaml", text))

    assert (scenario.policy.timeout, scenario.policy.stall_after) == (6, 2)


NOT_JSON = "is not a JSON value (Object of type"
NOT_JSON_VALUES = [
    ("history: [.nan]", ":1: history[0]: is not a JSON value (Out of range float"),
    ("history: [!!binary aGVsbG8=]", f":1: history[0]: {NOT_JSON} bytes"),
    ("history: [!!timestamp 2020-01-01]", f":1: history[0]: {NOT_JSON} date"),
    ("history: [!!set {a: null}]", f":1: history[0]: {NOT_JSON} set"),
    ("history: [{a: [!!timestamp 2020-01-01]}]", f":1: history[0]: {NOT_JSON} date"),
    (
        "expect: {messages: [!!timestamp 2020-01-01]}",
        f":1: expect.messages[0]: {NOT_JSON} date",
    ),
    ("expect: {messages: [a, .nan]}", ":1: expect.messages[1]: is not a JSON value"),
]


@pytest.mark.parametrize(("text", "says"), NOT_JSON_VALUES)
def test_a_message_id_that_is_not_a_json_value_is_refused(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """History and expected ids are JSON values, as a server's ids are: no
    NaN or infinity (1e400 in JSON), bytes, dates (tagged: an unquoted one
    is text) or sets."""
    path = _write(tmp_path, ".json" if text.startswith("{") else ".yaml", text)

    assert _simulate_refuses(path, capsys).startswith(says)


def test_an_id_too_long_to_print_is_refused_through_the_python_api() -> None:
    with pytest.raises(ScenarioError, match=r"^<memory>: history\[0\]: is not a JSON"):
        scenario_from_mapping({"history": [10**5000]})


BIG = str(10**400)
TOO_LARGE = "must be a finite number, not an integer too large for a float"
HUGE_NUMBERS = [
    (f'{{"backend": [{{"at": {BIG}}}]}}', f"backend[0].at: {TOO_LARGE}"),
    (
        f'{{"backend": [{{"at": 0, "latency": {BIG}}}]}}',
        f"backend[0].latency: {TOO_LARGE}",
    ),
    (
        f'{{"backend": [{{"at": 0, "http_status": {BIG}}}]}}',
        f"backend[0].http_status: {TOO_LARGE}",
    ),
    (f'{{"trigger": {{"latency": {BIG}}}}}', f"trigger.latency: {TOO_LARGE}"),
    (f'{{"cancel_at": {BIG}}}', f"cancel_at: {TOO_LARGE}"),
    (f'{{"expect": {{"max_requests": {BIG}}}}}', f"expect.max_requests: {TOO_LARGE}"),
    (f'{{"expect": {{"min_requests": {BIG}}}}}', f"expect.min_requests: {TOO_LARGE}"),
    (f'{{"expect": {{"ended_by": -{BIG}}}}}', f"expect.ended_by: {TOO_LARGE}"),
    (f'{{"expect": {{"max_wait": {BIG}}}}}', f"expect.max_wait: {TOO_LARGE}"),
    (
        f'{{"expect": {{"request_times": [1, {BIG}]}}}}',
        f"expect.request_times[1]: {TOO_LARGE}",
    ),
    *[
        (
            f'{{"policy": {{"{name}": {BIG}}}}}',
            f"policy: policy field {name!r}: must be {finite} "
            "(got an integer of 401 digits)",
        )
        for name, finite in [
            ("timeout", "finite"),
            ("stall_after", "finite"),
            ("initial_delay", "finite"),
            ("multiplier", "a finite number"),
        ]
    ],
    # True is an int to Python, never a number in a scenario
    ('{"backend": [{"at": true}]}', "backend[0].at: must be a number, not a boolean"),
    ('{"cancel_at": false}', "cancel_at: must be a number, not a boolean"),
    (
        '{"expect": {"max_requests": true}}',
        "expect.max_requests: must be a number, not a boolean",
    ),
    (
        '{"policy": {"timeout": true}}',
        "policy: policy field 'timeout': must be a number of seconds (got True)",
    ),
]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(("text", "says"), HUGE_NUMBERS)
def test_a_number_no_float_holds_is_refused(
    text: str,
    says: str,
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """10**400 is a finite whole number, but it overflows every computation
    with a time: refused, naming the field, as a boolean is."""
    _assert_refused_as_yaml_and_json(text, says, suffix, tmp_path, capsys)


LIMIT = sys.get_int_max_str_digits()
TOO_LONG = f"integer too long (over {LIMIT} digits)"


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("long.yaml", f"name: x\nhistory: [{'1' * (LIMIT + 1)}]\n", f":2: {TOO_LONG}"),
        ("hex.yaml", f"history: [0x{'f' * LIMIT}]\n", f":1: {TOO_LONG}"),
        ("seed.yaml", f"policy: {{seed: 0b{'1' * 4 * LIMIT}}}\n", f":1: {TOO_LONG}"),
        (
            "long.json",
            f'{{"history": [{"1" * (LIMIT + 1)}]}}',
            f": invalid JSON: {TOO_LONG}",
        ),
    ],
)
def test_an_integer_too_long_to_read_is_refused(
    name: str,
    text: str,
    says: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Python reads and prints ints of at most sys.get_int_max_str_digits()
    digits (4300 by default); a longer one, or a hexadecimal one as large, is
    refused where it is written, never with a traceback."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    assert _simulate_refuses(path, capsys) == says


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '{"expect": {"outcome": []}}',
            "expect.outcome: must be one of cancelled, done, failed, stalled, "
            "timed_out, got []",
        ),
        (
            '{"backend": [{"at": 0, "error": {}}]}',
            "backend[0].error: must be connect, timeout or reset, got {}",
        ),
        (
            '{"trigger": {"error": ["reset"]}}',
            "trigger.error: must be connect, timeout or reset, got ['reset']",
        ),
    ],
)
def test_a_list_or_mapping_where_a_name_is_wanted_is_refused(
    text: str,
    says: str,
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A list cannot be looked up among the names (TypeError: unhashable)."""
    _assert_refused_as_yaml_and_json(text, says, suffix, tmp_path, capsys)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "backend: [{at: 0, headers: {Retry-After: .inf}}]",
            ":1: backend[0].headers.Retry-After: must be a string or a finite number",
        ),
        (
            "trigger: {headers: {Retry-After: .nan}}",
            ":1: trigger.headers.Retry-After: must be a string or a finite number",
        ),
        (
            "backend: [{at: 0, headers: {null: '3'}}]",
            ":1: backend[0].headers: a header name must be a string, not null",
        ),
        (
            "backend: [{at: 0, headers: {1: '3'}}]",
            ":1: backend[0].headers: a header name must be a string, not a number",
        ),
        ("name: .nan", ":1: name: must be a string or a finite number"),
        ('{"name": -1e400}', ": name: must be a string or a finite number"),
    ],
)
def test_a_header_or_name_that_is_no_text_is_refused(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A number may stand for its text (``Retry-After: 3``), but NaN, an
    infinity or a null header name would be sent as 'NaN', 'Infinity' and
    'None'."""
    path = _write(tmp_path, ".json" if text.startswith("{") else ".yaml", text)

    assert _simulate_refuses(path, capsys) == says


def test_a_number_stands_for_its_text_in_a_header_and_a_name(tmp_path: Path) -> None:
    text = "name: 42\nbackend: [{at: 0, headers: {Retry-After: 3, X-Ratio: 1.5}}]\n"

    scenario = load_scenario(_write(tmp_path, ".yaml", text))

    assert scenario.name == "42"
    assert scenario.backend[0].headers == (("Retry-After", "3"), ("X-Ratio", "1.5"))


def test_a_mapping_as_a_status_list_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``done: {ready: 1}`` used to be read as its keys, ["ready"]."""
    path = _write(tmp_path, ".yaml", "profile:\n  done: {ready: 1}\n")

    assert _simulate_refuses(path, capsys) == (
        ":2: profile: profile field 'done': must be a list of status values "
        "(got {'ready': 1})"
    )


# -- trace files -----------------------------------------------------------------


def _trace(tmp_path: Path) -> list[str]:
    """A real trace, recorded from a scenario on a fake clock."""
    scenario = tmp_path / "good.yaml"
    scenario.write_text(
        "name: good\npolicy: {initial_delay: 1}\nbackend:\n"
        "  - {at: 0, body: {status: generating, messages: [{id: a}]}}\n"
        "  - {at: 2, body: {status: complete, messages: [{id: a}, {id: b}]}}\n",
        encoding="utf-8",
    )
    recorded = tmp_path / "good.jsonl"
    from pollwise.adapters.trace_recorder import record_scenario

    record_scenario(load_scenario(scenario), recorded)
    lines = recorded.read_text(encoding="utf-8").splitlines()
    assert main(["replay", str(recorded)]) == 0
    return lines


def _with_header(lines: list[str], **changes: object) -> list[str]:
    header = json.loads(lines[0])
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            header[section][field] = value
        else:
            header[section] = value
    return [json.dumps(header), *lines[1:]]


TRACES: list[tuple[str, Callable[[list[str]], list[str]], list[str]]] = [
    ("garbage-line", lambda ls: [*ls[:2], "{not json", *ls[2:]], [":3:", "not JSON"]),
    ("version", lambda ls: _with_header(ls, version=99), [":1:", "version 99"]),
    ("no-type", lambda ls: [*ls[:2], '{"record": 1}', *ls[2:]], [":3:", "type"]),
    ("a-list", lambda ls: ["[]", "[]"], ["not a recording"]),
    ("empty", lambda ls: [], ["not a recording"]),
]


@pytest.mark.parametrize(("name", "mangle", "words"), TRACES)
def test_a_broken_trace_file_names_the_file_line_and_problem(
    name: str,
    mangle: Callable[[list[str]], list[str]],
    words: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = _trace(tmp_path)
    capsys.readouterr()
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(mangle(lines)), encoding="utf-8")

    assert main(["replay", str(path)]) == 2
    _assert_one_clear_line(capsys.readouterr().err, path.name, *words)


@pytest.mark.parametrize(
    "change", [{"policy__timeout": -5}, {"profile__status_path": "a[["}]
)
def test_a_trace_header_with_a_bad_policy_or_profile_names_the_file(
    change: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _trace(tmp_path)
    capsys.readouterr()
    path = tmp_path / "bad-header.jsonl"
    path.write_text("\n".join(_with_header(lines, **change)), encoding="utf-8")

    assert main(["replay", str(path)]) == 2
    _assert_one_clear_line(capsys.readouterr().err, f"{path.name}:1:")


def test_a_deeply_nested_recording_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.har"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)

    assert main(["replay", str(path), "--format", "har"]) == 2
    _assert_one_clear_line(capsys.readouterr().err, str(path))


def test_the_cli_process_itself_never_shows_a_traceback(tmp_path: Path) -> None:
    """The same refusals through a real process: stderr, exit code 2."""
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    for argv in (
        ["simulate", str(deep)],
        ["replay", str(deep), "--format", "har"],
        ["serve", "--port", "99999"],
        ["watch", NOWHERE, "--timeout", "nan"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "pollwise.adapters.cli", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (argv, done.stderr)
        # simulate and replay name the file itself; the others say "error".
        file_first = argv[0] in ("simulate", "replay")
        _assert_one_clear_line(done.stderr, str(deep) if file_first else "error")


def test_an_id_beyond_a_doubles_range_is_a_json_value(tmp_path: Path) -> None:
    """``1e400`` is valid JSON; it reads as infinity, which the engine keys
    as one id (see tests/test_answers.py), so a scenario may name it in its
    history and its expectations."""
    path = tmp_path / "huge.json"
    path.write_text(
        '{"history": [1e400], "backend": [{"at": 0, "raw": '
        '"{\\"status\\": \\"complete\\", \\"messages\\": '
        '[{\\"id\\": 1e400}, {\\"id\\": -1e400}]}"}], '
        '"expect": {"outcome": "done", "messages": [-1e400]}}'
    )
    assert main(["simulate", str(path)]) == 0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status_path: a\nstatus_path: b\n", ":2: duplicate key 'status_path'"),
        ("id_path: x\nx: " + "9" * 4400 + "\n", ":2: integer too long"),
    ],
)
def test_a_profile_file_is_read_as_strictly_as_a_scenario(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key given twice kept the last one silently, and an integer of over
    4300 digits raised a traceback: profile files used a plain safe_load."""
    profile = tmp_path / "api.yaml"
    profile.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=says):
        load_profile(profile)
    assert main(["watch", NOWHERE, "--profile", str(profile)]) == 2
    _assert_one_clear_line(capsys.readouterr().err, str(profile), says)
