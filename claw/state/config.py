"""Reading and changing config.toml, with CLAW_<SECTION>__<KEY> environment overrides.

Effective value of a key = environment override, else config.toml, else the schema's
default. Every command that reads the file reports a TOML syntax error with its line and
column, and an unknown key with the closest valid one.
"""

from __future__ import annotations

import copy
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from claw.errors import ConfigError, UsageError
from claw.state import config_schema as schema
from claw.state.atomic import atomic_write_text
from claw.state.locks import lock_for

log = logging.getLogger("claw.config")

ENV_PREFIX = "CLAW_"
HEADER = (
    "# claw configuration. Change it with `claw config set KEY VALUE`, which rewrites this\n"
    "# file (comments are not kept); examples/config.toml documents every setting.\n"
)


@dataclass
class Config:
    data: dict[str, Any]  # effective: defaults + file + environment
    file_data: dict[str, Any] = field(default_factory=dict)
    env_keys: dict[str, str] = field(default_factory=dict)  # dotted key -> env var name
    path: Path | None = None

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def source(self, key: str) -> str:
        if key in self.env_keys:
            return f"env {self.env_keys[key]}"
        node: Any = self.file_data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return "default"
            node = node[part]
        return "file"

    def agent_model(self, agent_id: str) -> str:
        return self.get(f"agents.{agent_id}.model") or self.get("model.default")

    def agent_ids(self) -> list[str]:
        return sorted(set(self.get("agents", {})) | {"main"})


def read_file(path: Path) -> dict[str, Any]:
    """config.toml as a dict ({} when missing), validated; syntax errors name line and
    column."""
    data = _read_toml(path)
    try:
        schema.validate_tree(data, schema.SCHEMA)
    except UsageError as e:
        raise ConfigError(f"{path}: {e.message}", hint=e.hint) from None
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    """config.toml parsed but not validated: what `set`/`unset` start from, so they can
    repair a value that makes every other command refuse the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:  # a directory in its place, no permission, an I/O error
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        if "end of document" in msg:  # tomllib gives no position for an unfinished last line
            line = text.count("\n") + 1
            column = len(text.rsplit("\n", 1)[-1]) + 1
            msg = msg.replace("end of document", f"line {line}, column {column}")
        raise ConfigError(f"{path}: invalid TOML: {msg}") from None
    return data


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """{dotted key: (env var, typed value)} from CLAW_<SECTION>__<KEY> variables."""
    environ = os.environ if environ is None else environ
    out: dict[str, tuple[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        key = ".".join(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
        try:
            node, _ = schema.lookup(key)
            if not isinstance(node, schema.Field):
                raise UsageError(f"{key} is a table; set one of its keys")
            out[key] = (name, schema.parse_value(node, raw, key))
        except UsageError as e:
            raise ConfigError(f"environment variable {name}: {e.message}", hint=e.hint) from None
    return out


def load(path: Path, environ: dict[str, str] | None = None) -> Config:
    file_data = read_file(path)
    data = merge(schema.defaults(), file_data)
    env_keys: dict[str, str] = {}
    for key, (var, value) in env_overrides(environ).items():
        set_in(data, key.split("."), value)
        env_keys[key] = var
    return Config(data=data, file_data=file_data, env_keys=env_keys, path=path)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def set_in(data: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def leaf_field(key: str) -> schema.Field:
    node, _ = schema.lookup(key)
    if not isinstance(node, schema.Field):
        leaves = ", ".join(k for k in schema.all_keys() if k.startswith(key + "."))
        raise UsageError(f"'{key}' is a table, not a setting; its keys: {leaves}")
    return node


def set_value(path: Path, key: str, raw: str) -> Any:
    """Validate and store one key; returns the typed value written."""
    field_ = leaf_field(key)
    value = schema.parse_value(field_, raw, key)
    with lock_for(path):
        data = _read_toml(path)
        set_in(data, key.split("."), value)
        _refuse_if_worse(path, data, key)
        write_file(path, data)
    return value


def _refuse_if_worse(path: Path, data: dict[str, Any], key: str) -> None:
    """Refuse a change that makes the file invalid; one whose only fault lies elsewhere
    (the same with `key` left out) is written, so bad values can be fixed one at a time."""
    try:
        schema.validate_tree(data, schema.SCHEMA)
    except UsageError as e:
        without = copy.deepcopy(data)
        _remove(without, key.split("."))
        try:
            schema.validate_tree(without, schema.SCHEMA)
        except UsageError as other:
            if other.message == e.message:
                log.warning("%s: %s (not changed by setting %s)", path, e.message, key)
                return
        raise


def unset_value(path: Path, key: str) -> bool:
    """Remove a key from the file (back to its default); False if it was not set."""
    schema.lookup(key)
    with lock_for(path):
        data = _read_toml(path)
        if not _remove(data, key.split(".")):
            return False
        write_file(path, data)
    return True


def _remove(data: dict[str, Any], parts: list[str]) -> bool:
    """Delete a dotted key from a tree, and the tables it leaves empty (top-level
    sections stay); False if it was not there."""
    chain = [data]
    for part in parts[:-1]:
        nxt = chain[-1].get(part)
        if not isinstance(nxt, dict):
            return False
        chain.append(nxt)
    if parts[-1] not in chain[-1]:
        return False
    del chain[-1][parts[-1]]
    for depth in range(len(chain) - 1, 1, -1):
        if not chain[depth]:
            del chain[depth - 1][parts[depth - 1]]
    return True


def write_file(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, HEADER + tomli_w.dumps(data), mode=0o600)


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.extend(flatten(v, f"{prefix}{k}."))
        elif not isinstance(v, dict):
            out.append((f"{prefix}{k}", v))
    return out
