"""Incremental indexing: only what changed is read and embedded; deleted sessions and
files disappear; two processes updating the index at once leave it consistent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from claw.memory import sources as S
from claw.memory.embed import EmbedderStatus
from claw.memory.index import MemoryIndex
from claw.memory.search import search
from claw.memory.sync import Indexer
from claw.state import transcript
from claw.state.config import load
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests.memory import labelled


class CountingEmbedder:
    """Records every text it embeds (so a test sees exactly what was re-embedded)."""

    name = "test/counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]):
        import numpy as np

        self.seen.extend(texts)
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 8] = 1.0
        return out


def _indexer(home: Home, emb: CountingEmbedder) -> Indexer:
    return Indexer(home, load(home.config_file), embedder=EmbedderStatus(emb, "hybrid", "test"))


def _rows(home: Home) -> dict[tuple[str, str], int]:
    with MemoryIndex(home) as idx:
        return {(r, h): i for i, r, h in idx.db.execute("SELECT id, rel, hash FROM chunks")}


def test_only_changed_notes_and_new_transcript_lines_are_reindexed(home: Home) -> None:
    labelled.write(home)
    emb = CountingEmbedder()
    first = _indexer(home, emb).sync()
    assert first.chunks_added == len(emb.seen) > 50
    before = _rows(home)

    emb.seen.clear()
    again = _indexer(home, emb).sync()  # nothing changed: nothing read, nothing embedded
    assert again.updated == [] and again.removed == [] and emb.seen == []

    note = home.agent_dir("main") / "memory" / "2026-10-31.md"
    with note.open("a", encoding="utf-8") as f:
        f.write("- 18:00 Bring the X-ray from last year to the dentist.\n")
    store = SessionStore(home, fsync=False)
    store.append(labelled.session_key("c01"), [transcript.message("user", "And for dessert?")])
    os.utime(home.agent_dir("main") / "MEMORY.md")  # touched, same content

    report = _indexer(home, emb).sync()
    assert sorted(report.updated) == sorted(
        ["agents/main/memory/2026-10-31.md", labelled.session_source("c01")]
    )
    assert emb.seen == [
        "- 18:00 Bring the X-ray from last year to the dentist.",
        "And for dessert?",
    ]
    assert report.chunks_removed == 0 and report.chunks_added == 2
    after = _rows(home)
    assert {k: v for k, v in after.items() if k in before} == before  # old rows kept as they were

    # Editing a line re-embeds that chunk only; the others keep their rows.
    text = note.read_text(encoding="utf-8").replace("X-ray", "X-ray and the forms")
    note.write_text(text, encoding="utf-8")
    emb.seen.clear()
    report = _indexer(home, emb).sync()
    assert report.updated == ["agents/main/memory/2026-10-31.md"]
    assert emb.seen == ["- 18:00 Bring the X-ray and the forms from last year to the dentist."]
    assert report.chunks_added == 1 and report.chunks_removed == 1


def _one_session(home: Home, text: str) -> tuple[SessionStore, str, CountingEmbedder]:
    """A session with one message, indexed."""
    store = SessionStore(home, fsync=False)
    key = "agent:main:main"
    store.append(key, [transcript.message("user", text)])
    emb = CountingEmbedder()
    _indexer(home, emb).sync()
    return store, key, emb


def test_a_torn_transcript_line_waits_for_its_end(home: Home) -> None:
    store, key, emb = _one_session(home, "first words about llamas")
    path = store.path(key)
    line = transcript.message("user", "second words about alpacas")
    data = (__import__("json").dumps(line) + "\n").encode()
    with path.open("ab") as f:
        f.write(data[:20])  # a writer mid-append
    assert _indexer(home, emb).sync().chunks_added == 0
    with path.open("ab") as f:
        f.write(data[20:])
    assert _indexer(home, emb).sync().chunks_added == 1
    assert emb.seen[-1] == "second words about alpacas"


def test_cleared_and_deleted_sessions_leave_the_results(home: Home, cli) -> None:
    labelled.write(home)
    config = load(home.config_file)
    Indexer(home, config).sync()
    key = labelled.session_key("c05")
    assert search(home, config, "landlord kitchen window").results[0].source == (
        labelled.session_source("c05")
    )
    r = cli("sessions", "delete", key, "--yes")
    assert r.exit_code == 0, r.output
    found = search(home, config, "landlord kitchen window")  # no sync: the delete did it
    assert labelled.session_source("c05") not in {x.source for x in found.results}

    # A deleted note (and a session removed behind claw's back) go at the next sync.
    (home.agent_dir("main") / "memory" / "2026-10-20.md").unlink()
    os.unlink(SessionStore(home).path(labelled.session_key("c06")))
    report = Indexer(home, config).sync()
    assert sorted(report.removed) == sorted(
        ["agents/main/memory/2026-10-20.md", labelled.session_source("c06")]
    )
    gone = {x.source for x in search(home, config, "wifi password Barcelona itinerary").results}
    assert not gone & {"agents/main/memory/2026-10-20.md", labelled.session_source("c06")}


WRITER = textwrap.dedent(
    """
    import sys
    from claw.memory.sync import Indexer
    from claw.state import transcript
    from claw.state.config import load
    from claw.state.home import Home
    from claw.state.sessions import SessionStore
    home = Home.resolve(sys.argv[1]); who = sys.argv[2]
    config = load(home.config_file)
    store = SessionStore(home, fsync=False)
    note = home.agent_dir("main") / "memory" / "2026-01-0{}.md".format(1 if who == "a" else 2)
    for i in range(25):
        with note.open("a", encoding="utf-8") as f:
            f.write(f"- entry {who}{i} about topic{i}\\n")
        store.append(f"agent:main:direct:{who}", [transcript.message("user", f"msg {who}{i}")])
        if i % 3 == 0:  # rewrite a shared note: chunks removed and added under contention
            shared = home.agent_dir("main") / "MEMORY.md"
            shared.write_text(f"- fact from {who} round {i}\\n- stable fact\\n", encoding="utf-8")
        Indexer(home, config).sync()
    """
)


def test_two_processes_updating_at_once_leave_a_consistent_index(home: Home) -> None:
    (home.agent_dir("main") / "memory").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(home.root), who], env=env)
        for who in ("a", "b")
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    config = load(home.config_file)
    final = Indexer(home, config).sync()
    # The last writer synced after its last write; whatever the other wrote later is the
    # only thing left, and the index holds exactly the files' chunks, once each.
    with MemoryIndex(home) as idx:
        idx.check()  # FTS5 agrees with the chunks table
        got = sorted(idx.db.execute("SELECT rel, hash, line FROM chunks"))
        assert idx.stats()["vectors"] == idx.stats()["chunks"]
    want = []
    settings_chars = int(config.get("memory.chunk_chars"))
    for src in [*S.note_sources(home), *S.session_sources(home)]:
        path = src.path(home)
        if src.kind == "session":
            lines = path.read_bytes().split(b"\n")[:-1]
            chunks = S.chunk_transcript_lines(lines, 1, settings_chars)
        else:
            chunks = S.chunk_note(path.read_text(encoding="utf-8"), settings_chars, None)
        want += [(src.rel, c.hash, c.line) for c in chunks]
    assert got == sorted(want)
    assert len(got) == 25 * 2 * 2 + 2  # two notes and two sessions of 25, MEMORY.md's 2
    assert final.chunks_removed == 0


def test_a_cleared_session_is_read_again_from_its_new_start(home: Home) -> None:
    store, key, emb = _one_session(home, "the old secret is walrus")
    store.clear(key)
    store.append(key, [transcript.message("user", "the new topic is gardening")])
    report = _indexer(home, emb).sync()
    assert report.chunks_removed == 1 and report.chunks_added == 1
    with MemoryIndex(home) as idx:
        texts = [t for (t,) in idx.db.execute("SELECT text FROM chunks")]
    assert texts == ["the new topic is gardening"]


class CallCountingEmbedder(CountingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts: list[str]):
        self.calls += 1
        return super().embed(texts)


def test_grown_transcripts_are_embedded_and_written_together(home: Home) -> None:
    # The daemon's watcher sees many sessions grow by a line or two each round: one
    # embedding call and one transaction for all of them, each still found on its own.
    store, emb = SessionStore(home), CallCountingEmbedder()
    paths = []
    for n in range(40):
        key = f"agent:main:s{n}"
        store.append(key, [transcript.message("user", f"first words of session {n}")])
        paths.append(store.path(key))
    _indexer(home, emb).sync_paths(paths)
    assert emb.calls == 1 and len(emb.seen) == 40
    store.clear("agent:main:s0")  # restarted: its old chunk goes, in the same batch
    store.append("agent:main:s0", [transcript.message("user", "a fresh start about kites")])
    for n in range(1, 40):
        store.append(f"agent:main:s{n}", [transcript.message("assistant", f"reply number {n}")])
    report = _indexer(home, emb).sync_paths(paths)
    assert emb.calls == 2 and report.chunks_added == 40 and report.chunks_removed == 1
    assert len(report.updated) == 40
    with MemoryIndex(home) as idx:
        rows = dict(idx.db.execute("SELECT text, vec IS NOT NULL FROM chunks"))
    assert rows["reply number 7"] and rows["a fresh start about kites"]
    assert "first words of session 0" not in rows and "first words of session 5" in rows
    assert search(home, load(home.config_file), "kites", embedder=None).results
