"""The idempotency store: claim, replay, expiry, abandonment, scope conflicts, restarts and
two processes racing for one key."""

from __future__ import annotations

import multiprocessing as mp
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from claw.errors import UsageError
from claw.gateway import idempotency
from claw.gateway.idempotency import IdempotencyStore, store_path, validate_key
from claw.state.home import Home

RESULT = {
    "message_id": "m-1",
    "text": "héllo 👋",
    "session_key": "agent:main:main",
    "timestamp": 1700000000.5,
    "tokens_used": 12,
}
SCOPE = "agent:main:main"


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(home: Home, clock: FakeClock):
    s = IdempotencyStore(home, now=clock)
    yield s
    s.close()


def test_file_layout_and_modes(store: IdempotencyStore, home: Home) -> None:
    path = home.root / "gateway" / "idempotency.sqlite"
    assert store.path == path == store_path(home)
    store.begin("k", SCOPE)  # writes, so the WAL files exist
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for f in path.parent.glob("idempotency.sqlite*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_finish_replay(store: IdempotencyStore, clock: FakeClock) -> None:
    claim = store.begin("retry-1", SCOPE)
    assert (claim.kind, claim.key, claim.result) == ("new", "retry-1", None)
    clock.advance(3)
    assert store.finish("retry-1", RESULT) is True
    clock.advance(23 * 3600)
    again = store.begin("retry-1", SCOPE)
    assert again.kind == "replay"
    assert again.result == RESULT
    assert store.begin("retry-1", SCOPE).kind == "replay"  # replays do not consume the entry


def test_expired_after_window_runs_again(home: Home, clock: FakeClock) -> None:
    with IdempotencyStore(home, window_s=3600, now=clock) as store:
        store.begin("k", SCOPE)
        store.finish("k", RESULT)
        clock.advance(3599)
        assert store.begin("k", SCOPE).kind == "replay"
        clock.advance(1)
        assert store.begin("k", SCOPE).kind == "new"
        assert store.begin("k", SCOPE).kind == "in_progress"


def test_default_window_is_a_day(store: IdempotencyStore, clock: FakeClock) -> None:
    store.begin("k", SCOPE)
    store.finish("k", RESULT)
    clock.advance(24 * 3600 - 1)
    assert store.begin("k", SCOPE).kind == "replay"
    clock.advance(1)
    assert store.begin("k", SCOPE).kind == "new"


def test_running_is_in_progress(store: IdempotencyStore, clock: FakeClock) -> None:
    assert store.begin("k", SCOPE).kind == "new"
    clock.advance(60)
    claim = store.begin("k", SCOPE)
    assert claim.kind == "in_progress"
    assert claim.result is None


def test_abandon_lets_a_retry_run(store: IdempotencyStore) -> None:
    store.begin("k", SCOPE)
    store.abandon("k")
    assert store.begin("k", SCOPE).kind == "new"
    assert store.count() == 1


def test_abandon_never_drops_a_done_result(store: IdempotencyStore) -> None:
    store.begin("k", SCOPE)
    store.finish("k", RESULT)
    store.abandon("k")
    assert store.begin("k", SCOPE).result == RESULT


def test_finish_without_claim_stores_nothing(store: IdempotencyStore) -> None:
    assert store.finish("never-claimed", RESULT) is False
    store.begin("k", SCOPE)
    store.abandon("k")
    assert store.finish("k", RESULT) is False
    assert store.begin("k", SCOPE).kind == "new"


def test_stale_running_counts_as_abandoned(store: IdempotencyStore, clock: FakeClock) -> None:
    store.begin("k", SCOPE)
    clock.advance(15 * 60 - 1)
    assert store.begin("k", SCOPE).kind == "in_progress"
    clock.advance(1)
    assert store.begin("k", SCOPE).kind == "new"  # the daemon that claimed it crashed


def test_keepalive_keeps_a_long_turn_running(store: IdempotencyStore, clock: FakeClock) -> None:
    store.begin("k", SCOPE)
    for _ in range(4):
        clock.advance(10 * 60)
        store.keepalive("k")
    assert store.begin("k", SCOPE).kind == "in_progress"
    assert store.finish("k", RESULT) is True


def test_scope_conflict(store: IdempotencyStore) -> None:
    store.begin("k", SCOPE)
    running = store.begin("k", "agent:main:other")
    assert (running.kind, running.scope) == ("conflict", SCOPE)
    store.finish("k", RESULT)
    done = store.begin("k", "agent:main:other")
    assert done.kind == "conflict"
    assert done.result is None  # another session's reply is never handed out
    assert store.begin("k", SCOPE).kind == "replay"


def test_survives_restart(home: Home, clock: FakeClock) -> None:
    first = IdempotencyStore(home, now=clock)
    first.begin("done-key", SCOPE)
    first.finish("done-key", RESULT)
    first.begin("running-key", SCOPE)
    first.close()  # the daemon stops (or dies) here
    second = IdempotencyStore(home, now=clock)
    try:
        assert second.begin("done-key", SCOPE).result == RESULT
        assert second.begin("running-key", SCOPE).kind == "in_progress"
    finally:
        second.close()


def test_unknown_schema_version_starts_over(home: Home, clock: FakeClock) -> None:
    with IdempotencyStore(home, now=clock) as store:
        store.begin("k", SCOPE)
        store.db.execute("PRAGMA user_version=99")
    with IdempotencyStore(home, now=clock) as store:
        assert store.count() == 0
        assert store.begin("k", SCOPE).kind == "new"


@pytest.mark.parametrize(
    "key",
    ["", "x" * 201, "tab\there", "new\nline", "nul\x00", "esc\x1b[0m", None, 42],
)
def test_invalid_keys_refused(store: IdempotencyStore, key: Any) -> None:
    with pytest.raises(UsageError, match="idempotency_key"):
        store.begin(key, SCOPE)


@pytest.mark.parametrize("key", ["a", "x" * 200, "uuid 123e4567-e89b", "clé-ünïcode-🔑", "k:1/2"])
def test_valid_keys(store: IdempotencyStore, key: str) -> None:
    assert validate_key(key) == key
    assert store.begin(key, SCOPE).kind == "new"


def test_result_must_be_a_json_dict(store: IdempotencyStore) -> None:
    store.begin("k", SCOPE)
    with pytest.raises(TypeError):
        store.finish("k", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.finish("k", {"x": object()})
    assert store.begin("k", SCOPE).kind == "in_progress"  # nothing half-stored


def test_lazy_purge_is_periodic_and_bounded(
    store: IdempotencyStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "PURGE_BATCH", 10)
    for i in range(25):
        store.begin(f"old-{i}", SCOPE)
        store.finish(f"old-{i}", RESULT)
    clock.advance(300)
    for i in range(3):
        store.begin(f"mid-{i}", SCOPE)
        store.finish(f"mid-{i}", RESULT)
    clock.advance(24 * 3600 - 300 + 1)  # the old ones have expired, the mid ones not yet
    store.begin("fresh-0", SCOPE)  # first purge: one batch of 10
    assert store.count() == 25 - 10 + 3 + 1
    store.begin("fresh-1", SCOPE)  # a full batch means a backlog: the next call continues
    assert store.count() == 25 - 20 + 3 + 2
    store.begin("fresh-2", SCOPE)  # 5 < batch: the backlog is gone, next purge in 10 min
    assert store.count() == 3 + 3
    clock.advance(300)  # now the mid ones have expired too, but no purge before 10 min...
    assert store.begin("mid-0", SCOPE).kind == "new"  # ...yet an expired entry is ignored
    assert store.count() == 6
    clock.advance(300)
    store.begin("fresh-3", SCOPE)
    assert store.count() == 6 - 2 + 1  # mid-1 and mid-2 purged; mid-0 was claimed anew


def test_explicit_purge(store: IdempotencyStore, clock: FakeClock) -> None:
    for i in range(5):
        store.begin(f"k{i}", SCOPE)
    clock.advance(24 * 3600)
    assert store.purge(limit=3) == 3
    assert store.purge() == 2
    assert store.count() == 0


def test_threads_share_one_store(store: IdempotencyStore) -> None:
    # The daemon calls the store from trio worker threads; exactly one thread wins a key.
    kinds: list[str] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        kinds.append(store.begin("shared", SCOPE).kind)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(kinds) == ["in_progress"] * 7 + ["new"]


ROUNDS = 20


def _race_worker(home: str, barrier: Any, results: Any) -> None:
    """One process: open the store together with the other (first-open race too), then
    claim the same key at the same moment, ROUNDS times."""
    barrier.wait()
    store = IdempotencyStore(Home(Path(home)))
    try:
        for i in range(ROUNDS):
            barrier.wait()
            results.put((i, store.begin(f"race-{i}", SCOPE).kind))
    finally:
        store.close()


def test_two_processes_race_for_one_key(home_path: Path) -> None:
    home = Home(home_path).ensure()  # no gateway/ dir yet: the workers create it together
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=30)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_race_worker, args=(str(home.root), barrier, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=30) for _ in range(2 * ROUNDS)]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    by_round: dict[int, list[str]] = {}
    for i, kind in got:
        by_round.setdefault(i, []).append(kind)
    assert sorted(by_round) == list(range(ROUNDS))
    for i, kinds in by_round.items():
        assert sorted(kinds) == ["in_progress", "new"], (i, kinds)
