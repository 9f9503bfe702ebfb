"""Names that come from outside and end up on disk.

Two tools, used everywhere a name becomes a path:
- `validate_agent_id` (and friends) accept a strict, readable set of characters, so the
  name can be used as a directory name as is;
- `encode_component` / `decode_component` turn any other text (session keys hold channel
  peer ids, which we do not control) into one safe file-name component, reversibly.
There is no way to get `..`, a separator, a NUL or a hidden file out of either.
"""

from __future__ import annotations

import functools
import re

from claw.errors import InvalidName

AGENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # always used with fullmatch
SIMPLE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MAX_KEY_LEN = 200
# ext4 and most file systems allow 255 bytes per name; leave room for suffixes such as
# ".20261121T044800Z-2.jsonl" (archives) and ".turn.lock".
MAX_COMPONENT_BYTES = 200

# Kept as they are in an encoded component; ':' (the session key separator) becomes '~',
# everything else becomes %XX of its UTF-8 bytes. '~' and '%' are always escaped when
# they are part of the name itself, so the mapping is one-to-one.
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@+=")


def validate_agent_id(agent_id: str) -> str:
    if not isinstance(agent_id, str) or not AGENT_ID_RE.fullmatch(agent_id):
        raise InvalidName(
            f"invalid agent id {agent_id!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return agent_id


def validate_simple_name(name: str, what: str = "name") -> str:
    """Names such as skill or job names: letters, digits, '.', '_', '-', no leading dot."""
    if not isinstance(name, str) or not SIMPLE_NAME_RE.fullmatch(name):
        raise InvalidName(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' "
            "(at most 128, not starting with '.')"
        )
    return name


def validate_session_key(key: str) -> str:
    """A session key is ':'-separated non-empty parts of printable, non-space text."""
    if not isinstance(key, str) or not key:
        raise InvalidName("invalid session key: it is empty")
    if len(key) > MAX_KEY_LEN:
        raise InvalidName(f"invalid session key: longer than {MAX_KEY_LEN} characters")
    # Every turn checks its key several times: plain ASCII keys skip the per-character scan.
    ascii_ok = key.isascii() and key.isprintable() and " " not in key
    bad = None if ascii_ok else next((c for c in key if not c.isprintable() or c.isspace()), None)
    if bad is not None:
        raise InvalidName(f"invalid session key {key!r}: it contains {bad!r}")
    if any(part == "" for part in key.split(":")):
        raise InvalidName(f"invalid session key {key!r}: empty part between ':' separators")
    return key


@functools.lru_cache(maxsize=4096)
def encode_component(text: str) -> str:
    """Encode any non-empty text as one safe, reversible file-name component (cached: a
    turn maps its session key to file names several times)."""
    if not text:
        raise InvalidName("cannot encode an empty name")
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == ":":
            out.append("~")
        elif ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            try:
                out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
            except UnicodeEncodeError:  # a lone surrogate from undecodable argv bytes
                raise InvalidName(f"invalid name {text!r}: not valid Unicode text") from None
    encoded = "".join(out)
    if len(encoded.encode()) > MAX_COMPONENT_BYTES:
        raise InvalidName(f"name too long once encoded for the file system: {text[:40]!r}…")
    return encoded


def decode_component(encoded: str) -> str:
    """Inverse of `encode_component`; raises InvalidName on anything it could not produce."""
    raw = bytearray()
    i = 0
    while i < len(encoded):
        ch = encoded[i]
        if ch == "~":
            raw += b":"
            i += 1
        elif ch == "%":
            try:
                raw.append(int(encoded[i + 1 : i + 3], 16))
            except ValueError:
                raise InvalidName(f"not an encoded name: {encoded!r}") from None
            i += 3
        elif ch in _SAFE:
            raw += ch.encode()
            i += 1
        else:
            raise InvalidName(f"not an encoded name: {encoded!r}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName(f"not an encoded name: {encoded!r}") from None
    # Only the canonical spelling is accepted, so two files never decode to one name.
    if not text or encode_component(text) != encoded:
        raise InvalidName(f"not an encoded name: {encoded!r}")
    return text
