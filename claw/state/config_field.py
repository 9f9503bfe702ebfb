"""The building blocks of the config schema: one `Field` per key, tables as dicts.

Separate from `config_schema` so a section defined in its own module (e.g. `[memory]`
in `config_memory`) can use them without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WILDCARD = "*"


@dataclass(frozen=True)
class Field:
    kind: str  # str int bool duration enum list_str list_table dict_str peer zone clock target
    default: Any = None  # None: unset unless given
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None  # ints; durations, in seconds
    maximum: int | None = None
    item: dict[str, Any] | None = None  # schema of each table in a list_table
    nonempty: bool = False  # a str that means nothing blank (a blank host: every interface)
    secret: bool = False  # a token, key or password: masked wherever settings are listed


Schema = dict[str, Any]  # values are Field or nested Schema
