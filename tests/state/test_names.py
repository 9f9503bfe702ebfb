"""Names from outside never become paths outside their directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claw.errors import InvalidName, NotFound
from claw.state import transcript
from claw.state.home import Home
from claw.state.names import (
    MAX_COMPONENT_BYTES,
    decode_component,
    encode_component,
    validate_agent_id,
    validate_session_key,
    validate_simple_name,
)
from claw.state.sessions import SessionStore


def _encode_or_none(text: str) -> str | None:
    try:
        return encode_component(text)
    except InvalidName:
        # Only refused for being too long once encoded.
        assert len(text.encode()) * 3 > MAX_COMPONENT_BYTES or len(text) > MAX_COMPONENT_BYTES
        return None


@given(st.text(min_size=1))
def test_encode_component_is_safe_and_reversible(text: str) -> None:
    enc = _encode_or_none(text)
    if enc is None:
        return
    assert "/" not in enc and "\x00" not in enc and "\\" not in enc
    assert enc not in (".", "..")
    assert not enc.startswith(".")
    assert enc.isascii() and enc.isprintable()
    assert len(enc.encode()) <= MAX_COMPONENT_BYTES
    assert decode_component(enc) == text


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_encode_component_is_one_to_one(a: str, b: str) -> None:
    if a != b:
        assert encode_component(a) != encode_component(b)


@given(st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=12))
def test_decode_accepts_only_what_encode_produces(candidate: str) -> None:
    """decode's contract: 'raises InvalidName on anything it could not produce'."""
    try:
        decoded = decode_component(candidate)
    except InvalidName:
        return
    assert encode_component(decoded) == candidate


@pytest.mark.parametrize(
    "not_canonical",
    [
        "%41",  # 'A', which encode writes as 'A'
        "%2e%2e",  # lowercase hex: '..' is encoded '%2E.'
        ".hidden",  # a leading dot is always escaped by encode
        "x%1",  # truncated escape, read as '\x01'
        "%+1",  # int() accepts a sign
    ],
)
def test_decode_rejects_non_canonical_names(not_canonical: str) -> None:
    """Two different file names must never decode to the same session key (reindex would
    merge them). Regression: decode_component accepts these."""
    with pytest.raises(InvalidName):
        decode_component(not_canonical)


@pytest.mark.parametrize("garbage", ["a/b", "%zz", "%", "%C3", "a b", "\x00", "é", "%FF"])
def test_decode_rejects_garbage(garbage: str) -> None:
    with pytest.raises(InvalidName):
        decode_component(garbage)


def test_encode_examples() -> None:
    assert encode_component("agent:main:main") == "agent~main~main"
    assert encode_component("..") == "%2E."
    assert encode_component(".") == "%2E"
    assert encode_component("a/b") == "a%2Fb"
    assert encode_component("~%") == "%7E%25"
    with pytest.raises(InvalidName):
        encode_component("")
    with pytest.raises(InvalidName):
        encode_component("x" * (MAX_COMPONENT_BYTES + 1))


# -- session keys on disk -------------------------------------------------------------

HOSTILE_KEYS = [
    "../../etc/passwd",
    "agent:main:../x",
    "agent:main:../../../../tmp/evil",
    "a/b",
    "..",
    ".",
    "/abs/path",
    "agent:main:main\x00",
    "agent:main:ma\x00in",
    "agent::x",
    ":leading",
    "trailing:",
    "",
    "x" * 201,
    "a" * 190 + "é" * 10,
    "agent:main:direct:" + "ü" * 150,
    "agent:main:with space",
    "agent:main:tab\t",
    "agent:main:new\nline",
    "agent:main:%2E%2E",
    "agent:main:~x",
    "agent:main:\u202eevil",
    "agent:main:\\..\\x",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_session_keys_are_refused_or_contained(home: Home, key: str) -> None:
    store = SessionStore(home)
    transcripts = store.transcripts.resolve()
    try:
        path = store.path(key)
    except InvalidName:
        with pytest.raises(InvalidName):
            store.append(key, [transcript.message("user", "hi")])
        with pytest.raises(InvalidName):
            store.exists(key)
        return
    assert path.resolve().parent == transcripts
    assert not path.name.startswith(".")
    store.append(key, [transcript.message("user", "hi")])
    assert path.is_file()
    assert [r.key for r in store.list()] == [key]
    assert store.read(key).messages[0]["content"] == "hi"
    # Nothing was created anywhere but the transcript and its lock.
    assert sorted(p.name for p in store.transcripts.iterdir()) == [path.name]
    store.delete(key)
    assert list(store.transcripts.iterdir()) == []


def test_nothing_escapes_the_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "h")
    home.ensure()
    store = SessionStore(home)
    for key in HOSTILE_KEYS:
        with contextlib.suppress(InvalidName):
            store.append(key, [transcript.message("user", "x")])
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(home.root)]
    assert outside == []
    for p in home.root.rglob("*"):
        assert p.resolve().is_relative_to(home.root.resolve())


SURROGATE_KEYS = ["agent:main:x\udcff", "\ud800", "agent:main:\udced\udca0"]
STORE_OPS = {
    "path": lambda s, k: s.path(k),
    "exists": lambda s, k: s.exists(k),
    "require": lambda s, k: s.require(k),
    "read": lambda s, k: s.read(k),
    "get": lambda s, k: s.get(k),
    "tail": lambda s, k: s.tail(k, 5),
    "history": lambda s, k: s.history(k, 100),
    "append": lambda s, k: s.append(k, [transcript.message("user", "x")]),
    "clear": lambda s, k: s.clear(k),
    "delete": lambda s, k: s.delete(k),
}


@pytest.mark.parametrize("key", SURROGATE_KEYS)
@pytest.mark.parametrize("op", list(STORE_OPS))
def test_undecodable_keys_are_invalid_names_everywhere(home: Home, key: str, op: str) -> None:
    """A key with lone surrogates (e.g. argv bytes that are not UTF-8, decoded with
    surrogateescape) must be a clean InvalidName, not a UnicodeEncodeError traceback.
    Regression: clear() and delete() took the lock (encode_component, no validation) first."""
    store = SessionStore(home)
    with pytest.raises(InvalidName):
        STORE_OPS[op](store, key)


def test_invalid_key_in_lifecycle_ops_is_refused_without_side_effects(home: Home) -> None:
    store = SessionStore(home)
    for op in (store.clear, store.delete):
        with pytest.raises((InvalidName, NotFound)):
            op("agent::x")
        with pytest.raises(InvalidName):
            op("")


# -- agent ids and simple names -------------------------------------------------------

# Regression: the regexes end in '$', which also matches before a final newline.
BAD_AGENT_IDS = [
    "../x",
    "..",
    ".",
    "A",
    "Main",
    "x/y",
    ".hidden",
    "",
    "-x",
    "_x",
    "a b",
    "a\x00",
    "é",
    "a" * 65,
    "main\n",
    "x\n",
]


@pytest.mark.parametrize("agent_id", BAD_AGENT_IDS)
def test_bad_agent_ids_are_refused(tmp_path: Path, agent_id: str) -> None:
    with pytest.raises(InvalidName):
        validate_agent_id(agent_id)
    with pytest.raises(InvalidName):
        Home(tmp_path).agent_dir(agent_id)


@pytest.mark.parametrize("agent_id", ["main", "work", "a", "0", "my-agent_2", "a" * 64])
def test_good_agent_ids(tmp_path: Path, agent_id: str) -> None:
    assert validate_agent_id(agent_id) == agent_id
    assert Home(tmp_path).agent_dir(agent_id) == tmp_path / "agents" / agent_id


def test_agent_id_must_be_a_string() -> None:
    with pytest.raises(InvalidName):
        validate_agent_id(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidName):
        validate_session_key(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["..", ".x", "a/b", "", "a b", "x" * 129, "a\x00", "job\n"],
)
def test_bad_simple_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_simple_name(name, "job name")


@pytest.mark.parametrize("name", ["daily", "a.b", "A-1_x", "x" * 128])
def test_good_simple_names(name: str) -> None:
    assert validate_simple_name(name) == name


@given(st.text(max_size=70))
def test_any_accepted_agent_id_is_a_plain_directory_name(text: str) -> None:
    try:
        validate_agent_id(text)
    except InvalidName:
        return
    assert text not in ("", ".", "..")
    assert os.sep not in text and "\x00" not in text and not text.startswith(".")
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-_" for c in text)
