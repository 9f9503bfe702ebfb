"""The scheduler under a fake clock: intervals, cron in a zone, one-shots, catch-up after
downtime, failures; and, on the real clock, jobs added from elsewhere taking effect."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio
import trio.testing

from claw.cron.jobs import Job, JobStore
from claw.cron.manage import JobSpec, add_job, remove_job
from claw.cron.scheduler import Scheduler, disabled_event
from claw.delivery.queue import QueueStore
from claw.state import config as cfg
from claw.state.config import Config
from claw.state.home import Home
from tests import scripted
from tests.cron._helpers import T0, add, scripted_config

PARIS = ZoneInfo("Europe/Paris")
Body = Callable[[Scheduler], Awaitable[None]]


async def inline(work: Callable[[], Any]) -> Any:
    return work()  # no thread: fake time cannot move while a job runs


def run_scheduler(
    home: Home, config: Config, body: Body, *, start: float = T0, **kw: Any
) -> Scheduler:
    """Run a scheduler whose wall clock is `start` + trio's (fake, autojumping) clock."""
    mock = trio.testing.MockClock(autojump_threshold=0)
    holder: list[Scheduler] = []

    async def main() -> None:
        sched = Scheduler(
            home,
            config,
            clock=lambda: start + trio.current_time(),
            watch=False,
            offload=inline,
            **kw,
        )
        holder.append(sched)
        # No fail_after here: while start-up reads jobs.json in a thread, the autojumping
        # clock would jump straight to its deadline (pytest-timeout guards against hangs).
        async with trio.open_nursery() as nursery:
            await nursery.start(sched.run)
            await body(sched)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=mock)
    return holder[0]


def log_of(home: Home, name: str) -> list[dict[str, Any]]:
    return JobStore(home).runs(name, 100)


def test_every_30m_runs_on_its_anchored_times(home: Home) -> None:
    config = cfg.load(home.config_file)
    add(home, config, name="ping", every="30m", notify="ping", deliver="mock:me")

    async def body(sched: Scheduler) -> None:
        await trio.sleep(3 * 1800 + 1)

    sched = run_scheduler(home, config, body)
    runs = log_of(home, "ping")
    assert [r["scheduled_for"] for r in runs] == [T0 + 1800, T0 + 3600, T0 + 5400]
    assert [r["started_at"] for r in runs] == [T0 + 1800, T0 + 3600, T0 + 5400]  # on time
    assert all(r["trigger"] == "schedule" and r["status"] == "ok" for r in runs)
    assert len(QueueStore(home).entries()) == 3
    assert JobStore(home).get("ping").next_run_at == T0 + 4 * 1800
    assert sched.ran == 3


def test_cron_expression_in_paris_across_the_dst_change(home: Home) -> None:
    config = cfg.load(home.config_file)
    start = datetime(2026, 3, 27, 12, tzinfo=PARIS).timestamp()  # Friday noon
    add(
        home,
        config,
        now=start,
        name="brief",
        cron="0 9 * * 1-5",
        tz="Europe/Paris",
        notify="good morning",
        deliver="mock:me",
    )

    async def body(sched: Scheduler) -> None:
        await trio.sleep(5 * 86400)  # until Wednesday noon

    run_scheduler(home, config, body, start=start)
    walls = [
        datetime.fromtimestamp(r["started_at"], PARIS).isoformat() for r in log_of(home, "brief")
    ]
    assert walls == [
        "2026-03-30T09:00:00+02:00",  # Monday: 07:00 UTC now that Paris is on summer time
        "2026-03-31T09:00:00+02:00",
        "2026-04-01T09:00:00+02:00",
    ]


def _downtime(home: Home, catch_up: str | None, config: Config | None = None) -> Scheduler:
    """A 30-minute job whose daemon was down for 3 intervals and 10 minutes."""
    config = config or cfg.load(home.config_file)
    add(home, config, name="j", every="30m", notify="hi", deliver="mock:me", catch_up=catch_up)
    back = T0 + 3 * 1800 + 600  # T0+1800, +3600, +5400 were missed

    async def body(sched: Scheduler) -> None:
        await trio.sleep(60)

    return run_scheduler(home, config, body, start=back)


def test_catch_up_once_runs_a_missed_job_exactly_once(home: Home) -> None:
    sched = _downtime(home, "once")
    runs = log_of(home, "j")
    assert len(runs) == 1 and runs[0]["trigger"] == "catch-up" and runs[0]["status"] == "ok"
    assert runs[0]["scheduled_for"] == T0 + 1800 and runs[0]["started_at"] == T0 + 6000
    assert len(QueueStore(home).entries()) == 1
    assert JobStore(home).get("j").next_run_at == T0 + 4 * 1800  # back on its rhythm
    assert sched.ran == 1


def test_catch_up_skip_runs_nothing(home: Home) -> None:
    sched = _downtime(home, "skip")
    runs = log_of(home, "j")
    assert [r["status"] for r in runs] == ["skipped"]  # logged, not run
    assert QueueStore(home).entries() == []
    job = JobStore(home).get("j")
    assert job.next_run_at == T0 + 4 * 1800 and job.runs == 0 and job.last_status is None
    assert sched.ran == 0


def test_a_missed_one_shot_job_skipped_is_disabled_not_left_enabled(home: Home) -> None:
    """Its only run is gone: it must not look like a job that ran fine."""
    config = cfg.load(home.config_file)
    add(home, config, name="call", at="2026-09-21T17:30:00Z", notify="hi", deliver="mock:me",
        catch_up="skip", delete_after_run=True)  # fmt: skip

    async def body(sched: Scheduler) -> None:
        await trio.sleep(60)

    run_scheduler(home, config, body, start=T0 + 20_000)  # back after 17:30 had passed
    assert [r["status"] for r in log_of(home, "call")] == ["skipped"]
    job = JobStore(home).get("call")  # kept (it never ran), so the miss can be seen
    assert job.enabled is False and job.next_run_at is None
    assert job.disabled_reason == "its one run was missed (catch_up = skip)"
    assert QueueStore(home).entries() == []


def test_catch_up_default_comes_from_config(home: Home) -> None:
    config = cfg.load(home.config_file)
    config.data.setdefault("cron", {})["catch_up"] = "skip"
    _downtime(home, None, config)
    assert [r["status"] for r in log_of(home, "j")] == ["skipped"]


def test_after_catching_up_the_schedule_goes_on(home: Home) -> None:
    config = cfg.load(home.config_file)
    add(home, config, name="j", every="30m", notify="hi", deliver="mock:me")

    async def body(sched: Scheduler) -> None:
        await trio.sleep(1800)

    run_scheduler(home, config, body, start=T0 + 3 * 1800 + 600)
    assert [r["trigger"] for r in log_of(home, "j")] == ["catch-up", "schedule"]
    assert log_of(home, "j")[1]["started_at"] == T0 + 4 * 1800


def test_one_shot_with_delete_after_run(home: Home) -> None:
    config = cfg.load(home.config_file)
    add(home, config, name="once", at="in 2h", notify="x", deliver="mock:me", delete_after_run=True)
    add(home, config, name="keep", at="in 1h", notify="y", deliver="mock:me")

    async def body(sched: Scheduler) -> None:
        await trio.sleep(3 * 3600)
        assert sched.due == {}

    sched = run_scheduler(home, config, body)
    assert [r["started_at"] for r in log_of(home, "once")] == [T0 + 7200]
    assert [r["started_at"] for r in log_of(home, "keep")] == [T0 + 3600]
    jobs = JobStore(home).load()
    assert list(jobs) == ["keep"] and jobs["keep"].next_run_at is None
    assert "once" not in sched.jobs


def test_five_failures_disable_the_job_and_report_it(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    config = scripted_config(home)
    from claw.agent.models import litellm

    scripted.install([litellm().AuthenticationError("bad key", "scripted", "test")] * 5)
    add(home, config, name="j", every="1m", message="hi", deliver="mock:me")
    reported: list[Job] = []

    async def body(sched: Scheduler) -> None:
        await trio.sleep(10 * 60)  # ten due times; only five runs

    with caplog.at_level(logging.WARNING, logger="claw.cron"):
        run_scheduler(home, config, body, on_disabled=lambda job, rec: reported.append(job))
    runs = log_of(home, "j")
    assert len(runs) == 5 and all(r["status"] == "error" for r in runs)
    assert runs[-1]["disabled"] is True
    job = JobStore(home).get("j")
    assert not job.enabled and job.failures == 5
    assert [j.name for j in reported] == ["j"]
    assert "disabled after 5 failures" in caplog.text


def test_message_job_on_schedule_delivers_but_not_an_empty_reply(home: Home) -> None:
    config = scripted_config(home)
    scripted.install(["It is nine.", ""])
    add(home, config, name="j", every="1h", message="time?", deliver="mock:me")

    async def body(sched: Scheduler) -> None:
        await trio.sleep(2 * 3600 + 1)

    run_scheduler(home, config, body)
    runs = log_of(home, "j")
    assert [(r["status"], r["session_key"]) for r in runs] == [
        ("ok", "cron:j"),
        ("error", "cron:j"),
    ]
    assert [e.parts for e in QueueStore(home).entries()] == [["It is nine."]]


def test_a_wall_clock_jump_is_noticed(home: Home) -> None:
    """trio sleeps on a clock that stops during suspend: the wall clock is re-read."""
    config = cfg.load(home.config_file)
    add(home, config, name="j", every="6h", notify="x", deliver="mock:me")
    jump = [0.0]

    async def body(sched: Scheduler) -> None:
        await trio.sleep(10)
        jump[0] = 8 * 3600  # the machine slept for 8 hours
        await trio.sleep(400)

    mock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        sched = Scheduler(
            home,
            config,
            clock=lambda: T0 + jump[0] + trio.current_time(),
            watch=False,
            offload=inline,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sched.run)
            await body(sched)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=mock)
    runs = log_of(home, "j")
    assert len(runs) == 1 and runs[0]["trigger"] == "catch-up"
    assert runs[0]["started_at"] <= T0 + 8 * 3600 + 300 + 1


def test_jobs_added_and_removed_elsewhere_take_effect(home: Home) -> None:
    """Real clock, real threads, the filesystem watch: `claw cron add` in another shell."""
    config = cfg.load(home.config_file)

    async def main() -> None:
        sched = Scheduler(home, config)
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(sched.run)
                assert sched.jobs == {}
                spec = JobSpec("fast", every="1s", notify="tick", deliver="mock:me")
                await trio.to_thread.run_sync(add_job, home, config, spec)
                while not log_of(home, "fast"):
                    await trio.sleep(0.05)
                assert "fast" in sched.jobs
                await trio.to_thread.run_sync(remove_job, home, "fast")
                while "fast" in sched.jobs or sched.running:
                    await trio.sleep(0.05)
                assert sched.due == {}
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(QueueStore(home).entries()) >= 1


def test_a_broken_jobs_file_does_not_stop_the_scheduler(home: Home) -> None:
    config = cfg.load(home.config_file)
    add(home, config, name="j", every="1s", notify="x", deliver="mock:me")
    store = JobStore(home)
    good = store.path.read_text()
    store.path.write_text('{"jobs": [')

    async def main() -> None:
        sched = Scheduler(home, config)
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(sched.run)
                assert sched.jobs == {}
                await trio.to_thread.run_sync(store.path.write_text, good)  # fixed by hand
                while not log_of(home, "j"):
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert log_of(home, "j")[0]["trigger"] in ("schedule", "catch-up")


def test_disabled_event() -> None:
    job = Job("j", "every", "1h", "UTC", failures=5, disabled_reason="5 failures in a row")
    assert disabled_event(job, {"error": "boom"}) == {
        "type": "cron.disabled",
        "job": "j",
        "failures": 5,
        "error": "boom",
        "reason": "5 failures in a row",
    }
