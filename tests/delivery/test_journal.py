"""The enqueue journal in front of the queue's entry files: appends from many writers,
torn lines, absorbing (also again after a crash), and the rule that a delivered entry can
never come back from the journal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio

from claw.delivery import entry as entries
from claw.delivery.deliver import deliver
from claw.delivery.journal import EnqueueJournal
from claw.delivery.queue import QueueStore
from claw.state.home import Home
from tests.delivery.fakes import FakeChannel

ROOT = Path(__file__).resolve().parents[2]


def test_journal_is_created_private_and_lines_are_whole(tmp_path: Path) -> None:
    journal = EnqueueJournal(tmp_path / "journal.jsonl")
    assert journal.is_empty() and journal.lines() == []
    journal.append(b'{"a":1}')
    journal.append(b'{"a":2}')
    assert journal.path.stat().st_mode & 0o777 == 0o600
    assert journal.lines() == [b'{"a":1}', b'{"a":2}']
    with open(journal.path, "ab") as f:
        f.write(b'{"a":3')  # an append in progress (or torn): not a line yet
    assert journal.lines() == [b'{"a":1}', b'{"a":2}']
    journal.append(b'{"a":4}')  # ends the torn fragment first: it stays one bad line
    assert journal.lines() == [b'{"a":1}', b'{"a":2}', b'{"a":3', b'{"a":4}']


def test_a_torn_line_is_skipped_and_the_rest_absorbed(home: Home) -> None:
    store = QueueStore(home)
    a = store.enqueue(entries.make("fake", "p", ["a"]))
    with open(store.journal.path, "ab") as f:
        f.write(b'{"id":"17')  # a power cut mid-append
    b = store.enqueue(entries.make("fake", "p", ["b"]))
    assert store.ids() == [a.id, b.id]
    assert [e.id for e in store.absorb()] == [a.id, b.id]
    assert store.journal.is_empty() and store.ids() == [a.id, b.id]


def test_absorbing_again_after_a_crash_adds_nothing_twice(home: Home) -> None:
    """A crash after the files were written but before the journal was emptied: the
    next absorb finds the files and leaves them (they may have moved on since)."""
    store = QueueStore(home)
    e = store.enqueue(entries.make("fake", "p", ["x"]))
    saved = store.journal.path.read_bytes()
    store.absorb()
    e.state, e.attempts = "sending", 1
    store.save(e)
    store.journal.path.write_bytes(saved)  # as if the truncation never happened
    assert store.absorb() == []
    assert store.get(e.id).state == "sending" and store.ids() == [e.id]


def test_a_delivered_entry_never_comes_back_from_the_journal(home: Home) -> None:
    """The daemon delivers its own replies straight from memory: the entry is written as
    `sending` before the journal is absorbed. Removing it absorbs first, so the journal
    cannot bring it back afterwards."""
    store = QueueStore(home)
    chan = FakeChannel()
    e = store.enqueue(entries.make("fake", "p", ["once"]))
    other = store.enqueue(entries.make("fake", "q", ["later"]))
    out = trio.run(deliver, store, e, chan)
    assert out.state == "delivered" and [m.text for m in chan.sent] == ["once"]
    assert store.journal.is_empty()
    assert store.ids() == [other.id] and store.absorb() == []
    assert [x.id for x in store.recover()] == [other.id]


def test_purging_a_journaled_entry_removes_it_for_good(home: Home) -> None:
    store = QueueStore(home)
    e = store.enqueue(entries.make("fake", "p", ["x"]))
    assert store.remove(e.id, failed=False)
    assert store.ids() == [] and store.recover() == []


def test_concurrent_appends_from_threads_and_processes_are_all_kept(home: Home) -> None:
    store = QueueStore(home)
    ids: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        mine = QueueStore(home)  # its own journal handle, as each caller has
        for i in range(n):
            e = mine.enqueue(entries.make("fake", "p", [f"t{i}"]))
            with lock:
                ids.append(e.id)

    code = (
        "import sys\n"
        "from claw.delivery import entry as entries\n"
        "from claw.delivery.queue import QueueStore\n"
        "from claw.state.home import Home\n"
        "s = QueueStore(Home.resolve())\n"
        "for i in range(50):\n"
        "    print(s.enqueue(entries.make('fake', 'q', [f'p{i}'])).id)\n"
    )
    env = {**os.environ, "CLAW_HOME": str(home.root), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    threads = [threading.Thread(target=writer, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    absorbed = [e.id for e in store.absorb()]  # while they write: nothing may slip through
    for t in threads:
        t.join(timeout=60)
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        ids += out.decode().split()
    absorbed += [e.id for e in store.recover()]
    assert len(ids) == 300 and set(absorbed) == set(ids)
    assert store.journal.is_empty() and store.ids() == sorted(ids)
    assert len(os.listdir(store.dir)) == 300 + 2  # the entry files, failed/, the journal


def test_absorbing_never_replaces_an_entry_written_meanwhile(home: Home) -> None:
    """The deliverer may write a journaled entry as `sending` while another absorb is
    between its existence check and its link: the link refuses to replace it."""
    from claw.delivery.queue import _write_new

    store = QueueStore(home)
    e = entries.make("fake", "p", ["x"])
    e.state, e.parts_sent = "sending", 1
    store.save(e)
    fresh = entries.make("fake", "p", ["x"], entry_id=e.id)
    assert _write_new(str(store.path(e.id)), fresh.to_json()) is False
    assert store.get(e.id).parts_sent == 1 and store.get(e.id).state == "sending"
    assert sorted(os.listdir(store.dir)) == sorted(["failed", f"{e.id}.json"])


def test_an_absorb_between_two_looks_never_hides_a_pending_entry(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers look at the journal, then at the files; a reader that found no file
    first and then an already absorbed journal looks at the file again."""
    store = QueueStore(home)
    e = store.enqueue(entries.make("fake", "p", ["x"]))
    real = store._journaled

    def absorbed_meanwhile(entry_id: str) -> object:
        QueueStore(home).absorb()  # another process's deliverer, right now
        return real(entry_id)

    monkeypatch.setattr(store, "_journaled", absorbed_meanwhile)
    loaded = store.load(e.id)
    assert loaded is not None and loaded.id == e.id
    assert store.exists(e.id) and store.ids() == [e.id]


def test_a_torn_line_naming_an_id_is_not_that_entry(home: Home) -> None:
    """A power cut mid-append leaves a line that mentions the id but is not an entry: the
    enqueue never returned, so the entry does not exist (a re-run queues it again)."""
    store = QueueStore(home)
    e = entries.make("fake", "p", ["x"])
    store.enqueue(entries.make("fake", "p", ["other"]))
    with open(store.journal.path, "ab") as f:
        f.write(e.to_json()[:60])
    store.enqueue(entries.make("fake", "p", ["after"]))
    assert not store.exists(e.id) and store.load(e.id) is None


@pytest.mark.parametrize("syncfs", [True, False])
def test_a_big_batch_is_absorbed_whole_with_or_without_syncfs(
    home: Home, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    import claw.delivery.queue as queue_module

    if not syncfs:
        monkeypatch.setattr(queue_module, "has_syncfs", lambda: False)
    store = QueueStore(home)
    queued = [store.enqueue(entries.make("fake", "p", [f"m{i}"])).id for i in range(40)]
    assert [e.id for e in store.absorb()] == queued
    assert store.journal.is_empty() and store._file_ids() == queued
    assert [e.parts for e in store.recover()] == [[f"m{i}"] for i in range(40)]


def test_threads_share_one_fdatasync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: appends that finished writing while another thread's fdatasync was
    running are covered by the next single fdatasync."""
    import time

    import claw.delivery.journal as journal_module

    syncs: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(journal_module.os, "fdatasync", lambda fd: (syncs.append(fd), real(fd)))
    journal = EnqueueJournal(tmp_path / "journal.jsonl")
    group = journal_module._group(journal.path)
    group._sync_mu.acquire()  # as if a slow fdatasync were running
    threads = [
        threading.Thread(target=journal.append, args=(f'{{"n":{i}}}'.encode(),)) for i in range(3)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while group._written < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    group._sync_mu.release()
    for t in threads:
        t.join(timeout=10)
    assert len(syncs) == 1 and sorted(journal.lines()) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
