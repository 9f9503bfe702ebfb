"""The job store (jobs.json, run logs) and the runner (turns, notifications, failures)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from claw.channels.mock import read_outbox
from claw.cron.jobs import Job, JobStore
from claw.cron.manage import JobSpec, add_job, remove_job, set_enabled
from claw.cron.runner import run_job
from claw.delivery.queue import QueueStore
from claw.delivery.service import run_flush
from claw.errors import ClawError, NotFound, UsageError
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.commands._util import messages
from tests.cron._helpers import T0, add, scripted_config


def test_jobs_json_is_private_atomic_and_shared(home: Home) -> None:
    add(home, name="a", every="30m", notify="hi", deliver="mock:me")
    add(home, name="b", cron="0 9 * * 1-5", tz="Europe/Paris", message="news?")
    store = JobStore(home)
    path = store.path
    assert path.stat().st_mode & 0o777 == 0o600
    raw = json.loads(path.read_text())
    assert raw["version"] == 1 and [j["name"] for j in raw["jobs"]] == ["a", "b"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-jobs")]
    a = store.get("a")
    assert a.next_run_at == T0 + 1800 and a.anchor == T0 and a.kind == "every"
    with pytest.raises(UsageError, match="already exists"):
        add(home, name="a", every="1h", notify="x", deliver="mock:me")
    with pytest.raises(NotFound):
        store.get("zzz")


def test_unknown_fields_are_ignored_and_a_broken_file_is_reported(home: Home) -> None:
    add(home, name="a", every="30m", notify="hi", deliver="mock:me")
    store = JobStore(home)
    raw = json.loads(store.path.read_text())
    raw["jobs"][0]["from_the_future"] = 1
    store.path.write_text(json.dumps(raw))
    assert store.get("a").name == "a"
    store.path.write_text('{"jobs": [')
    with pytest.raises(ClawError, match="unreadable"):
        store.load()


def test_concurrent_adds_lose_nothing(home: Home) -> None:
    config = cfg.load(home.config_file)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            spec = JobSpec(f"job{i}", every="1h", notify="x", deliver="mock:me")
            add_job(home, config, spec, now=T0)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(JobStore(home).load()) == sorted(f"job{i}" for i in range(16))


def test_add_validates_the_combination(home: Home) -> None:
    bad = [
        (dict(every="1h"), "exactly one action"),
        (dict(every="1h", message="m", notify="n", deliver="mock:x"), "exactly one action"),
        (dict(every="1h", notify="n"), "needs --deliver"),
        (dict(every="1h", notify="n", agent="main", deliver="mock:x"), "--agent goes with"),
        (dict(every="1h", message="m", agent="ghost"), "unknown agent"),
        (dict(every="1h", message="  "), "empty"),
        (dict(every="1h", message="m", deliver="mock"), "CHANNEL:PEER"),
        (dict(every="1h", message="m", deliver="pigeon:x"), "unknown channel"),
        (dict(every="1h", message="m", delete_after_run=True), "only goes with --at"),
        (dict(every="1h", message="m", catch_up="twice"), "--catch-up"),
        (dict(at="someday", message="m"), "--at"),
    ]
    for kw, message in bad:
        with pytest.raises(UsageError) as e:
            add(home, name="j", **kw)
        assert message in e.value.message, (kw, e.value.message)
    with pytest.raises(UsageError, match="invalid job name"):
        add(home, name="../up", every="1h", message="m")
    assert JobStore(home).load() == {}


def test_at_is_read_in_the_job_zone(home: Home) -> None:
    job = add(home, name="j", at="2026-12-24 18:00", tz="Europe/Paris", message="m")
    assert job.kind == "at" and job.next_run_at == 1_798_131_600.0  # 17:00 UTC


def _record(status: str, error: str | None = None) -> dict[str, object]:
    return {"status": status, "started_at": T0, "finished_at": T0 + 1, "error": error}


def test_finish_counts_failures_and_disables_at_the_limit(home: Home) -> None:
    add(home, name="j", every="30m", notify="hi", deliver="mock:me")
    store = JobStore(home)
    for i in range(4):
        out = store.finish("j", _record("error", f"boom {i}"), max_failures=5)
        assert out.job is not None and out.job.enabled and not out.disabled
    out = store.finish("j", _record("skipped"), max_failures=5)  # not a run: no change
    assert out.job is not None and out.job.failures == 4 and out.job.last_status == "error"
    out = store.finish("j", _record("error", "boom 4"), max_failures=5)
    assert out.disabled and out.job is not None and not out.job.enabled
    assert out.job.failures == 5 and "boom 4" in (out.job.disabled_reason or "")
    assert store.finish("j", _record("error"), max_failures=5).disabled is False  # once
    job = set_enabled(home, "j", True, now=T0 + 10)
    assert job.enabled and job.failures == 0 and job.next_run_at == T0 + 1800
    out = store.finish("j", _record("ok"), max_failures=5)
    assert out.job is not None and out.job.failures == 0 and out.job.runs == 7


def test_run_log_and_rm(home: Home) -> None:
    add(home, name="j", every="30m", notify="hi", deliver="mock:me")
    store = JobStore(home)
    for i in range(30):
        store.append_run("j", {"job": "j", "n": i, "status": "ok"})
    assert [r["n"] for r in store.runs("j", 5)] == [25, 26, 27, 28, 29]
    with store.runs_file("j").open("ab") as f:
        f.write(b'{"job": "j", "n": 3')  # a torn last line after a crash
    assert [r["n"] for r in store.runs("j", 2)] == [28, 29]
    remove_job(home, "j")
    assert not store.runs_file("j").exists() and store.load() == {}
    with pytest.raises(NotFound):
        remove_job(home, "j")


# -- the runner --------------------------------------------------------------------------


def test_notify_job_queues_its_text(home: Home) -> None:
    config = cfg.load(home.config_file)
    job = add(home, config, name="ping", every="30m", notify="ping!", deliver="mock:me")
    out = run_job(home, config, job, trigger="schedule", due=job.next_run_at, clock=lambda: T0)
    assert out.record.status == "ok" and out.record.delivery_id
    entry = QueueStore(home).entries()[0]
    assert (entry.channel, entry.to, entry.parts) == ("mock", "me", ["ping!"])
    assert out.finished.job is not None and out.finished.job.next_run_at == T0 + 2 * 1800
    run_flush(home, config)
    assert [r["text"] for r in read_outbox(home)] == ["ping!"]


def test_message_job_runs_in_its_session_and_delivers(home: Home) -> None:
    config = scripted_config(home)
    scripted.install(["Good morning: 3 meetings today."])
    job = add(home, config, name="brief", cron="0 9 * * 1-5", message="brief me", deliver="mock:me")
    out = run_job(home, config, job)
    r = out.record
    assert r.status == "ok" and r.session_key == "cron:brief" and r.reply_status == "ok"
    assert r.reply == "Good morning: 3 meetings today."
    assert [m["content"] for m in messages(home.root, "cron:brief")] == [
        "brief me",
        "Good morning: 3 meetings today.",
    ]
    assert SessionStore(home).exists("cron:brief")
    run_flush(home, config)
    sent = read_outbox(home)
    assert [(s["to"], s["text"]) for s in sent] == [("me", "Good morning: 3 meetings today.")]
    assert JobStore(home).runs("brief")[0]["delivery_id"] == r.delivery_id
    # a manual run leaves the schedule alone
    assert JobStore(home).get("brief").next_run_at == job.next_run_at


def test_empty_and_silent_replies_are_never_delivered(home: Home) -> None:
    config = scripted_config(home)
    scripted.install(["", "NO_REPLY"])
    job = add(home, config, name="j", every="1h", message="anything?", deliver="mock:me")
    empty = run_job(home, config, job).record
    assert empty.status == "error" and "empty" in (empty.error or "")
    silent = run_job(home, config, job).record
    assert silent.status == "ok" and silent.reply_status == "silent"
    assert empty.delivery_id is None and silent.delivery_id is None
    assert QueueStore(home).entries() == []
    assert JobStore(home).get("j").failures == 0  # the silent run ended the streak


def test_five_failures_in_a_row_disable_the_job(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    config = scripted_config(home)
    from claw.agent.models import litellm

    errors = [litellm().AuthenticationError("bad key", "scripted", "test") for _ in range(5)]
    scripted.install(errors)
    job = add(home, config, name="j", every="1h", message="hi", deliver="mock:me")
    reported: list[tuple[Job, dict[str, object]]] = []
    clock = iter(range(100))
    with caplog.at_level(logging.WARNING, logger="claw.cron"):
        for _ in range(5):
            due = job.next_run_at
            job = (
                run_job(
                    home,
                    config,
                    job,
                    trigger="schedule",
                    due=due,
                    clock=lambda: T0 + 3600 * next(clock),
                    on_disabled=lambda j, r: reported.append((j, r)),
                ).finished.job
                or job
            )
    assert not job.enabled and job.failures == 5
    assert len(reported) == 1 and reported[0][0].name == "j" and reported[0][1]["disabled"]
    assert "disabled after 5 failures" in caplog.text
    log = JobStore(home).runs("j")
    assert [r["status"] for r in log] == ["error"] * 5 and log[-1]["disabled"] is True
    assert QueueStore(home).entries() == []


def test_max_failures_is_configurable(home: Home) -> None:
    config = scripted_config(home)
    config.data.setdefault("cron", {})["max_failures"] = 2
    from claw.agent.models import litellm

    scripted.install([litellm().AuthenticationError("bad key", "scripted", "test")] * 2)
    job = add(home, config, name="j", every="1h", message="hi")
    for _ in range(2):
        assert run_job(home, config, job).record.status == "error"
    assert not JobStore(home).get("j").enabled


def test_a_running_job_is_not_run_twice(home: Home) -> None:
    config = cfg.load(home.config_file)
    job = add(home, config, name="j", every="1h", notify="x", deliver="mock:me")
    with JobStore(home).run_lock("j"), pytest.raises(ClawError, match="running right now"):
        run_job(home, config, job, lock_timeout=0)


def test_one_shot_with_delete_after_run(home: Home, tmp_path: Path) -> None:
    config = cfg.load(home.config_file)
    job = add(
        home, config, name="once", at="in 2h", notify="x", deliver="mock:me", delete_after_run=True
    )
    assert job.next_run_at == T0 + 7200
    out = run_job(home, config, job, trigger="schedule", due=T0 + 7200, clock=lambda: T0 + 7200)
    assert out.finished.deleted and out.finished.job is None
    assert JobStore(home).load() == {}
    assert JobStore(home).runs("once")[0]["status"] == "ok"  # the log stays
