"""JSON-RPC 2.0 without I/O: parse bytes, validate params, dispatch, encode.

Both transports and the tests share these bytes-in/bytes-out functions, so behaviour cannot
drift between WebSocket and HTTP. No trio/asyncio import: `dispatch` only awaits what it gets.

Readings of jsonrpc.org/specification: an invalid Request is answered even without an `id`
(the spec's example) and echoes its `id` when that member is valid (it was "detected"; a
client waiting on it would hang otherwise); fractional ids are echoed ("SHOULD NOT" binds
clients); booleans are not ids; `"params": null` is invalid; NaN/Infinity, overflowing
numbers, bad UTF-8 and too-deep nesting are parse errors; extra members are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from claw.errors import ClawError
from claw.gateway import rpc_errors as codes
from claw.gateway.rpc_errors import RpcError, from_claw_error, invalid_params, invalid_request

log = logging.getLogger("claw.gateway")
_DUMPS = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)

Id = str | int | float | None
Response = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """A structurally valid Request object; whether the method exists is dispatch's job."""

    method: str
    params: dict[str, Any] | list[Any] | None
    id: Id
    is_notification: bool  # no `id` member at all: the client wants no response


Item = Request | Response  # a Response here is always a ready-made error for an invalid member


@dataclass(frozen=True)
class Parsed:
    """What one payload held: a single item, or a batch (a non-empty JSON array)."""

    items: list[Item]
    batch: bool


def result(id: Id, value: Any) -> Response:
    return {"jsonrpc": "2.0", "result": value, "id": id}


def error(id: Id, err: RpcError) -> Response:
    return {"jsonrpc": "2.0", "error": err.to_dict(), "id": id}


def notification(method: str, params: dict[str, Any] | list[Any] | None = None) -> dict[str, Any]:
    """A server→client notification (streaming `event`s); no `id`, so no reply is expected."""
    return {"jsonrpc": "2.0", "method": method} | ({} if params is None else {"params": params})


def encode(message: Any) -> bytes:
    """Compact UTF-8 JSON; raises TypeError/ValueError when `message` is not JSON."""
    try:
        return _DUMPS(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate came in as a legal `\ud800` escape: escaping echoes it exactly
        return _DUMPS(message).encode("ascii")


_MISSING: Any = object()


def _number(text: str) -> float:
    value = float(text)  # NaN and Infinity are not JSON; 1e400 is, but no double holds it
    if not math.isfinite(value):
        raise ValueError(f"number out of range or not JSON: {text[:40]}")
    return value


def parse(raw: bytes | bytearray | memoryview | str) -> Parsed:
    """Turn one payload into requests and ready-made error responses; never raises."""
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        doc = json.loads(text, parse_constant=_number, parse_float=_number)
    except (ValueError, RecursionError) as e:  # ValueError covers JSON and UTF-8 errors
        reason = str(e)[:200] if isinstance(e, ValueError) else "nested too deeply"
        return Parsed([error(None, RpcError(codes.PARSE_ERROR, data={"reason": reason}))], False)
    if isinstance(doc, list):
        if not doc:  # the spec answers an empty batch with one error, not an array
            return Parsed([error(None, invalid_request("empty batch"))], False)
        return Parsed([_request(member) for member in doc], True)
    return Parsed([_request(doc)], False)


def _request(obj: Any) -> Item:
    if not isinstance(obj, dict):
        return error(None, invalid_request("a request must be a JSON object"))
    rid = obj.get("id", _MISSING)
    if not (rid in (_MISSING, None) or isinstance(rid, str | float) or type(rid) is int):
        return error(None, invalid_request("id must be a string, a number or null"))
    echo = None if rid is _MISSING else rid
    method, params = obj.get("method"), obj.get("params", _MISSING)
    if obj.get("jsonrpc") != "2.0":
        return error(echo, invalid_request('jsonrpc must be exactly "2.0"'))
    if not isinstance(method, str):
        return error(echo, invalid_request("method must be a string"))
    if params is not _MISSING and not isinstance(params, dict | list):
        return error(echo, invalid_request("params must be an object or an array"))
    return Request(method, None if params is _MISSING else params, echo, rid is _MISSING)


_NAMES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}
_NAMES |= {list: "array", dict: "object", Any: "any value"}
_KINDS = _NAMES | {int: "number"}


def _describe(tp: Any) -> str:
    """The type in JSON words; TypeError for a type the validator does not check."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return _describe(args[args[0] is type(None)]) + " or null"
    if origin is list and len(args) == 1:
        return f"array of {_describe(args[0])}"
    if origin is dict and args == (str, Any):
        return "object"
    if tp in _NAMES:
        return _NAMES[tp]
    raise TypeError(f"unsupported param type {tp!r}")


def _convert(value: Any, tp: Any, where: str = "") -> Any:
    """`value` as `tp`, or ValueError with the client's reason. JSON has one number type and
    encoders disagree on `1` vs `1.0`, so ints widen to float and integral floats to int."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):  # X | None, checked by _describe
        return None if value is None else _convert(value, args[args[0] is type(None)], where)
    kind = type(value)
    if tp is Any or kind is tp:
        return value
    if tp is float and kind is int:
        return float(value)
    if tp is int and kind is float and value.is_integer():
        return int(value)
    if origin is list and kind is list:
        return [_convert(v, args[0], f"{where}item {i}: ") for i, v in enumerate(value)]
    if origin is dict and kind is dict:
        return value
    raise ValueError(f"{where}expected {_describe(tp)}, got {_KINDS.get(kind, kind.__name__)}")


def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) per field, read at registration: a bad class fails at import."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"params must be a dataclass, not {cls!r}")
    hints = typing.get_type_hints(cls)  # resolves `from __future__` strings without eval()
    fields = [f for f in dataclasses.fields(cls) if f.init]
    for f in fields:
        _describe(hints[f.name])  # TypeError for a type the validator cannot check
    no = dataclasses.MISSING
    return tuple(
        (f.name, hints[f.name], f.default is no and f.default_factory is no) for f in fields
    )


@dataclass(frozen=True)
class MethodSpec:
    """One registered method; `call` (the server's) decides how `handler` is invoked."""

    name: str
    handler: Callable[..., Any]
    params: type | None
    auth: bool
    fields: tuple[tuple[str, Any, bool], ...] = ()  # (name, type, required), in order

    def bind(self, params: dict[str, Any] | list[Any] | None) -> Any:
        """The params dataclass instance (None without one); RpcError -32602 on misfit."""
        if isinstance(params, list):
            if len(params) > len(self.fields):
                reason = f"too many positional params: takes at most {len(self.fields)}"
                raise invalid_params(len(self.fields), reason)
            params = {f[0]: v for f, v in zip(self.fields, params, strict=False)}
        given = params or {}
        unknown = [key for key in given if key not in {f[0] for f in self.fields}]
        if unknown:
            raise invalid_params(unknown[0], "unknown param")
        values = {}
        for name, tp, required in self.fields:
            if name in given:
                try:
                    values[name] = _convert(given[name], tp)
                except (ValueError, OverflowError) as e:  # OverflowError: huge int as float
                    raise invalid_params(name, str(e)) from None
            elif required:
                raise invalid_params(name, "missing required param")
        return None if self.params is None else self.params(**values)


class Methods:
    """The method registry; later issues add their methods to the same instance."""

    def __init__(self) -> None:
        self._specs: dict[str, MethodSpec] = {}

    def method(
        self, name: str, *, params: type | None = None, auth: bool = True
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated handler; bad names and params types fail at import time."""
        if not name or name.startswith("rpc.") or name in self._specs:
            raise ValueError(f"method name {name!r} is empty, reserved (rpc.*) or taken")
        fields = _schema(params) if params is not None else ()

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self._specs[name] = MethodSpec(name, handler, params, auth, fields)
            return handler

        return register

    def get(self, name: str) -> MethodSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def public(self, parsed: Parsed) -> bool:
        """Whether every member of `parsed` calls a method that needs no authentication."""
        specs = [self.get(i.method) if isinstance(i, Request) else None for i in parsed.items]
        return all(spec is not None and not spec.auth for spec in specs)

    def validate(self, name: str, params: dict[str, Any] | list[Any] | None) -> Any:
        if (spec := self.get(name)) is None:
            raise RpcError(codes.METHOD_NOT_FOUND)
        return spec.bind(params)


Call = Callable[[MethodSpec, Any, Request], Awaitable[Any]]
Check = Callable[[MethodSpec, Request], Awaitable[None]]
Job = Callable[[], Awaitable[Response | None]]
RunAll = Callable[[Sequence[Job]], Awaitable[Sequence[Response | None]]]


async def dispatch(
    parsed: Parsed,
    methods: Methods,
    call: Call,
    *,
    check: Check | None = None,
    run_all: RunAll | None = None,
) -> bytes | None:
    """Answer a parsed payload: response bytes, or None when nothing must be sent.

    `check` (auth, rate limits) runs once the method is found, before params are validated,
    so unauthenticated clients learn nothing about params. Jobs never raise (cancellation
    propagates), so `run_all` may run them in a nursery; responses keep the request order.
    """
    jobs = [functools.partial(_answer, item, methods, call, check) for item in parsed.items]
    if not parsed.batch:
        response = await jobs[0]()
        return None if response is None else _encode_response(response)
    responses = await run_all(jobs) if run_all else [await job() for job in jobs]
    parts = [_encode_response(r) for r in responses if r is not None]
    return b"[" + b",".join(parts) + b"]" if parts else None


async def _answer(item: Item, methods: Methods, call: Call, check: Check | None) -> Response | None:
    if not isinstance(item, Request):
        return item  # invalid requests are answered even without an id
    try:
        if (spec := methods.get(item.method)) is None:
            raise RpcError(codes.METHOD_NOT_FOUND)
        if check is not None:
            await check(spec, item)
        value = await call(spec, spec.bind(item.params), item)
    except Exception as exc:
        err = _as_rpc_error(exc, item)
        return None if item.is_notification else error(item.id, err)
    return None if item.is_notification else result(item.id, value)


def _as_rpc_error(exc: BaseException, request: Request) -> RpcError:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]  # a handler's nursery wraps even a single expected error
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, ClawError):
        return from_claw_error(exc)
    log.error("internal error in method %r", request.method, exc_info=exc)
    return RpcError(codes.INTERNAL_ERROR)  # the text may hold secrets or paths: log only


def _encode_response(response: Response) -> bytes:
    try:
        return encode(response)
    except (TypeError, ValueError, RecursionError):
        log.error("response to id %r is not JSON", response.get("id"), exc_info=True)
        return encode(error(response.get("id"), RpcError(codes.INTERNAL_ERROR)))
