"""Masking secrets (bot tokens, API keys, signing secrets) in settings shown to a person.

Listings (`claw config list`, `claw config get TABLE`, the echo of `claw config set`)
end up in terminals, scrollback, screenshots and bug reports, so a value declared
`secret=True` in the schema is replaced by MASK there. The mask is fixed: it does not
reveal the length or any character of the secret. Only `claw config get KEY` naming
the secret key itself prints it, because a script asked for exactly that value.
"""

from __future__ import annotations

from typing import Any

from claw.state.config_field import WILDCARD, Field
from claw.state.config_schema import SCHEMA

MASK = "********"


def mask_value(key: str, value: Any) -> Any:
    """`value` (the effective value of dotted `key`, a leaf or a table) with every secret
    in it masked. Keys below a field (e.g. one variable of an MCP server's `env`) count
    as part of that field."""
    node: Any = SCHEMA
    for part in key.split(".") if key else []:
        if isinstance(node, Field):
            break  # inside a field's value: the field decides
        node = node.get(part, node.get(WILDCARD))
        if node is None:
            return value
    return _mask(node, value)


def is_secret(key: str) -> bool:
    """True when dotted `key` names a secret itself (or a value inside one)."""
    return mask_value(key, "x") == MASK


def _mask(node: Any, value: Any) -> Any:
    if isinstance(node, Field):
        if node.secret:
            return _hide(value)
        if node.kind == "list_table" and isinstance(value, list):
            return [_mask(node.item or {}, v) if isinstance(v, dict) else v for v in value]
        return value
    if not isinstance(value, dict):
        return value
    out = {}
    for name, sub in value.items():
        child = node.get(name, node.get(WILDCARD))
        out[name] = sub if child is None else _mask(child, sub)
    return out


def _hide(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _hide(v) for k, v in value.items()}
    if value in (None, ""):
        return value  # nothing to hide; showing it empty tells the user it is unset
    return MASK
