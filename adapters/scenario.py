"""Scenario files: a policy, a scripted backend and expectations, from YAML or JSON.

The format is the behaviour contract's (see the README). Reading is strict:
an unknown key, a key given twice, a value of the wrong type (even an empty
or false one: only an omitted key or null means the default), a number no
float holds or an impossible time is refused with a
:class:`~pollwise.engine.errors.ScenarioError` that names the file, the line
where it is known, and the problem. Message ids and bodies must be JSON
values; a ``raw`` body is the server's bytes and is never looked into.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import yaml

from pollwise.engine.answers import FailureKind, canonical
from pollwise.engine.errors import PolicyError, ProfileError, ScenarioError
from pollwise.engine.hints import parse_http_date
from pollwise.engine.policy import Policy
from pollwise.engine.profile import Profile

from .trace import json_line

__all__ = [
    "DEFAULT_WALL_CLOCK",
    "BackendEntry",
    "Expectations",
    "Scenario",
    "load_scenario",
    "read_document",
    "scenario_from_mapping",
]

DEFAULT_WALL_CLOCK: Final = "Thu, 01 Jan 2026 00:00:00 GMT"


@attrs.frozen(kw_only=True)
class BackendEntry:
    """What a request sent at or after ``at`` gets (until the next entry)."""

    at: float
    http_status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    #: the body's exact bytes (``body`` serialized as JSON, or ``raw``)
    body: bytes = b""
    #: a transport failure instead of an answer
    error: FailureKind | None = None
    latency: float = 0.0
    #: when set, the answer arrives at this time (seconds since t = 0)
    #: whatever the request's timeout: a recorded answer, replayed
    answer_at: float | None = None


@attrs.frozen(kw_only=True)
class Expectations:
    """What a scenario expects; every field is optional."""

    outcome: str | None = None
    ended_by: float | None = None
    ended_after: float | None = None
    max_requests: int | None = None
    min_requests: int | None = None
    request_times: tuple[float, ...] | None = None
    max_wait: float | None = None
    messages: tuple[Any, ...] | None = None


@attrs.frozen(kw_only=True)
class Scenario:
    """One scenario, read and checked."""

    name: str
    path: str = "<memory>"
    policy: Policy = attrs.field(factory=Policy)
    profile: Profile = attrs.field(factory=Profile)
    history: tuple[Any, ...] = ()
    cancel_at: float | None = None
    trigger: BackendEntry | None = None
    wall_clock: float = attrs.field(default=1767225600.0)
    backend: tuple[BackendEntry, ...] = ()
    expect: Expectations = attrs.field(factory=Expectations)


# -- reading YAML with line numbers ----------------------------------------


class _Located(dict[Any, Any]):
    """A mapping that remembers the line of each of its keys, and the text of
    each value YAML read as a number (``010`` is 8 in YAML 1.1)."""

    line: int | None = None
    key_lines: dict[Any, int]
    number_texts: dict[Any, str]


_NUMBER_TAGS: Final = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _LocatingLoader(yaml.SafeLoader):
    """Safe YAML that remembers lines and refuses duplicate keys.

    Anchors, aliases (``*name``) and merges (``<<: *name``) are YAML and are
    read; nested aliases can expand exponentially (the "billion laughs"),
    which :func:`_check_size` refuses before anything walks the document.
    An unquoted timestamp (``created_at: 2026-01-01T00:00:01Z``) stays the
    text it is, as in JSON, rather than becoming a date that no body can
    hold.
    """


_LocatingLoader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_located(loader: _LocatingLoader, node: yaml.MappingNode) -> _Located:
    # A merge (<<) puts the merged pairs first; the mapping's own keys, last,
    # override them, while one of its own keys given twice is a mistake
    # PyYAML would silently resolve by keeping the last.
    own = sum(key.tag != "tag:yaml.org,2002:merge" for key, _ in node.value)
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    result = _Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    result.number_texts = {}
    own_keys: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise ScenarioError(
                loader.name, "a mapping key must be a plain value", line
            ) from None
        if index >= merged:
            if key in own_keys:
                first = result.key_lines[key]
                raise ScenarioError(
                    loader.name,
                    f"duplicate key {key!r} (first on line {first})",
                    line,
                )
            own_keys.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag in _NUMBER_TAGS:
            result.number_texts[key] = value_node.value
    return result


def _too_long() -> str:
    return f"integer too long (over {sys.get_int_max_str_digits()} digits)"


def _construct_int(loader: _LocatingLoader, node: yaml.ScalarNode) -> int:
    # Python reads and prints ints of at most sys.get_int_max_str_digits()
    # digits: a longer one (or a hexadecimal one as large) could never be
    # shown in a message or compared as an id.
    try:
        value = loader.construct_yaml_int(node)
        str(value)
    except ValueError:
        raise ScenarioError(
            loader.name, _too_long(), node.start_mark.line + 1
        ) from None
    return value


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_located,
)
_LocatingLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


#: The most values a scenario file may hold once YAML aliases are expanded
#: (a "billion laughs" file expands a few lines into billions of them).
MAX_VALUES: Final = 1_000_000


def _check_size(name: str, document: Any) -> Any:
    """Refuse a document that expands past :data:`MAX_VALUES` (counted
    without recursion, and never past the limit)."""
    left, stack = MAX_VALUES, [document]
    while stack:
        node = stack.pop()
        left -= 1
        if left < 0:
            raise ScenarioError(
                name, f"holds more than {MAX_VALUES} values (an alias bomb?)"
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return document


def read_document(path: Path, what: str = "scenario") -> Any:
    """The YAML (or, for ``.json``, JSON) document in ``path``, read as the
    scenario reader reads: a key given twice, an alias bomb, an integer too
    long to read or a value nested too deeply is a :class:`ScenarioError`
    that names the file (and the line where known), never a traceback."""
    name = str(path)
    try:
        return _check_size(name, _parse_document(path, name, what))
    except RecursionError:
        raise ScenarioError(name, f"nested too deeply to be a {what}") from None


def _parse_document(path: Path, name: str, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(name, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(name, f"is a directory, not a {what} file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(name, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ScenarioError(name, f"cannot be read ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(
                text,
                parse_constant=_refuse_json_constant,
                parse_int=_json_int,
                object_pairs_hook=_refuse_duplicates,
            )
        except json.JSONDecodeError as exc:
            raise ScenarioError(name, f"invalid JSON: {exc.msg}", exc.lineno) from None
        except ValueError as exc:
            raise ScenarioError(name, f"invalid JSON: {exc}") from None
    try:
        loader = _LocatingLoader(text)
    except yaml.YAMLError as exc:  # a character YAML refuses (NUL, ...)
        problem = " ".join(str(exc).split())
        raise ScenarioError(name, f"invalid YAML: {problem}") from None
    loader.name = name
    try:
        return loader.get_single_data()
    except RecursionError:
        raise ScenarioError(name, "nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(name, f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(name, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _refuse_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(_too_long()) from None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key comes twice (json keeps the last)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


# -- checking ----------------------------------------------------------------


class _Reader:
    """Walks a loaded document, raising errors that say where and what."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(
        self, where: str, problem: str, node: Any = None, key: Any = None
    ) -> ScenarioError:
        line = None
        if isinstance(node, _Located):
            line = node.key_lines.get(key, node.line) if key is not None else node.line
        return ScenarioError(self.path, f"{where}: {problem}", line)

    def mapping(
        self,
        value: Any,
        where: str,
        allowed: frozenset[str],
        parent: Any = None,
        key: Any = None,
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(
                where, f"must be a mapping, not {_kind(value)}", parent, key
            )
        for name in value:
            if name not in allowed:
                raise self.fail(
                    where,
                    f"unknown key {name!r} (known: {', '.join(sorted(allowed))})",
                    value,
                    name,
                )
        return value

    def number(
        self,
        value: Any,
        where: str,
        node: Any,
        key: Any,
        *,
        minimum: float | None = None,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, not {_kind(value)}", node, key)
        try:
            number = float(value)
        except OverflowError:
            raise self.fail(
                where,
                "must be a finite number, not an integer too large for a float",
                node,
                key,
            ) from None
        if not math.isfinite(number):
            raise self.fail(where, "must be a finite number", node, key)
        if minimum is not None and number < minimum:
            raise self.fail(where, f"must be >= {minimum:g}, got {value!r}", node, key)
        return number

    def whole(self, value: Any, where: str, node: Any, key: Any) -> int:
        number = self.number(value, where, node, key, minimum=0)
        if not number.is_integer():
            raise self.fail(where, f"must be a whole number, got {value!r}", node, key)
        return int(number)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "a mapping",
        _Located: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _given(data: Mapping[str, Any], key: str, default: Any) -> Any:
    """The value at ``key``; an omitted key or null means ``default``.

    Only null: an empty or false value of the wrong kind (``policy: []``,
    ``history: ""``) is refused by the caller, not taken for the default.
    """
    value = data.get(key)
    return default if value is None else value


_TOP: Final = frozenset(
    {
        "name",
        "policy",
        "history",
        "profile",
        "cancel_at",
        "trigger",
        "wall_clock",
        "backend",
        "expect",
    }
)
_ENTRY: Final = frozenset(
    {"at", "http_status", "headers", "body", "raw", "error", "latency"}
)
# A trigger's latency is accepted and has no effect: t = 0 is the moment the
# trigger returned, however long it took.
_TRIGGER: Final = frozenset(
    {"http_status", "headers", "body", "raw", "error", "latency"}
)
_EXPECT: Final = frozenset(
    {
        "outcome",
        "ended_by",
        "ended_after",
        "max_requests",
        "min_requests",
        "request_times",
        "max_wait",
        "messages",
    }
)
_OUTCOMES: Final = frozenset({"done", "failed", "timed_out", "stalled", "cancelled"})


def _ids(
    reader: _Reader, items: list[Any], where: str, node: Any, key: Any
) -> tuple[Any, ...]:
    """Message ids, each a JSON value: the engine tells ids apart by their
    canonical JSON text, which has no NaN, bytes, dates or sets."""
    for i, item in enumerate(items):
        try:
            canonical(item)
        except (TypeError, ValueError) as exc:
            raise reader.fail(
                f"{where}[{i}]", f"is not a JSON value ({exc})", node, key
            ) from None
    return tuple(items)


def _headers(
    reader: _Reader, value: Any, where: str, node: Any, key: Any
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise reader.fail(
            where,
            f"must be a mapping of names to values, not {_kind(value)}",
            node,
            key,
        )
    result = []
    for name, item in value.items():
        if not isinstance(name, str):
            raise reader.fail(
                where, f"a header name must be a string, not {_kind(name)}", value, name
            )
        text = _text(reader, item, f"{where}.{name}", value, name)
        # A header value is text: an unquoted YAML number is sent as written
        # (Retry-After: 010 is "010", not the octal 8 YAML 1.1 reads).
        result.append((name, getattr(value, "number_texts", {}).get(name, text)))
    return tuple(result)


def _text(reader: _Reader, value: Any, where: str, node: Any, key: Any) -> str:
    """A string, or a number as JSON writes it (``Retry-After: 3``); never a
    NaN or an infinity, which would be the text 'NaN' or 'Infinity'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reader.fail(where, f"must be a string, not {_kind(value)}", node, key)
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        raise reader.fail(
            where, "must be a string or a finite number", node, key
        ) from None


def _entry(
    reader: _Reader,
    value: Any,
    where: str,
    allowed: frozenset[str],
    parent: Any,
    key: Any,
) -> BackendEntry:
    data = reader.mapping(value, where, allowed, parent, key)
    at = 0.0
    if "at" in allowed:
        if "at" not in data:
            raise reader.fail(where, "needs an 'at' time", data)
        at = reader.number(data["at"], f"{where}.at", data, "at")
    status = 200
    if "http_status" in data:
        status = reader.whole(
            data["http_status"], f"{where}.http_status", data, "http_status"
        )
        # Three digits, as HTTP writes them; past 599 is fatal like any
        # other status the contract does not name.
        if not 100 <= status <= 999:
            raise reader.fail(
                f"{where}.http_status",
                f"must be from 100 to 999, got {status}",
                data,
                "http_status",
            )
    present = [name for name in ("body", "raw", "error") if name in data]
    if len(present) > 1:
        raise reader.fail(
            where,
            f"give only one of body, raw and error (got {', '.join(present)})",
            data,
        )
    body = b""
    error = None
    if "body" in data:
        if _holds_nan(data["body"]):
            raise reader.fail(
                f"{where}.body", "holds NaN, which JSON cannot write", data, "body"
            )
        try:
            # A number past a double's range (1e400 in a JSON scenario) reads
            # as infinity, and is served as 1e999, which reads so again.
            text = json_line(data["body"], ensure_ascii=True)
        except (TypeError, ValueError) as exc:
            raise reader.fail(
                f"{where}.body", f"is not JSON-serialisable ({exc})", data, "body"
            ) from None
        try:
            # Distinct YAML keys may be written as one JSON key (1 and "1").
            json.loads(text, object_pairs_hook=_refuse_duplicates)
        except ValueError as exc:
            raise reader.fail(
                f"{where}.body", f"{exc} once written as JSON", data, "body"
            ) from None
        body = text.encode()
    elif "raw" in data:
        if not isinstance(data["raw"], str):
            raise reader.fail(
                f"{where}.raw",
                f"must be a string, not {_kind(data['raw'])}",
                data,
                "raw",
            )
        body = data["raw"].encode()
    elif "error" in data:
        names = {
            kind.value: kind
            for kind in (FailureKind.CONNECT, FailureKind.TIMEOUT, FailureKind.RESET)
        }
        error = names.get(data["error"]) if isinstance(data["error"], str) else None
        if error is None:
            raise reader.fail(
                f"{where}.error",
                f"must be connect, timeout or reset, got {data['error']!r}",
                data,
                "error",
            )
    latency = 0.0
    if "latency" in data:
        latency = reader.number(
            data["latency"], f"{where}.latency", data, "latency", minimum=0
        )
    return BackendEntry(
        at=at,
        http_status=status,
        headers=_headers(
            reader, data.get("headers"), f"{where}.headers", data, "headers"
        ),
        body=body,
        error=error,
        latency=latency,
    )


def _expectations(reader: _Reader, value: Any, parent: Any) -> Expectations:
    if value is None:
        return Expectations()
    data = reader.mapping(value, "expect", _EXPECT, parent, "expect")
    fields: dict[str, Any] = {}
    if "outcome" in data:
        outcome = data["outcome"]
        if not isinstance(outcome, str) or outcome not in _OUTCOMES:
            raise reader.fail(
                "expect.outcome",
                f"must be one of {', '.join(sorted(_OUTCOMES))}, got {outcome!r}",
                data,
                "outcome",
            )
        fields["outcome"] = outcome
    for name in ("ended_by", "ended_after", "max_wait"):
        if data.get(name) is not None:
            fields[name] = reader.number(data[name], f"expect.{name}", data, name)
    for name in ("max_requests", "min_requests"):
        if data.get(name) is not None:
            fields[name] = reader.whole(data[name], f"expect.{name}", data, name)
    if data.get("request_times") is not None:
        times = data["request_times"]
        if not isinstance(times, list):
            raise reader.fail(
                "expect.request_times",
                f"must be a list, not {_kind(times)}",
                data,
                "request_times",
            )
        fields["request_times"] = tuple(
            reader.number(item, f"expect.request_times[{i}]", data, "request_times")
            for i, item in enumerate(times)
        )
    if data.get("messages") is not None:
        if not isinstance(data["messages"], list):
            raise reader.fail(
                "expect.messages",
                f"must be a list, not {_kind(data['messages'])}",
                data,
                "messages",
            )
        fields["messages"] = _ids(
            reader, data["messages"], "expect.messages", data, "messages"
        )
    return Expectations(**fields)


def scenario_from_mapping(
    document: Any, path: str = "<memory>", default_name: str = "scenario"
) -> Scenario:
    """Check a loaded document and build the :class:`Scenario` it describes.

    Raises:
        ScenarioError: naming ``path``, the line where known, and the problem.
    """
    reader = _Reader(path)
    data = reader.mapping(document, "scenario", _TOP)
    name = _text(reader, data.get("name", default_name), "name", data, "name")
    policy_data = _given(data, "policy", {})
    if not isinstance(policy_data, Mapping):
        raise reader.fail(
            "policy", f"must be a mapping, not {_kind(policy_data)}", data, "policy"
        )
    try:
        policy = Policy.from_mapping(policy_data)
    except PolicyError as exc:
        raise reader.fail("policy", str(exc), policy_data, exc.field) from None
    profile_data = _given(data, "profile", {})
    if not isinstance(profile_data, Mapping):
        raise reader.fail(
            "profile", f"must be a mapping, not {_kind(profile_data)}", data, "profile"
        )
    try:
        profile = Profile.from_mapping(profile_data)
    except ProfileError as exc:
        node = profile_data if isinstance(profile_data, _Located) else data
        raise reader.fail(
            "profile", str(exc), node, exc.field if node is profile_data else "profile"
        ) from None
    history_data = _given(data, "history", [])
    if not isinstance(history_data, list):
        raise reader.fail(
            "history",
            f"must be a list of message ids, not {_kind(history_data)}",
            data,
            "history",
        )
    history = _ids(reader, history_data, "history", data, "history")
    cancel_at = None
    if data.get("cancel_at") is not None:
        cancel_at = reader.number(
            data["cancel_at"], "cancel_at", data, "cancel_at", minimum=0
        )
    trigger = None
    if data.get("trigger") is not None:
        trigger = _entry(reader, data["trigger"], "trigger", _TRIGGER, data, "trigger")
    wall_clock = 1767225600.0
    if data.get("wall_clock") is not None:
        text = data["wall_clock"]
        moment = parse_http_date(text) if isinstance(text, str) else None
        if moment is None:
            raise reader.fail(
                "wall_clock",
                f"must be an HTTP-date such as {DEFAULT_WALL_CLOCK!r}, got {text!r}",
                data,
                "wall_clock",
            )
        wall_clock = moment
    backend_data = _given(data, "backend", [])
    if not isinstance(backend_data, list):
        raise reader.fail(
            "backend",
            f"must be a list of entries, not {_kind(backend_data)}",
            data,
            "backend",
        )
    backend = tuple(
        _entry(reader, item, f"backend[{i}]", _ENTRY, data, "backend")
        for i, item in enumerate(backend_data)
    )
    return Scenario(
        name=name,
        path=path,
        policy=policy,
        profile=profile,
        history=history,
        cancel_at=cancel_at,
        trigger=trigger,
        wall_clock=wall_clock,
        backend=backend,
        expect=_expectations(reader, data.get("expect"), data),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (YAML, or JSON when it ends in ``.json``).

    Raises:
        ScenarioError: the file cannot be read or describes no valid scenario.
    """
    path = Path(path)
    try:
        document = read_document(path)
        return scenario_from_mapping(document, str(path), default_name=path.stem)
    except RecursionError:
        raise ScenarioError(str(path), "nested too deeply") from None


def _holds_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_holds_nan(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_nan(item) for item in value)
    return False
