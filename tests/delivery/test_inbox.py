"""The inbound journal: record before acknowledging, done after processing, replay of
what was unfinished, and one processing per channel message id, across processes and
SIGKILLs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from claw.delivery.inbox import InboundMessage, Inbox, process_pending
from claw.errors import InvalidName, NotFound
from claw.state.home import Home

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def msg(mid: str, *, channel: str = "telegram", account: str = "default", text: str = "hi"):
    return InboundMessage(
        channel=channel, account=account, channel_message_id=mid, peer="42", text=text
    )


def journal(home: Home) -> list[dict]:
    path = home.root / "inbox" / "journal.jsonl"
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_record_done_pending(home: Home) -> None:
    inbox = Inbox(home)
    assert inbox.pending() == []
    a_id, new_a = inbox.record(msg("1", text="first"))
    b_id, new_b = inbox.record(msg("2", text="second"))
    assert new_a and new_b and a_id != b_id
    assert [m.text for m in inbox.pending()] == ["first", "second"]
    assert inbox.pending()[0].id == a_id

    inbox.done(a_id)
    inbox.done(a_id)  # twice is harmless
    assert [m.id for m in inbox.pending()] == [b_id]
    assert inbox.is_done(a_id) and not inbox.is_done(b_id)
    with pytest.raises(NotFound):
        inbox.done("1763712000000000000-deadbeef")

    # A fresh object (a restart) sees the same state from disk.
    again = Inbox(home)
    [pending] = again.pending()
    assert (pending.id, pending.text, pending.key) == (b_id, "second", "telegram/default/2")
    assert [r["type"] for r in journal(home)] == ["received", "received", "done"]
    assert (home.root / "inbox" / "journal.jsonl").stat().st_mode & 0o777 == 0o600


def test_duplicate_is_recorded_once(home: Home) -> None:
    inbox = Inbox(home)
    first_id, new = inbox.record(msg("7", text="hello"))
    assert new
    dup = msg("7", text="hello (re-delivered)")
    assert inbox.record(dup) == (first_id, False)
    assert dup.id == first_id
    assert [m.text for m in inbox.pending()] == ["hello"]
    # Still a duplicate after it was processed, and from another object.
    inbox.done(first_id)
    assert Inbox(home).record(msg("7")) == (first_id, False)
    assert Inbox(home).pending() == []
    # The same channel message id on another channel or account is another message.
    _, new_channel = inbox.record(msg("7", channel="discord"))
    _, new_account = inbox.record(msg("7", account="work"))
    assert new_channel and new_account
    assert len(inbox.pending()) == 2
    assert sum(r["type"] == "received" for r in journal(home)) == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel", "../etc"),
        ("channel", ""),
        ("channel", "a/b"),
        ("account", ".hidden"),
        ("account", "x y"),
        ("channel_message_id", ""),
        ("channel_message_id", "a\nb"),
        ("channel_message_id", "x" * 257),
        ("peer", ""),
        ("peer", "\x00"),
        ("peer_kind", "crowd"),
    ],
)
def test_invalid_names_rejected(home: Home, field: str, value: str) -> None:
    m = msg("1")
    setattr(m, field, value)
    with pytest.raises(InvalidName):
        Inbox(home).record(m)
    assert Inbox(home).pending() == []


def test_long_but_valid_ids_accepted(home: Home) -> None:
    m = InboundMessage(channel="x", channel_message_id="../" + "y" * 253, peer="a b", text="")
    assert Inbox(home).record(m)[1]
    assert {p.name for p in (home.root / "inbox").iterdir()} == {
        "journal.jsonl",
        ".journal.jsonl.lock",
    }


RECORDER = r"""
import sys
from pathlib import Path
from claw.delivery.inbox import InboundMessage, Inbox
from claw.state.home import Home

inbox, new = Inbox(Home(Path(sys.argv[1]))), 0
for i in range(int(sys.argv[2])):
    m = InboundMessage(channel="c", channel_message_id=str(i), peer="p", text=sys.argv[3])
    new += inbox.record(m)[1]
print(new)
"""


def test_concurrent_processes_record_each_key_once(home: Home) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECORDER, str(home.root), "200", name],
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(o) for o in outs) == 200
    keys = [r["key"] for r in journal(home) if r["type"] == "received"]
    assert sorted(keys) == sorted(f"c/default/{i}" for i in range(200))
    assert len(Inbox(home).pending()) == 200


def test_compaction_keeps_pending_and_recent_keys(home: Home) -> None:
    inbox, other = Inbox(home), Inbox(home)
    ids = [inbox.record(msg(str(i)))[0] for i in range(10)]
    assert len(other.pending()) == 10  # `other` has read the old file up to its end
    for i in range(8):
        inbox.done(ids[i])
    # Pretend the first four were done long ago: beyond the window, they are forgotten.
    kept = inbox.compact(now=time.time() + 30, keep_seconds=3600)
    assert kept == 10
    kept = inbox.compact(now=time.time() + 8 * 86400)
    assert kept == 2  # only the pending two remain; done keys older than a week go
    recs = journal(home)
    assert [r["type"] for r in recs] == ["compacted", "received", "received"]

    # The second object notices the replaced file and re-reads it.
    assert [m.id for m in other.pending()] == ids[8:]
    assert other.record(msg("8")) == (ids[8], False)
    assert other.record(msg("0"))[1]  # forgotten after a week: a new message again

    # Recent done keys survive a compaction and are still recognised as duplicates.
    inbox.done(ids[8])
    assert inbox.compact() == 3  # pending 9, new 0, done 8
    assert other.record(msg("8")) == (ids[8], False)
    assert [m.channel_message_id for m in other.pending()] == ["9", "0"]
    assert [m.channel_message_id for m in Inbox(home).pending()] == ["9", "0"]
    # Appends after a compaction are seen by everyone.
    new_id, _ = other.record(msg("10"))
    assert inbox.pending()[-1].id == new_id


def test_compaction_twice_with_a_stale_reader(home: Home) -> None:
    """A reader that slept through two compactions (inode numbers may be reused)."""
    inbox, stale = Inbox(home), Inbox(home)
    a, _ = inbox.record(msg("a"))
    stale.pending()
    inbox.compact()
    inbox.done(a)
    inbox.compact()
    inbox.record(msg("b"))
    assert [m.channel_message_id for m in stale.pending()] == ["b"]
    assert stale.record(msg("a")) == (a, False)


def test_torn_last_line_is_skipped(home: Home) -> None:
    inbox = Inbox(home)
    a, _ = inbox.record(msg("1"))
    path = home.root / "inbox" / "journal.jsonl"
    torn = json.dumps(msg("2").to_record() | {"id": "1763712000000000000-00000000"})
    with open(path, "ab") as f:
        f.write(torn[: len(torn) // 2].encode())
    fresh = Inbox(home)
    assert [m.id for m in fresh.pending()] == [a]
    b, new = fresh.record(msg("2"))  # the torn record was never acknowledged: new again
    assert new
    assert [m.id for m in inbox.pending()] == [a, b]
    assert [m.id for m in Inbox(home).pending()] == [a, b]
    assert path.read_bytes().endswith(b"\n")


def test_process_pending_marks_done_and_keeps_failures(home: Home) -> None:
    inbox = Inbox(home)
    for i in range(3):
        inbox.record(msg(str(i)))
    seen: list[str] = []

    def flaky(m: InboundMessage) -> None:
        if m.channel_message_id == "1":
            raise RuntimeError("model down")
        seen.append(m.channel_message_id)

    with pytest.raises(RuntimeError):
        process_pending(inbox, flaky)
    assert seen == ["0"]
    assert [m.channel_message_id for m in inbox.pending()] == ["1", "2"]
    assert process_pending(inbox, lambda m: seen.append(m.channel_message_id) and None) == 2
    assert seen == ["0", "1", "2"] and inbox.pending() == []


# Producer + processor. The "channel" re-offers every message from the start on each
# restart (re-delivery), so duplicates are offered on purpose. The handler's effect is a
# line in processed.log, fsynced before `done` is written; its sleep stands for the work.
WORKER = r"""
import os, sys, time
from pathlib import Path
from claw.delivery.inbox import InboundMessage, Inbox, process_pending
from claw.state.home import Home

root, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
inbox = Inbox(Home(Path(root)))
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

def handler(m):
    os.write(fd, (m.key + "\n").encode())
    os.fsync(fd)
    time.sleep(0.005)  # work: widens the window between the effect and `done`

Path(root, "ready").touch()
process_pending(inbox, handler)  # restart: finish what the last run left
for i in range(n):
    m = InboundMessage(channel="tg", channel_message_id=f"m{i}", peer="alice", text=f"#{i}")
    inbox.record(m)  # durable: now the channel may be acknowledged
    process_pending(inbox, handler)
print("finished")
"""


@pytest.mark.timeout(120)
def test_sigkill_replay_processes_each_message_once(home: Home, tmp_path: Path) -> None:
    """SIGKILL at random moments, restart, re-delivery of everything: every message is
    processed, and at most once per key except where a kill landed between the handler's
    effect and its `done` record. Exactly-once therefore needs the handler to be idempotent
    (or its effect written in one transaction with `done`); the journal bounds the repeats
    to one per crash."""
    n, log = 300, tmp_path / "processed.log"
    ready = home.root / "ready"
    rnd = random.Random(5)
    kills = 0
    for _ in range(15):
        ready.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home.root), str(n), str(log)],
            env=ENV,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not ready.exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "worker did not start"
            time.sleep(0.002)
        time.sleep(rnd.uniform(0.01, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert proc.returncode == 0
    assert kills >= 10  # the work (>= 1.5 s) outlasts the kills: most land mid-stream
    # A last run, left to finish.
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(home.root), str(n), str(log)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "finished"

    counts = Counter(line for line in log.read_text().splitlines() if line)
    assert set(counts) == {f"tg/default/m{i}" for i in range(n)}  # nothing lost
    repeats = sum(c - 1 for c in counts.values())
    assert repeats <= kills, (repeats, kills)
    recs = journal(home)
    received = [r["key"] for r in recs if r["type"] == "received"]
    assert len(received) == len(set(received)) == n  # each key journalled once
    assert Inbox(home).pending() == []
    print(f"{kills} kills, {repeats} repeated handler run(s), {len(recs)} records")


def test_record_reads_only_what_is_new(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost of `record` does not grow with the journal: it reads the new bytes only."""
    inbox = Inbox(home)
    for i in range(500):
        inbox.record(msg(str(i)))
    read: list[int] = []
    real_pread = os.pread

    def spy(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", spy)
    inbox.record(msg("new"))
    inbox.record(msg("new"))  # a duplicate: no write, reads nothing new
    size = (home.root / "inbox" / "journal.jsonl").stat().st_size
    assert sum(read) < 1000 < size // 50
