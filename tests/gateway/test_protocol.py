"""The JSON-RPC 2.0 core, without sockets: the spec's own examples, params validation,
error mapping, no leaks, and a property test that no payload makes it raise."""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claw.errors import ClawError, ConfigError, InvalidName, ModelError, NotFound, UsageError
from claw.gateway import protocol, rpc_errors
from claw.gateway.protocol import Methods, Request, dispatch, parse
from claw.gateway.rpc_errors import CODES, RpcError, from_claw_error


@dataclass
class Subtract:
    minuend: int
    subtrahend: int


@dataclass
class Three:
    a: int
    b: int
    c: int


@dataclass
class Five:
    a: int
    b: int
    c: int
    d: int
    e: int


@dataclass
class One:
    n: int


@dataclass
class Echo:
    value: Any


@dataclass
class Typed:
    text: str
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    session_key: str | None = None


NOTIFIED: list[tuple[str, Any]] = []


def _methods() -> Methods:
    m = Methods()

    @m.method("subtract", params=Subtract)
    async def subtract(p: Subtract) -> int:
        return p.minuend - p.subtrahend

    @m.method("sum", params=Three)
    async def sum_(p: Three) -> int:
        return p.a + p.b + p.c

    for name, cls in (("update", Five), ("notify_sum", Three), ("notify_hello", One)):

        @m.method(name, params=cls)
        async def record(p: Any, _name: str = name) -> None:
            NOTIFIED.append((_name, p))

    @m.method("get_data")
    async def get_data() -> list[Any]:
        return ["hello", 5]

    @m.method("echo", params=Echo, auth=False)
    async def echo(p: Echo) -> Any:
        return p.value

    @m.method("typed", params=Typed)
    async def typed(p: Typed) -> dict[str, Any]:
        return p.__dict__

    return m


METHODS = _methods()


async def _call(spec: protocol.MethodSpec, params: Any, request: Request) -> Any:
    return await (spec.handler(params) if spec.params is not None else spec.handler())


def rpc(raw: str | bytes, methods: Methods = METHODS, call: Any = _call, **kw: Any) -> Any:
    out = trio.run(functools.partial(dispatch, parse(raw), methods, call, **kw))
    return None if out is None else json.loads(out)


def bare(response: Any) -> Any:
    """Drop `error.data` (our extra hints) to compare with the spec's examples."""
    if isinstance(response, list):
        return [bare(r) for r in response]
    if "error" in response:
        response = {
            **response,
            "error": {k: v for k, v in response["error"].items() if k != "data"},
        }
    return response


def err(code: int, message: str, id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id}


# -- the specification's examples, in its order ------------------------------------------------


def test_positional_params() -> None:
    assert rpc('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}') == {
        "jsonrpc": "2.0",
        "result": 19,
        "id": 1,
    }
    assert rpc('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}') == {
        "jsonrpc": "2.0",
        "result": -19,
        "id": 2,
    }


def test_named_params() -> None:
    raw3 = '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42},'
    raw4 = '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23},'
    raw3, raw4 = raw3 + ' "id": 3}', raw4 + ' "id": 4}'
    assert rpc(raw3) == {"jsonrpc": "2.0", "result": 19, "id": 3}
    assert rpc(raw4) == {"jsonrpc": "2.0", "result": 19, "id": 4}


def test_notifications_run_but_get_no_response() -> None:
    NOTIFIED.clear()
    assert rpc('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}') is None
    assert rpc('{"jsonrpc": "2.0", "method": "foobar"}') is None  # unknown: still silent
    assert [("update", Five(1, 2, 3, 4, 5))] == NOTIFIED


def test_non_existent_method() -> None:
    assert rpc('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}') == err(
        -32601, "Method not found", "1"
    )


def test_invalid_json() -> None:
    raw = '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'
    assert bare(rpc(raw)) == err(-32700, "Parse error")


def test_invalid_request_object() -> None:
    out = rpc('{"jsonrpc": "2.0", "method": 1, "params": "bar"}')
    assert bare(out) == err(-32600, "Invalid Request")
    assert out["error"]["data"]["reason"] == "method must be a string"


def test_batch_with_invalid_json() -> None:
    raw = """[
      {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
      {"jsonrpc": "2.0", "method"
    ]"""
    assert bare(rpc(raw)) == err(-32700, "Parse error")


def test_empty_array_is_one_invalid_request_not_a_batch() -> None:
    assert bare(rpc("[]")) == err(-32600, "Invalid Request")


def test_invalid_batch_of_one_and_of_three() -> None:
    assert bare(rpc("[1]")) == [err(-32600, "Invalid Request")]
    assert bare(rpc("[1,2,3]")) == [err(-32600, "Invalid Request")] * 3


def test_mixed_batch() -> None:
    NOTIFIED.clear()
    raw = """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"""
    assert bare(rpc(raw)) == [
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        err(-32600, "Invalid Request"),
        err(-32601, "Method not found", "5"),
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
    ]
    assert [("notify_hello", One(7))] == NOTIFIED


def test_all_notification_batch_gets_nothing() -> None:
    NOTIFIED.clear()
    raw = """[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"""
    assert rpc(raw) is None
    assert [name for name, _ in NOTIFIED] == ["notify_sum", "notify_hello"]


# -- request object rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason", "id"),
    [
        ('{"jsonrpc": "1.0", "method": "echo", "id": 7}', 'jsonrpc must be exactly "2.0"', 7),
        ('{"jsonrpc": 2.0, "method": "echo", "id": "a"}', 'jsonrpc must be exactly "2.0"', "a"),
        ('{"method": "echo", "id": 1}', 'jsonrpc must be exactly "2.0"', 1),
        ('{"jsonrpc": "2.0", "id": 1}', "method must be a string", 1),
        ('{"jsonrpc": "2.0", "method": "echo", "params": null, "id": 1}', "params must", 1),
        ('{"jsonrpc": "2.0", "method": "echo", "params": "x"}', "params must", None),
        ('{"jsonrpc": "2.0", "method": "echo", "id": true}', "id must", None),
        ('{"jsonrpc": "2.0", "method": "echo", "id": {"a": 1}}', "id must", None),
        ('{"jsonrpc": "2.0", "method": "echo", "id": [1]}', "id must", None),
        ('"hello"', "a request must be a JSON object", None),
        ("null", "a request must be a JSON object", None),
    ],
)
def test_invalid_requests(raw: str, reason: str, id: Any) -> None:
    out = rpc(raw)
    assert out["id"] == id and out["error"]["code"] == -32600
    assert out["error"]["data"]["reason"].startswith(reason)


def test_ids_are_echoed_exactly() -> None:
    for id in ("abc", 0, -5, 10**30, 1.5, None, ""):
        out = rpc(json.dumps({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": id}))
        assert out == {"jsonrpc": "2.0", "result": 1, "id": id}


def test_bytes_like_payloads() -> None:
    raw = b'{"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1}'
    for payload in (bytearray(raw), memoryview(raw), raw.decode()):
        assert parse(payload) == parse(raw)


def test_extra_members_are_ignored() -> None:
    out = rpc('{"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1, "x": 2}')
    assert out["result"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"NaN",
        b"[Infinity]",
        b'{"id": -Infinity}',
        b"1e400",
        b"\xff{}",
        b"\xef\xbb\xbf{}",
        b"[" * 100_000 + b"]" * 100_000,
        b"1" * 5000,  # more digits than Python converts to int
    ],
)
def test_parse_errors(raw: bytes) -> None:
    out = rpc(raw)
    assert out["id"] is None and out["error"]["code"] == -32700
    assert isinstance(out["error"]["data"]["reason"], str)


def test_lone_surrogate_id_is_echoed_as_an_escape() -> None:
    raw = '{"jsonrpc": "2.0", "method": "echo", "params": ["\\udc80"], "id": "\\ud800"}'
    out = trio.run(dispatch, parse(raw), METHODS, _call)
    assert out.isascii() and json.loads(out) == {
        "jsonrpc": "2.0",
        "result": "\udc80",
        "id": "\ud800",
    }


def test_output_is_compact_utf8() -> None:
    out = trio.run(
        dispatch,
        parse('{"jsonrpc":"2.0","method":"echo","params":["héllo ✓"],"id":1}'),
        METHODS,
        _call,
    )
    assert out == '{"jsonrpc":"2.0","result":"héllo ✓","id":1}'.encode()


def test_reserved_rpc_names() -> None:
    assert bare(rpc('{"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}')) == err(
        -32601, "Method not found", 1
    )
    assert rpc('{"jsonrpc": "2.0", "method": "rpc.discover"}') is None
    with pytest.raises(ValueError, match="reserved"):
        Methods().method("rpc.x")


# -- params validation -------------------------------------------------------------------------


def _params_error(method: str, params: Any) -> dict[str, Any]:
    out = rpc(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
    assert out["error"]["code"] == -32602 and out["error"]["message"] == "Invalid params", out
    return out["error"]["data"]


@pytest.mark.parametrize(
    ("method", "params", "param", "reason"),
    [
        ("subtract", {"minuend": 1}, "subtrahend", "missing required param"),
        ("subtract", [1], "subtrahend", "missing required param"),
        ("subtract", {"minuend": 1, "subtrahend": 2, "x": 3}, "x", "unknown param"),
        ("subtract", [1, 2, 3], 2, "too many positional params: takes at most 2"),
        ("subtract", {"minuend": "42", "subtrahend": 1}, "minuend", "expected integer, got string"),
        (
            "subtract",
            {"minuend": True, "subtrahend": 1},
            "minuend",
            "expected integer, got boolean",
        ),
        ("subtract", {"minuend": 1.5, "subtrahend": 1}, "minuend", "expected integer, got number"),
        ("subtract", [1, None], "subtrahend", "expected integer, got null"),
        ("typed", {}, "text", "missing required param"),
        ("typed", {"text": 1}, "text", "expected string, got number"),
        ("typed", {"text": "t", "flag": 1}, "flag", "expected boolean, got number"),
        ("typed", {"text": "t", "ratio": "1"}, "ratio", "expected number, got string"),
        ("typed", {"text": "t", "ratio": 10**400}, "ratio", "int too large to convert to float"),
        ("typed", {"text": "t", "tags": "a"}, "tags", "expected array of string, got string"),
        ("typed", {"text": "t", "tags": ["a", 2]}, "tags", "item 1: expected string, got number"),
        ("typed", {"text": "t", "meta": []}, "meta", "expected object, got array"),
        ("typed", {"text": "t", "session_key": 3}, "session_key", "expected string, got number"),
        ("get_data", {"x": 1}, "x", "unknown param"),
        ("get_data", [1], 0, "too many positional params: takes at most 0"),
    ],
)
def test_params_errors_name_the_param(method: str, params: Any, param: Any, reason: str) -> None:
    assert _params_error(method, params) == {"param": param, "reason": reason}


def test_params_are_converted_into_the_dataclass() -> None:
    out = rpc(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "typed",
                "id": 1,
                "params": {
                    "text": "t",
                    "count": 3.0,
                    "ratio": 2,
                    "flag": True,
                    "tags": ["a"],
                    "meta": {"k": [1]},
                    "session_key": None,
                },
            }
        )
    )
    assert out["result"] == {
        "text": "t",
        "count": 3,
        "ratio": 2.0,
        "flag": True,
        "tags": ["a"],
        "meta": {"k": [1]},
        "session_key": None,
    }
    defaults = rpc('{"jsonrpc": "2.0", "method": "typed", "params": ["t"], "id": 1}')["result"]
    assert defaults == {
        "text": "t",
        "count": 1,
        "ratio": 0.5,
        "flag": False,
        "tags": [],
        "meta": {},
        "session_key": None,
    }
    assert rpc('{"jsonrpc": "2.0", "method": "get_data", "params": [], "id": 1}')["result"]
    assert rpc('{"jsonrpc": "2.0", "method": "get_data", "params": {}, "id": 1}')["result"]


def test_registry_api() -> None:
    assert METHODS.names() == sorted(METHODS.names()) and "subtract" in METHODS.names()
    spec = METHODS.get("echo")
    assert spec is not None and spec.auth is False and METHODS.get("subtract").auth is True
    assert METHODS.get("nope") is None
    assert METHODS.validate("subtract", [3, 1]) == Subtract(3, 1)
    with pytest.raises(RpcError) as e:
        METHODS.validate("nope", None)
    assert e.value.code == -32601
    with pytest.raises(RpcError) as e:
        METHODS.validate("subtract", {})
    assert e.value.code == -32602 and e.value.data == {
        "param": "minuend",
        "reason": "missing required param",
    }


def test_bad_registrations_fail_at_import_time() -> None:
    m = Methods()
    m.method("a")(lambda: None)
    with pytest.raises(ValueError, match="taken"):
        m.method("a")
    with pytest.raises(ValueError):
        m.method("")

    @dataclass
    class Bad:
        x: set[str]

    with pytest.raises(TypeError, match="unsupported"):
        m.method("b", params=Bad)
    with pytest.raises(TypeError, match="dataclass"):
        m.method("c", params=dict)


# -- errors raised by handlers -----------------------------------------------------------------


def _raising(exc: BaseException, result: Any = None) -> Methods:
    m = Methods()

    @m.method("boom")
    async def boom() -> Any:
        if exc is not None:
            raise exc
        return result

    @m.method("ok")
    async def ok() -> int:
        return 1

    return m


BOOM = '{"jsonrpc": "2.0", "method": "boom", "id": 9}'


def test_internal_error_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="claw.gateway")
    out = trio.run(dispatch, parse(BOOM), _raising(ValueError("secret /home/x")), _call)
    assert json.loads(out) == err(-32603, "Internal error", 9)
    assert b"secret" not in out and b"Traceback" not in out and b"ValueError" not in out
    [record] = [r for r in caplog.records if r.name == "claw.gateway"]
    assert record.exc_info is not None and "secret" in str(record.exc_info[1])


def test_internal_error_in_a_notification_is_logged_not_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="claw.gateway")
    assert rpc('{"jsonrpc": "2.0", "method": "boom"}', _raising(KeyError("k"))) is None
    assert any(r.name == "claw.gateway" for r in caplog.records)


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, {"x": math.inf}, b"bytes"])
def test_unserialisable_results_are_internal_errors(value: Any) -> None:
    assert rpc(BOOM, _raising(None, value)) == err(-32603, "Internal error", 9)
    batch = f'[{BOOM}, {{"jsonrpc": "2.0", "method": "ok", "id": 10}}]'
    assert rpc(batch, _raising(None, value)) == [
        err(-32603, "Internal error", 9),
        {"jsonrpc": "2.0", "result": 1, "id": 10},
    ]


@pytest.mark.parametrize(
    ("exc", "code", "message", "data"),
    [
        (NotFound("no session 'x'"), -32004, "no session 'x'", None),
        (
            UsageError("bad key", hint="use a-z"),
            -32602,
            "bad key",
            {"reason": "bad key", "hint": "use a-z"},
        ),
        (InvalidName("bad name"), -32602, "bad name", {"reason": "bad name"}),
        (
            ModelError("slow down", reason="rate_limit", retry_after=1.2001),
            -32005,
            "slow down",
            {"reason": "rate_limit", "retry_after_ms": 1201},
        ),
        (ModelError("no key", reason="auth"), -32005, "no key", {"reason": "auth"}),
        (ConfigError("config.toml is broken"), -32000, "config.toml is broken", None),
        (ClawError("disk full", hint="free space"), -32000, "disk full", {"hint": "free space"}),
        (rpc_errors.rate_limited(250), -32002, "Rate limited", {"retry_after_ms": 250}),
        (RpcError(-32003), -32003, "Busy", None),
        (ExceptionGroup("g", [NotFound("gone")]), -32004, "gone", None),
    ],
)
def test_expected_errors_keep_their_code_and_message(
    exc: Exception, code: int, message: str, data: Any
) -> None:
    expected = {"code": code, "message": message} | ({"data": data} if data else {})
    assert rpc(BOOM, _raising(exc))["error"] == expected


def test_a_group_of_several_errors_is_internal() -> None:
    exc = ExceptionGroup("g", [NotFound("a"), ValueError("b")])
    assert rpc(BOOM, _raising(exc))["error"] == {"code": -32603, "message": "Internal error"}


def test_cancellation_is_not_swallowed() -> None:
    class Stop(BaseException):
        pass

    with pytest.raises(Stop):
        rpc(BOOM, _raising(Stop()))


def test_error_codes_table() -> None:
    constants = {v for k, v in vars(rpc_errors).items() if k.isupper() and isinstance(v, int)}
    assert constants == set(CODES)
    for code, info in CODES.items():
        assert code in (-32700, -32600, -32601, -32602, -32603) or -32099 <= code <= -32000
        assert info.name and info.message and info.meaning and info.action
    assert len({info.name for info in CODES.values()}) == len(CODES)
    assert from_claw_error(ModelError("x", retry_after=0.0001)).data == {
        "reason": "unknown",
        "retry_after_ms": 1,
    }


def test_builders() -> None:
    assert protocol.error(1, RpcError(-32001)) == err(-32001, "Unauthorized", 1)
    assert protocol.result(None, None) == {"jsonrpc": "2.0", "result": None, "id": None}
    assert protocol.notification("event", {"type": "chat.delta"}) == {
        "jsonrpc": "2.0",
        "method": "event",
        "params": {"type": "chat.delta"},
    }
    assert protocol.notification("ping") == {"jsonrpc": "2.0", "method": "ping"}
    assert (
        protocol.encode(protocol.notification("e", [1]))
        == b'{"jsonrpc":"2.0","method":"e","params":[1]}'
    )


# -- the server's hooks: check and run_all -----------------------------------------------------


def test_check_runs_before_params_validation() -> None:
    seen: list[str] = []

    async def deny(spec: protocol.MethodSpec, request: Request) -> None:
        seen.append(spec.name)
        if spec.auth:
            raise RpcError(rpc_errors.UNAUTHORIZED)

    raw = (
        '[{"jsonrpc":"2.0","method":"subtract","params":["x"],"id":1},'
        '{"jsonrpc":"2.0","method":"echo","params":[2],"id":2},'
        '{"jsonrpc":"2.0","method":"nope","id":3}]'
    )
    assert bare(rpc(raw, check=deny)) == [
        err(-32001, "Unauthorized", 1),
        {"jsonrpc": "2.0", "result": 2, "id": 2},
        err(-32601, "Method not found", 3),
    ]
    assert seen == ["subtract", "echo"]


def test_run_all_with_a_nursery_runs_members_concurrently_and_keeps_order() -> None:
    m = Methods()
    ready = trio.Event()

    @m.method("wait")
    async def wait() -> str:
        await ready.wait()  # deadlocks unless "go" runs concurrently
        return "waited"

    @m.method("go")
    async def go() -> str:
        ready.set()
        return "went"

    async def run_all(jobs: Any) -> list[Any]:
        results: list[Any] = [None] * len(jobs)

        async def one(i: int) -> None:
            results[i] = await jobs[i]()

        async with trio.open_nursery() as nursery:
            for i in range(len(jobs)):
                nursery.start_soon(one, i)
        return results

    async def main() -> bytes | None:
        with trio.fail_after(5):
            raw = (
                '[{"jsonrpc":"2.0","method":"wait","id":1},{"jsonrpc":"2.0","method":"go","id":2}]'
            )
            return await dispatch(parse(raw), m, _call, run_all=run_all)

    assert json.loads(trio.run(main)) == [
        {"jsonrpc": "2.0", "result": "waited", "id": 1},
        {"jsonrpc": "2.0", "result": "went", "id": 2},
    ]


# -- property: nothing a client sends makes the core raise -------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0, None]),
        "method": st.sampled_from([*METHODS.names(), "rpc.x", "nope", ""]) | JSON,
        "params": JSON,
        "id": JSON,
    },
)
PAYLOADS = JSON | REQUESTS | st.lists(REQUESTS | JSON, max_size=5)


def _valid_response(r: Any) -> None:
    assert isinstance(r, dict) and r["jsonrpc"] == "2.0" and "id" in r
    assert r["id"] is None or type(r["id"]) in (str, int, float)
    assert set(r) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"})
    if "error" in r:
        e = r["error"]
        assert type(e["code"]) is int and isinstance(e["message"], str)
        assert set(e) <= {"code", "message", "data"} and isinstance(e.get("data", {}), dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOADS)
def test_any_json_gets_a_valid_answer(value: Any) -> None:
    raw = json.dumps(value)
    parsed = parse(raw)
    expected = sum(1 for i in parsed.items if not (isinstance(i, Request) and i.is_notification))
    out = trio.run(dispatch, parsed, METHODS, _call)
    if expected == 0:
        assert out is None
        assert isinstance(value, dict | list) and value != []
        return
    answer = json.loads(out)
    if isinstance(value, list) and value:
        assert isinstance(answer, list) and len(answer) == expected
    else:
        answer = [answer]
    for r in answer:
        _valid_response(r)
    if not isinstance(value, dict | list):
        assert answer[0]["error"]["code"] == -32600


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_any_bytes_never_raise(raw: bytes | str) -> None:
    out = trio.run(dispatch, parse(raw), METHODS, _call)
    if out is not None:
        answer = json.loads(out)
        for r in answer if isinstance(answer, list) else [answer]:
            _valid_response(r)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_results_round_trip(value: Any) -> None:
    raw = json.dumps({"jsonrpc": "2.0", "method": "echo", "params": {"value": value}, "id": 1})
    assert rpc(raw) == {"jsonrpc": "2.0", "result": value, "id": 1}
