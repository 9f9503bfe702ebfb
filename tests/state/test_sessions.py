"""SessionStore lifecycle: append, tail, clear, delete, archive, reindex, permissions."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from claw.errors import InvalidName, NotFound
from claw.state import jsonl, transcript
from claw.state.home import Home
from claw.state.session_index import SessionRow
from claw.state.sessions import SessionStore
from claw.state.transcript import message

KEY = "agent:main:main"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _fill(store: SessionStore, key: str, n: int, size: int = 20) -> list[dict]:
    recs = [message("user" if i % 2 == 0 else "assistant", f"{i}:" + "z" * size) for i in range(n)]
    store.append(key, recs)
    return recs


def _contents(msgs: list[dict]) -> list[str]:
    return [m["content"] for m in msgs]


def test_append_creates_header_and_index_row(home: Home) -> None:
    store = SessionStore(home)
    store.append(KEY, [message("user", "hi"), message("assistant", "hello", model="echo")])
    store.append(KEY, [message("user", "again")])
    t = store.read(KEY)
    assert [r["type"] for r in t.records] == ["session", "message", "message", "message"]
    head = t.records[0]
    assert head["key"] == KEY and head["agent"] == "main" and head["version"] == 1
    assert _contents(t.messages) == ["hi", "hello", "again"]
    assert t.complete and t.bad_lines == []
    (row,) = store.list()
    assert (row.key, row.agent, row.message_count) == (KEY, "main", 3)
    assert (row.last_role, row.preview, row.model) == ("user", "again", "echo")
    assert store.get(KEY) == row


def test_agent_and_list_filter(home: Home) -> None:
    store = SessionStore(home)
    store.append("agent:work:main", [message("user", "w")])
    store.append(KEY, [message("user", "m")])
    store.append("cron:daily", [message("user", "c")])
    assert {r.key for r in store.list(agent="work")} == {"agent:work:main"}
    assert {r.key for r in store.list(agent="main")} == {KEY, "cron:daily"}
    assert len(store.list(limit=2)) == 2
    assert store.list(limit=None)[0].key == "cron:daily"  # newest first
    assert store.read("agent:work:main").records[0]["agent"] == "work"


def test_records_without_messages_do_not_count(home: Home) -> None:
    store = SessionStore(home)
    store.append(KEY, [message("user", "a")])
    store.append(KEY, [transcript.compaction("sum", None)])
    (row,) = store.list()
    assert row.message_count == 1 and row.preview == "a"


def test_preview_is_one_short_line(home: Home) -> None:
    store = SessionStore(home)
    store.append(KEY, [message("user", "line one\n\n   line two " + "w" * 200)])
    preview = store.list()[0].preview
    assert preview.startswith("line one line two ww")
    assert len(preview) == 80 and preview.endswith("…")


def test_new_files_and_renames_are_made_durable(home: Home, monkeypatch) -> None:
    from claw.state import sessions as sessions_mod

    store = SessionStore(home)
    synced: list[Path] = []
    monkeypatch.setattr(sessions_mod, "fsync_dir", lambda d: synced.append(Path(d)))
    store.append(KEY, [message("user", "a")])
    assert synced == [store.transcripts]  # the new transcript's directory entry
    store.append(KEY, [message("user", "b")])
    assert synced == [store.transcripts]  # appends to an existing file: fsync of the file only
    synced.clear()
    store.clear(KEY)
    assert set(synced) == {store.transcripts, store.archive_dir}
    synced.clear()
    store.delete(KEY)
    assert synced == [store.transcripts]


# -- tail -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 7, 99, 100, 101, 5000])
def test_tail_returns_exactly_the_last_n(home: Home, n: int) -> None:
    store = SessionStore(home)
    recs = _fill(store, KEY, 100)
    t = store.tail(KEY, n)
    assert _contents(t.messages) == (_contents(recs[len(recs) - min(n, 100) :]) if n else [])
    assert len(t.messages) == min(n, 100)


@pytest.mark.parametrize("n", [0, 1, 3, 250, 2999, 3000, 3001])
def test_tail_of_a_long_transcript(home: Home, n: int) -> None:
    store = SessionStore(home)
    recs = _fill(store, KEY, 3000, size=200)  # ~700 KB: tail reads must grow
    t = store.tail(KEY, n)
    assert len(t.messages) == min(n, 3000)
    assert _contents(t.messages) == (_contents(recs[-n:]) if n else [])
    if n >= 3000:
        assert t.complete
    if n <= 250:
        assert not t.complete  # only the end of the file was read


def test_tail_skips_a_torn_last_line(home: Home) -> None:
    store = SessionStore(home)
    recs = _fill(store, KEY, 10)
    with open(store.path(KEY), "ab") as f:
        f.write(b'{"type":"message","role":"user","content":"tor')
    t = store.tail(KEY, 3)
    assert _contents(t.messages) == _contents(recs[-3:])
    assert t.bad_lines == [12]
    store.append(KEY, [message("user", "after crash")])
    assert _contents(store.tail(KEY, 2).messages) == [recs[-1]["content"], "after crash"]


def test_tail_of_missing_session(home: Home) -> None:
    with pytest.raises(NotFound):
        SessionStore(home).tail("agent:main:ghost", 5)


# -- clear / delete / archive ---------------------------------------------------------


def test_clear_archives_and_starts_afresh(home: Home) -> None:
    store = SessionStore(home)
    recs = _fill(store, KEY, 10)
    old_bytes = store.path(KEY).read_bytes()
    dest = store.clear(KEY)

    assert dest.parent == store.archive_dir
    assert dest.read_bytes() == old_bytes
    assert _mode(dest) == 0o600
    assert dest.name.startswith("agent~main~main.") and dest.name.endswith(".jsonl")

    t = store.read(KEY)
    assert t.messages == [] and [r["type"] for r in t.records] == ["session"]
    (row,) = store.list()
    assert row.message_count == 0 and row.preview is None
    assert store.history(KEY, 10**6) == []

    store.append(KEY, [message("user", "fresh")])
    assert store.list()[0].message_count == 1
    assert _contents(store.read(KEY).messages) == ["fresh"]
    assert len(recs) == 10


def test_clear_twice_in_one_second_keeps_both_archives(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 2)
    a = store.clear(KEY)
    store.append(KEY, [message("user", "second")])
    b = store.clear(KEY)
    c = store.clear(KEY)
    assert len({a, b, c}) == 3
    assert sorted(store.archive_dir.iterdir()) == sorted([a, b, c])
    assert "second" in b.read_text()


def test_clear_and_delete_missing_session(home: Home) -> None:
    store = SessionStore(home)
    with pytest.raises(NotFound):
        store.clear("agent:main:ghost")
    with pytest.raises(NotFound):
        store.delete("agent:main:ghost")
    assert list(store.archive_dir.iterdir()) == []


def test_delete(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 3)
    _fill(store, "agent:main:other", 3)
    store.delete(KEY)
    assert not store.exists(KEY)
    with pytest.raises(NotFound):
        store.require(KEY)
    with pytest.raises(NotFound):
        store.read(KEY)
    with pytest.raises(NotFound):
        store.get(KEY)
    assert [r.key for r in store.list()] == ["agent:main:other"]
    assert not (store.lock_dir / "agent~main~main.lock").exists()
    # A new session under the same key starts from nothing.
    store.append(KEY, [message("user", "reborn")])
    assert store.get(KEY).message_count == 1


def test_archive_older_than(home: Home, monkeypatch) -> None:
    store = SessionStore(home)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 40 * 86400)
    _fill(store, "agent:main:old", 4)
    monkeypatch.setattr(time, "time", lambda: real_time() - 10 * 86400)
    _fill(store, "agent:main:recent", 4)
    monkeypatch.setattr(time, "time", real_time)
    _fill(store, KEY, 4)

    assert store.archive_older_than(30 * 86400) == ["agent:main:old"]
    assert not store.exists("agent:main:old")
    assert sorted(r.key for r in store.list()) == [KEY, "agent:main:recent"]
    (archived,) = store.archive_dir.iterdir()
    assert archived.name.startswith("agent~main~old.")
    assert len(jsonl.read_all(archived).records) == 5

    assert store.archive_older_than(30 * 86400) == []
    assert store.archive_older_than(5 * 86400) == ["agent:main:recent"]
    assert [r.key for r in store.list()] == [KEY]


def test_archive_older_than_uses_transcript_times_after_reindex(home: Home) -> None:
    store = SessionStore(home)
    old_ts = transcript.now_iso(time.time() - 90 * 86400)
    store.append("agent:main:old", [message("user", "ancient", ts=old_ts)])
    store.append("agent:main:new", [message("user", "today")])
    assert store.reindex() == 2
    assert store.get("agent:main:old").updated_at < time.time() - 80 * 86400
    assert store.archive_older_than(86400) == ["agent:main:old"]
    assert [r.key for r in store.list()] == ["agent:main:new"]


def test_archive_spares_a_session_touched_meanwhile(home: Home, monkeypatch) -> None:
    store = SessionStore(home)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 40 * 86400)
    _fill(store, KEY, 2)
    monkeypatch.setattr(time, "time", real_time)
    stale = store.index.older_than(real_time() - 86400)
    store.append(KEY, [message("user", "I'm back")])  # touched after the query
    monkeypatch.setattr(store.index, "older_than", lambda cutoff: stale)
    assert store.archive_older_than(86400) == []
    assert store.exists(KEY)


LONG_KEY = "agent:main:" + "!" * 20 + "x" * 129  # 160 characters, 200 bytes encoded (the limit)


def test_clear_a_session_with_a_long_key(home: Home) -> None:
    """A key whose encoded name is at MAX_COMPONENT_BYTES still fits as the archive name
    `<name>.<YYYYmmddTHHMMSSZ>.jsonl` (regression: ENAMETOOLONG)."""
    store = SessionStore(home)
    assert len(store.path(LONG_KEY).stem.encode()) == 200
    assert len(store.path(LONG_KEY).name.encode()) <= 255
    _fill(store, LONG_KEY, 2)
    dest = store.clear(LONG_KEY)
    assert dest.exists()
    assert store.read(LONG_KEY).messages == []


def test_archive_older_than_with_a_long_key(home: Home, monkeypatch) -> None:
    store = SessionStore(home)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 40 * 86400)
    _fill(store, LONG_KEY, 2)
    _fill(store, "agent:main:old", 2)
    monkeypatch.setattr(time, "time", real_time)
    assert sorted(store.archive_older_than(86400)) == sorted([LONG_KEY, "agent:main:old"])


def test_long_keys_are_refused_or_stored(home: Home) -> None:
    store = SessionStore(home)
    with pytest.raises(InvalidName):
        store.append("agent:main:" + "x" * 200, [message("user", "x")])
    with pytest.raises(InvalidName):
        store.append("agent:main:" + "é" * 100, [message("user", "x")])  # 600 bytes encoded
    key = "agent:main:" + "x" * 189
    store.append(key, [message("user", "x")])
    assert store.clear(key).exists()


# -- reindex --------------------------------------------------------------------------


def _summary(store: SessionStore) -> list[tuple]:
    return sorted(
        (r.key, r.agent, r.message_count, r.last_role, r.preview, r.model)
        for r in store.list(limit=None)
    )


def test_reindex_rebuilds_a_deleted_index(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 5)
    _fill(store, "agent:work:telegram:direct:42", 8)
    store.append(
        "cron:daily", [message("user", "tick"), message("assistant", "tock", model="echo")]
    )
    store.clear("cron:daily")
    store.append("cron:daily", [message("user", "tick 2")])
    before = _summary(store)
    store.close()

    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.root / 'index.sqlite'}{suffix}").unlink(missing_ok=True)

    fresh = SessionStore(home)
    assert _summary(fresh) == before  # the next listing rebuilds it
    counts = {r.key: r.message_count for r in fresh.list()}
    assert counts == {KEY: 5, "agent:work:telegram:direct:42": 8, "cron:daily": 1}
    assert _mode(fresh.root / "index.sqlite") == 0o600


def test_reindex_repairs_a_wrong_index_and_ignores_strangers(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 5)
    store.index.delete(KEY)
    store.index.put(SessionRow("agent:main:phantom", "main", 0.0, 0.0, message_count=3))
    (store.transcripts / "not-a-transcript.txt").write_text("x")
    (store.transcripts / "%zz.jsonl").write_text("{}\n")
    assert store.reindex() == 1
    assert {r.key: r.message_count for r in store.list()} == {KEY: 5}


def test_reindex_survives_damaged_transcripts(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 5)
    with open(store.path(KEY), "ab") as f:
        f.write(b"\x00\x00 half a reco")
    store.reindex()
    assert store.get(KEY).message_count == 5
    store.append(KEY, [message("user", "more")])
    assert store.get(KEY).message_count == 6
    assert store.read(KEY).bad_lines == [7]


# -- permissions ----------------------------------------------------------------------


def test_directories_0700_and_files_0600(home: Home) -> None:
    store = SessionStore(home)
    _fill(store, KEY, 3)
    _fill(store, "agent:main:b", 3)
    store.clear("agent:main:b")
    for d in (store.root, store.transcripts, store.archive_dir, store.lock_dir, home.locks_dir):
        assert _mode(d) == 0o700, d
    files = [p for d in (store.transcripts, store.archive_dir, store.lock_dir) for p in d.iterdir()]
    assert len(files) >= 5
    for p in [*files, store.root / "index.sqlite"]:
        assert _mode(p) == 0o600, p


def test_store_on_a_fresh_uninitialised_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "bare")
    old = os.umask(0o022)
    try:
        store = SessionStore(home)
        store.append(KEY, [message("user", "hi")])
    finally:
        os.umask(old)
    assert _mode(store.transcripts) == 0o700
    assert _mode(store.path(KEY)) == 0o600


def test_index_sidecar_files_are_private(home: Home) -> None:
    """Regression (defence in depth; sessions/ itself is 0700): index.sqlite-wal holds session
    previews, but SQLite creates -wal/-shm with the mode index.sqlite had when WAL was
    enabled (0644 under umask 022); SessionIndex chmods only the main file afterwards."""
    old = os.umask(0o022)
    try:
        store = SessionStore(home)
        store.append(KEY, [message("user", "a private message")])
    finally:
        os.umask(old)
    sidecars = sorted(store.root.glob("index.sqlite*"))
    assert len(sidecars) == 3
    assert {p.name: oct(_mode(p)) for p in sidecars} == {p.name: "0o600" for p in sidecars}
