"""The shape of config.toml: every valid key, its type, default and meaning (DESIGN §10).

The schema is data, so validation, `claw config set` parsing, env overrides, "did you
mean" suggestions, `claw config list` and the docs all come from the same place. Tables
keyed by a user-chosen name (agents, providers, webhook targets) use the wildcard "*".
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from claw.errors import ConfigError, UsageError
from claw.state.config_channels import CHANNELS
from claw.state.config_checks import check_target, check_zone, parse_clock
from claw.state.config_field import WILDCARD, Field, Schema
from claw.state.config_memory import MEMORY
from claw.state.config_supervisor import SUPERVISOR
from claw.state.config_tools import MCP, TOOLS
from claw.state.durations import format_duration, parse_duration
from claw.state.names import validate_agent_id, validate_simple_name

PROFILE: Schema = {
    "name": Field("str", help="profile name, shown in errors and cooldowns"),
    "api_key_env": Field("str", help="environment variable that holds the API key"),
    "api_key": Field("str", help="the API key itself (prefer api_key_env)", secret=True),
}

BINDING_MATCH: Schema = {
    "channel": Field("str", help="channel name, e.g. telegram (required)"),
    "account": Field("str", help="channel account the message came in on"),
    "peer": Field("peer", help='peer id, or { kind = "direct" | "group", id = "..." }'),
    "group": Field("str", help="group id (shorthand for a group peer)"),
    "guild": Field("str", help="guild (server) id"),
    "thread": Field("str", help="thread id"),
}
BINDING: Schema = {"agent": Field("str", help="the agent that answers"), "match": BINDING_MATCH}

SCHEMA: Schema = {
    "model": {
        "default": Field(
            "str", "local/smollm2", "litellm model name, or local/smollm2, echo", nonempty=True
        ),
        "fallbacks": Field("list_str", [], "models tried in order when the default fails"),
        "thinking": Field("enum", "off", "reasoning level", ("off", "low", "medium", "high")),
        "timeout_s": Field("int", 600, "per-turn timeout in seconds", minimum=1),
        "max_tokens": Field("int", 1024, "longest reply, in tokens", minimum=1),
        "reasoning": Field(
            "enum",
            "off",
            "show the model's reasoning: off, on (after), stream (live)",
            ("off", "on", "stream"),
        ),
        "retry_budget": Field(
            "int", 8, "most model calls one turn may make across retries and fallbacks", minimum=1
        ),
    },
    "user": {
        "timezone": Field("zone", help="your IANA time zone, e.g. Europe/Paris (default: system)"),
    },
    "plugins": Field("list_str", [], "Python modules with claw hook implementations"),
    "lanes": {
        "main": Field("int", 4, "turns from people that may run at once", minimum=1),
        "cron": Field("int", 1, "cron turns that may run at once", minimum=1),
        "heartbeat": Field("int", 1, "heartbeat turns that may run at once", minimum=1),
        "subagent": Field("int", 3, "subagents that may run at once", minimum=1),
    },
    "supervisor": SUPERVISOR,
    "prompt": {
        "max_file_chars": Field(
            "int", 20_000, "longest workspace file put in the prompt", minimum=100
        ),
        "max_total_chars": Field("int", 60_000, "longest system prompt", minimum=1000),
    },
    "tools": TOOLS,
    "mcp": MCP,
    "providers": {
        WILDCARD: {
            "api_base": Field("str", help="base URL of the provider's API"),
            "profiles": Field("list_table", [], "auth profiles, tried in order", item=PROFILE),
            "pin": Field("str", help="always use this profile (never rotate away from it)"),
        }
    },
    "agents": {
        WILDCARD: {
            "model": Field("str", help="overrides model.default for this agent"),
            "fallbacks": Field("list_str", help="overrides model.fallbacks for this agent"),
            "auto_recall": Field("bool", help="overrides memory.auto_recall for this agent"),
            "dm_scope": Field(
                "enum",
                "main",
                "how direct messages map to sessions",
                ("main", "per-peer", "per-channel-peer", "per-account-channel-peer"),
            ),
            "heartbeat": {
                "enabled": Field("bool", True, "run the heartbeat for this agent"),
                "every": Field("duration", "30m", "time between heartbeat runs", minimum=1),
                "active_hours": {
                    "start": Field("clock", help="HH:MM: runs only from this time…"),
                    "end": Field("clock", help="HH:MM: …until this one (may cross midnight)"),
                    "timezone": Field(
                        "zone", help="IANA zone of those hours (default user.timezone)"
                    ),
                },
                "target": Field("target", "last", "where messages go: last, none, or CHANNEL:PEER"),
                "model": Field("str", help="model for heartbeat turns (default: the agent's)"),
                "prompt": Field("str", help="instructions before HEARTBEAT.md (default built in)"),
                "ack_max_chars": Field(
                    "int",
                    300,
                    "text allowed beside HEARTBEAT_OK that still counts as silent",
                    minimum=0,
                ),
                "dedup_window": Field("duration", "24h", "a message is not repeated within this"),
            },
        }
    },
    "bindings": Field(
        "list_table",
        [],
        "which agent answers which channel, account, peer or group",
        item=BINDING,
    ),
    "session": {
        "identity_links": {
            WILDCARD: Field(
                "list_str", help='one person\'s "channel:peer" ids, e.g. ["telegram:123"]'
            )
        }
    },
    "sessions": {
        "history_tokens": Field(
            "int", 0, "cap on history sent to the model (0: fit the model's context)", minimum=0
        ),
        "archive_after": Field(
            "duration", "30d", "idle time after which `claw sessions archive` archives a session"
        ),
        "fsync": Field(
            "bool", True, "fsync every transcript append (turn off only on throwaway storage)"
        ),
    },
    "cron": {
        "enabled": Field("bool", True, "run scheduled jobs in the daemon (claw serve)"),
        "catch_up": Field(
            "enum",
            "once",
            "a run missed while the daemon was down: run it once, or skip it",
            ("once", "skip"),
        ),
        "max_failures": Field(
            "int", 5, "failures in a row after which a job is disabled", minimum=1
        ),
    },
    "memory": MEMORY,
    "gateway": {
        "host": Field("str", "127.0.0.1", "address the daemon listens on", nonempty=True),
        "port": Field("int", 18789, "port the daemon listens on", minimum=0, maximum=65535),
    },
    "channels": CHANNELS,
}

NAME_VALIDATORS = {
    "agents": validate_agent_id,
    "providers": lambda n: validate_simple_name(n, "provider name"),
    "servers": lambda n: validate_simple_name(n, "MCP server name"),
    "targets": lambda n: validate_simple_name(n, "webhook target name"),
    "hooks": lambda n: validate_simple_name(n, "webhook hook name"),
    "intents": lambda n: validate_simple_name(n, "intent name"),
    "channels": lambda n: validate_simple_name(n, "channel name"),
}

INT_MAX = 2**63 - 1  # TOML integers are 64-bit: a larger one makes config.toml unreadable
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def lookup(key: str) -> tuple[Field | Schema, list[str]]:
    """The schema node for a dotted key; raises ConfigError naming the closest valid key."""
    if not key:
        raise unknown_key(key)
    parts = key.split(".")
    node: Any = SCHEMA
    for i, part in enumerate(parts):
        if isinstance(node, Field) or not part:
            raise unknown_key(key)
        if part in node:
            node = node[part]
        elif WILDCARD in node:
            validator = NAME_VALIDATORS.get(parts[i - 1]) if i else None
            if validator:
                validator(part)
            node = node[WILDCARD]
        else:
            raise unknown_key(key)
    return node, parts


def all_keys(schema: Schema = SCHEMA, prefix: str = "") -> list[str]:
    """Every leaf key, with '<name>' for wildcard tables (for suggestions and docs)."""
    out: list[str] = []
    for name, node in schema.items():
        full = f"{prefix}{'<name>' if name == WILDCARD else name}"
        if isinstance(node, Field):
            out.append(full)
        else:
            out.extend(all_keys(node, full + "."))
    return out


def unknown_key(key: str, where: str = "") -> ConfigError:
    candidates = all_keys()
    pattern = [c.replace("<name>", p) for c in candidates for p in _wild_parts(key, c)]
    close = difflib.get_close_matches(key, pattern or candidates, n=1, cutoff=0.5)
    if close and _same_table(key, close[0]) and not _similar_leaf(key, close[0]):
        close = []  # only the shared "table." prefix matched: 'tools.foo' is no 'tools.timeout_s'
    hint = f"did you mean '{close[0]}'?" if close else _siblings(key, candidates)
    return ConfigError(f"{where}unknown config key '{key}' ({hint})")


def _same_table(key: str, candidate: str) -> bool:
    return "." in key and key.rsplit(".", 1)[0] == candidate.rsplit(".", 1)[0]


def _similar_leaf(key: str, candidate: str) -> bool:
    a, b = key.rsplit(".", 1)[-1], candidate.rsplit(".", 1)[-1]
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.5


def _wild_parts(key: str, candidate: str) -> list[str]:
    # Fill '<name>' in a candidate with what the user wrote at that position (a name,
    # not an empty part: 'agents..model' is no suggestion).
    kp, cp = key.split("."), candidate.split(".")
    if "<name>" not in cp:
        return [""]
    i = cp.index("<name>")
    return [kp[i]] if i < len(kp) and kp[i] else []


def _siblings(key: str, candidates: list[str]) -> str:
    """The valid keys of the table `key` is in (`claw config list` is no help for a key in
    config.toml: it fails on that file)."""
    table = key.rsplit(".", 1)[0] + "." if "." in key else ""
    names = sorted({c[len(table) :].split(".")[0] for c in candidates if c.startswith(table)})
    if table and names:
        return f"{table[:-1]} has: {', '.join(names)}"
    return f"the top-level keys are: {', '.join(sorted({c.split('.')[0] for c in candidates}))}"


def parse_value(field: Field, raw: str, key: str) -> Any:
    """Turn text from the command line or the environment into a typed value."""
    text = raw.strip()
    if field.kind == "str":
        return check(field, raw, key)
    if field.kind == "int":
        try:
            return check(field, int(text), key)
        except ValueError:
            raise UsageError(f"{key}: expected an integer, got {raw!r}") from None
    if field.kind == "bool":
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise UsageError(f"{key}: expected true or false, got {raw!r}")
    if field.kind == "list_str":
        if text.startswith("["):
            value = _json(text, key)
        else:
            value = [p.strip() for p in text.split(",") if p.strip()]
        return check(field, value, key)
    if field.kind in ("list_table", "dict_str"):
        return check(field, _json(text, key), key)
    return check(field, text, key)


def _json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise UsageError(f"{key}: expected JSON ({e.msg} at column {e.colno})") from None


def check(field: Field, value: Any, key: str) -> Any:
    """Validate a typed value (from TOML or parsed text); returns the value to store."""
    kind = field.kind
    if kind == "zone":
        check_zone(value, key)
    if kind == "clock":
        parse_clock(value, key)
    if kind == "target":
        check_target(value, key)
    if kind == "str" and not isinstance(value, str):
        raise UsageError(f"{key}: expected a string, got {_show(value)}")
    if field.nonempty and isinstance(value, str) and not value.strip():
        raise UsageError(
            f"{key}: must not be empty", hint=f"`claw config unset {key}` restores the default"
        )
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{key}: expected an integer, got {_show(value)}")
        least = -INT_MAX - 1 if field.minimum is None else field.minimum
        most = INT_MAX if field.maximum is None else field.maximum
        if value < least:
            raise UsageError(f"{key}: must be at least {least}, got {value}")
        if value > most:
            raise UsageError(f"{key}: must be at most {most}, got {value}")
    if kind == "bool" and not isinstance(value, bool):
        raise UsageError(f"{key}: expected true or false, got {_show(value)}")
    if kind == "duration":
        value = _duration(field, value, key)
    if kind == "enum" and value not in field.choices:
        close = difflib.get_close_matches(str(value), field.choices, n=1)
        extra = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(
            f"{key}: expected one of {', '.join(field.choices)}, got {_show(value)}{extra}"
        )
    if kind == "list_str" and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise UsageError(f"{key}: expected a list of strings, got {_show(value)}")
    if kind == "dict_str" and not (
        isinstance(value, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise UsageError(f"{key}: expected a table of strings, got {_show(value)}")
    if kind == "peer" and not (
        isinstance(value, str)
        or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))
    ):
        raise UsageError(
            f'{key}: expected a peer id or {{ kind = "direct" | "group", id = "..." }}, '
            f"got {_show(value)}"
        )
    if kind == "list_table":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise UsageError(f"{key}: expected a list of tables, got {_show(value)}")
        for i, item in enumerate(value):
            validate_tree(item, field.item or {}, f"{key}[{i}].")
    return value


def _duration(field: Field, value: Any, key: str) -> str:
    """Canonically spelt; refused below the minimum or if spelling changes it (0.5s)."""
    try:
        seconds = parse_duration(value)
    except UsageError as e:
        raise UsageError(f"{key}: {e.message}") from None
    if seconds != int(seconds):
        raise UsageError(f"{key}: use whole seconds, got {_show(value)}")
    if field.minimum is not None and seconds < field.minimum:
        least = format_duration(field.minimum)
        raise UsageError(f"{key}: must be at least {least}, got {_show(value)}")
    return format_duration(seconds)


def validate_tree(data: dict[str, Any], schema: Schema, prefix: str = "") -> None:
    """Check a whole (sub)document: unknown keys, wrong types, bad names."""
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name in schema:
            node = schema[name]
        elif WILDCARD in schema:
            parent = prefix.rstrip(".").rsplit(".", 1)[-1]
            validator = NAME_VALIDATORS.get(parent)
            if validator:
                validator(name)
            node = schema[WILDCARD]
        else:
            raise unknown_key(key)
        if isinstance(node, Field):
            check(node, value, key)
        elif isinstance(value, dict):
            validate_tree(value, node, key + ".")
        else:
            raise UsageError(f"{key}: expected a table, got {_show(value)}")


def defaults(schema: Schema = SCHEMA) -> dict[str, Any]:
    """The default document: every key with a default, wildcard tables left empty."""
    out: dict[str, Any] = {}
    for name, node in schema.items():
        if name == WILDCARD:
            continue
        if isinstance(node, Field):
            if node.default is not None:
                out[name] = json.loads(json.dumps(node.default))  # a fresh copy
        else:
            out[name] = defaults(node)
    return out


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)
