"""Origins of scheduled sends (claw.delivery.origins): deterministic queue ids, the
delivered-origins log (written before an entry goes, pruned after a week), and `queued`
seeing an occurrence in every state its message can be in."""

from __future__ import annotations

import json

from claw.channels.mock import read_outbox
from claw.delivery import origins
from claw.delivery.entry import ID_RE
from claw.delivery.origins import KEEP_SECONDS, OriginLog, enqueue_once, origin, queue_id, queued
from claw.delivery.queue import QueueStore
from claw.delivery.service import enqueue, run_flush
from claw.state.config import load, set_value
from claw.state.home import Home

T0 = 1_790_000_000.0


def test_queue_ids_are_deterministic_valid_and_time_ordered() -> None:
    a = origin("cron", "nightly", T0)
    assert a == "cron:nightly:1790000000000"
    assert queue_id(a) == queue_id("cron:nightly:1790000000000")
    assert ID_RE.fullmatch(queue_id(a))
    assert queue_id(a) != queue_id(origin("cron", "other", T0))  # same instant, two jobs
    assert queue_id(a) < queue_id(origin("cron", "nightly", T0 + 0.001))
    assert queue_id(a).startswith(f"{int(T0 * 1e9):019d}-")


def test_the_log_finds_only_exact_origins(home: Home) -> None:
    log = OriginLog(QueueStore(home).dir)
    assert log.get("cron:a:1") is None  # no file yet
    log.record("cron:a:1", queue_id("cron:a:1"), "delivered", now=T0)
    log.record('reminder:x"y:2', "id2", "purged", now=T0)
    assert log.get("cron:a:1")["outcome"] == "delivered"
    assert log.get('reminder:x"y:2')["id"] == "id2"
    assert log.get("cron:a:10") is None and log.get("cron:a:") is None
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


def test_pruning_drops_records_older_than_a_week(home: Home) -> None:
    log = OriginLog(QueueStore(home).dir)
    log.record("cron:old:1", "i1", "delivered", now=T0)
    log.record("cron:mid:1", "i2", "delivered", now=T0 + KEEP_SECONDS / 2)
    assert log.prune(now=T0 + KEEP_SECONDS - 1) == 2  # nothing expired yet
    assert log.prune(now=T0 + KEEP_SECONDS + 1) == 1
    assert log.get("cron:old:1") is None and log.get("cron:mid:1") is not None
    assert log.prune(now=T0 + 10 * KEEP_SECONDS) == 0
    assert log.path.read_bytes() == b""


def test_an_append_prunes_when_the_oldest_record_expired(home: Home) -> None:
    log = OriginLog(QueueStore(home).dir)
    for i in range(5):
        log.record(f"cron:j:{i}", f"i{i}", "delivered", now=T0 + i)
    assert len(log.path.read_bytes().splitlines()) == 5  # nothing expired: no rewrite
    log.record("cron:j:new", "inew", "delivered", now=T0 + KEEP_SECONDS + 2.5)
    kept = [json.loads(line)["origin"] for line in log.path.read_bytes().splitlines()]
    assert kept == ["cron:j:3", "cron:j:4", "cron:j:new"]


def test_a_torn_line_is_skipped_and_pruned(home: Home) -> None:
    log = OriginLog(QueueStore(home).dir)
    log.path.write_bytes(b'{"origin":"cron:t')  # a crash mid-append
    log.record("cron:ok:1", "i1", "delivered", now=T0)  # first line unreadable: rewrite
    assert log.get("cron:ok:1") is not None
    assert log.path.read_bytes().count(b"\n") == 1


def _mock(home: Home):
    return load(home.config_file)


def test_queued_sees_pending_failed_delivered_and_purged(home: Home) -> None:
    config = _mock(home)
    store = QueueStore(home)
    o = origin("cron", "nightly", T0)
    assert queued(home, o) is None
    entry = enqueue_once(home, config, "mock:me", "the report", origin_=o)
    assert entry.id == queue_id(o) and entry.origin == o
    assert queued(home, o) == entry.id  # journaled
    store.absorb()
    assert queued(home, o) == entry.id  # an entry file
    run_flush(home, config)
    assert [m["text"] for m in read_outbox(home)] == ["the report"]
    assert not store.exists(entry.id)
    assert queued(home, o) == entry.id  # delivered: the log knows
    assert OriginLog(store.dir).get(o)["outcome"] == "delivered"

    failing = origin("cron", "broken", T0)
    set_value(home.config_file, "channels.mock.fail_to", "nobody")
    config = load(home.config_file)
    bad = enqueue_once(home, config, "mock:nobody", "x", origin_=failing)
    run_flush(home, config)
    assert store.path(bad.id, failed=True).exists() and queued(home, failing) == bad.id
    assert store.remove(bad.id, failed=True, origin=bad.origin)
    assert queued(home, failing) == bad.id  # purged by hand: still not sent again
    assert OriginLog(store.dir).get(failing)["outcome"] == "purged"


def test_purge_from_the_cli_records_the_origin(home: Home, cli) -> None:
    config = _mock(home)
    o = origin("heartbeat", "main", T0)
    enqueue_once(home, config, "mock:me", "hello", origin_=o)
    plain = enqueue(home, "mock", "me", ["not scheduled"])
    r = cli("queue", "purge", "--yes")
    assert r.exit_code == 0, r.output
    assert QueueStore(home).ids() == []
    assert queued(home, o) == queue_id(o)
    log = OriginLog(QueueStore(home).dir)
    assert plain.id not in log.path.read_text()  # entries without an origin: no record


def test_a_delivery_without_origin_writes_no_log(home: Home) -> None:
    config = _mock(home)
    enqueue(home, "mock", "me", ["plain"])
    run_flush(home, config)
    assert not (QueueStore(home).dir / origins.NAME).exists()


def test_a_pruned_occurrence_rerun_late_is_still_known_sent(home: Home) -> None:
    """A week after delivery the detailed record is pruned; a very late re-run of that
    occurrence (or of an older one of the same job) must still find it sent, while a
    newer occurrence and other jobs are free to run."""
    config = _mock(home)
    store = QueueStore(home)
    log = OriginLog(store.dir)
    old = origin("cron", "nightly", T0)
    older = origin("cron", "nightly", T0 - 86400)
    log.record(old, queue_id(old), "delivered", now=T0 + 60)
    log.record(origin("reminder", "t1", T0), "r1", "delivered", now=T0 + 60)
    # Eight days on, another delivery's append prunes the expired records.
    later = T0 + 8 * 86400
    log.record(origin("cron", "other", later), "o1", "delivered", now=later)
    assert log.get(old) is None  # the detail is gone...
    assert queued(home, old) == queue_id(old)  # ...the occurrence is still known sent
    assert queued(home, older) == queue_id(older)
    assert queued(home, origin("reminder", "t1", T0)) is not None
    assert queued(home, origin("cron", "nightly", T0 + 86400)) is None  # the next one runs
    assert queued(home, origin("cron", "fresh", T0 - 86400)) is None  # another job
    assert queued(home, origin("reminder", "t2", T0)) is None
    # A re-run after the prune sends nothing: the runner's check finds it.
    if queued(home, old) is None:
        enqueue_once(home, config, "mock:me", "the report again", origin_=old)
    run_flush(home, config)
    assert read_outbox(home) == []


def test_marks_survive_repeated_prunes_and_only_grow(home: Home) -> None:
    log = OriginLog(QueueStore(home).dir)
    log.record(origin("cron", "j", T0 + 100), "a", "delivered", now=T0)
    log.prune(now=T0 + KEEP_SECONDS + 1)
    log.record(origin("cron", "j", T0 + 50), "b", "delivered", now=T0 + KEEP_SECONDS + 2)
    log.prune(now=T0 + 3 * KEEP_SECONDS)
    assert log.known_sent(origin("cron", "j", T0 + 100))
    assert log.known_sent(origin("cron", "j", T0 + 99))
    assert not log.known_sent(origin("cron", "j", T0 + 101))
    # A source whose name ends another's (or holds a quote) has a mark of its own.
    log.record(origin("cron", 'x"cron:j', T0 + 500), "c", "delivered", now=T0 + 4 * KEEP_SECONDS)
    log.prune(now=T0 + 6 * KEEP_SECONDS)
    assert log.known_sent(origin("cron", 'x"cron:j', T0 + 500))
    assert not log.known_sent(origin("cron", "j", T0 + 500))
    assert log.marks() == {"cron:j": (T0 + 100) * 1000, 'cron:x"cron:j': (T0 + 500) * 1000}
    assert oct(log.marks_path.stat().st_mode & 0o777) == "0o600"


def test_a_cron_occurrence_rerun_after_the_prune_is_not_sent_again(home: Home) -> None:
    import time

    from claw.cron.runner import run_job
    from tests.cron._helpers import add

    config = _mock(home)
    job = add(home, config, name="ping", every="30m", notify="ping!", deliver="mock:me")
    due = job.next_run_at
    first = run_job(home, config, job, trigger="schedule", due=due)
    assert first.record.status == "ok"
    run_flush(home, config)
    assert [r["text"] for r in read_outbox(home)] == ["ping!"]
    log = OriginLog(QueueStore(home).dir)
    assert log.prune(now=time.time() + KEEP_SECONDS + 86400) == 0  # the record is gone
    # The same occurrence comes back (a catch-up after a long downtime, a crash retry).
    again = run_job(home, config, job, trigger="catch-up", due=due)
    assert again.record.recovered is True and again.record.delivery_id == first.record.delivery_id
    run_flush(home, config)
    assert [r["text"] for r in read_outbox(home)] == ["ping!"]
