"""The heartbeat's check chain and its silence rules, with the scripted model and a fake
clock (`now=` is passed in; nothing sleeps)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from claw.channels.mock import read_outbox
from claw.delivery.service import run_flush
from claw.heartbeat.content import fingerprint, has_real_content, is_silent
from claw.heartbeat.runner import run_once
from claw.heartbeat.settings import settings_for
from claw.state.config import Config, load, set_value
from claw.state.home import Home
from claw.state.locks import file_lock
from claw.state.names import encode_component
from tests import scripted

T0 = 1_790_000_000.0  # a fixed "now" (2026-09-21)
EVERY = 1800.0


def setup(home: Home, checklist: str = "- Tell me if the disk is full\n", **extra: str) -> Config:
    set_value(home.config_file, "model.default", "scripted/test")
    set_value(home.config_file, "agents.main.heartbeat.target", "mock:me")
    for key, value in extra.items():
        set_value(home.config_file, f"agents.main.heartbeat.{key}", value)
    (home.agent_dir("main") / "HEARTBEAT.md").write_text(checklist)
    return load(home.config_file)


@pytest.mark.parametrize(
    ("text", "real"),
    [
        ("", False),
        ("# Heartbeat\n\n## Today\n", False),
        ("<!-- add checks here -->\n# Title\n- [ ]\n* [ ] \n---\n", False),
        ("<!--\nmulti\nline\n-->\n", False),
        ("# Title\n- [ ] water the plants\n", True),
        ("Check the build.", True),
        ("- [x] done thing\n", True),
    ],
)
def test_what_counts_as_content(text: str, real: bool) -> None:
    assert has_real_content(text) is real


@pytest.mark.parametrize(
    ("reply", "silent"),
    [
        ("HEARTBEAT_OK", True),
        ("  heartbeat_ok  ", False),  # the token is exact: lower case is a message
        ("HEARTBEAT_OK.", True),
        ("**HEARTBEAT_OK**", True),
        ("All quiet today. HEARTBEAT_OK", True),
        ("HEARTBEAT_OK\nNothing needs you right now.", True),
        ("HEARTBEAT_OK " + "x" * 301, False),  # more than ack_max_chars: a real message
        ("The disk is 95% full. HEARTBEAT_OK is not the answer here, act now!", False),
        ("", True),
        ("   \n ", True),
        ("The disk is 95% full.", False),
    ],
)
def test_every_ack_variant(reply: str, silent: bool) -> None:
    assert is_silent(reply, 300)[0] is silent


def test_fingerprint_ignores_case_spacing_and_the_ack() -> None:
    assert (
        fingerprint("Disk  is FULL")
        == fingerprint("disk is full\n")
        == fingerprint("disk is full HEARTBEAT_OK")
    )


def test_first_run_is_one_interval_after_arming(home: Home) -> None:
    script = scripted.install(["The disk is 95% full."])
    config = setup(home)
    out = run_once(home, config, "main", now=T0, armed_at=T0)
    assert (out.outcome, out.step) == ("skipped", "interval") and not script.calls
    out = run_once(home, config, "main", now=T0 + EVERY - 31)  # 30 s early is due
    assert out.step == "interval"
    out = run_once(home, config, "main", now=T0 + EVERY)
    assert out.outcome == "sent" and len(script.calls) == 1
    assert out.next_due_at == T0 + 2 * EVERY
    run_flush(home, config)
    assert [m["text"] for m in read_outbox(home)] == ["The disk is 95% full."]


def test_an_empty_checklist_never_calls_the_model(home: Home) -> None:
    script = scripted.install(["should not be asked"])
    config = setup(home, "# Heartbeat\n\n- [ ]\n<!-- todo -->\n")
    for i in range(1, 50):
        out = run_once(home, config, "main", now=T0 + i * EVERY, armed_at=T0)
        assert out.step == "content"
    assert script.calls == []


def test_silent_replies_are_not_sent(home: Home) -> None:
    scripted.install(["HEARTBEAT_OK", "", "Nothing to report. HEARTBEAT_OK"])
    config = setup(home)
    outcomes = [run_once(home, config, "main", force=True, now=T0 + i).outcome for i in range(3)]
    # An empty reply is a failed turn for the agent loop: either way, nothing is sent.
    assert outcomes[0] == outcomes[2] == "silent" and outcomes[1] in ("silent", "error")
    assert read_outbox(home) == [] and run_flush(home, config).outcomes["delivered"] == 0


def test_dedup_survives_a_restart(home: Home) -> None:
    scripted.install(["Disk is full.", "disk  is FULL", "Disk is full."])
    config = setup(home)
    assert run_once(home, config, "main", force=True, now=T0).outcome == "sent"
    # A new process reads the saved state: the same message is not sent again.
    config = load(home.config_file)
    assert run_once(home, config, "main", force=True, now=T0 + 3600).outcome == "duplicate"
    # After the window it may be sent again.
    assert run_once(home, config, "main", force=True, now=T0 + 86400 + 1).outcome == "sent"


def test_a_busy_agent_is_skipped_then_runs_next_tick(home: Home) -> None:
    script = scripted.install(["Alert!"])
    config = setup(home)
    lock_dir = home.locks_dir / "sessions"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lane = file_lock(lock_dir / f"{encode_component('agent:main:main')}.turn.lock")
    with lane:  # a turn is running in the main session (as another process would hold it)
        out = run_once(home, config, "main", now=T0 + EVERY, armed_at=T0)
    assert (out.outcome, out.step) == ("skipped", "agent_idle") and not script.calls
    out = run_once(home, config, "main", now=T0 + EVERY + 60)
    assert out.outcome == "sent"


def test_a_message_waiting_for_this_agent_skips_its_heartbeat(home: Home) -> None:
    """Channel idle: a received message routed to this agent is answered first; one for
    another agent does not hold this one back."""
    from claw.delivery.inbox import InboundMessage, Inbox

    set_value(home.config_file, "agents.work.model", "echo")
    set_value(
        home.config_file,
        "bindings",
        '[{"agent": "work", "match": {"channel": "mock", "peer": "bob"}}]',
    )
    script = scripted.install(["Alert!"])
    config = setup(home)
    inbox = Inbox(home)
    inbox.record(InboundMessage(channel="mock", channel_message_id="1", peer="bob", text="hi"))
    out = run_once(home, config, "main", now=T0 + EVERY, armed_at=T0, dry_run=True)
    assert out.outcome == "would-run"  # bob's message is for the work agent
    inbox.record(InboundMessage(channel="mock", channel_message_id="2", peer="ann", text="hi"))
    out = run_once(home, config, "main", now=T0 + EVERY, armed_at=T0)
    assert (out.outcome, out.step) == ("skipped", "channel_idle") and not script.calls
    assert "for main" in out.reason


def test_disabled_dry_run_and_no_target(home: Home) -> None:
    script = scripted.install(["Alert!"])
    config = setup(home, enabled="false")
    assert run_once(home, config, "main", now=T0 + 9 * EVERY, armed_at=T0).step == "enabled"
    config = setup(home, enabled="true")
    out = run_once(home, config, "main", now=T0 + 9 * EVERY, dry_run=True)
    assert out.outcome == "would-run" and not script.calls
    config = setup(home, target="last")
    out = run_once(home, config, "main", force=True, now=T0 + 9 * EVERY)
    assert out.outcome == "no-target" and "nobody has talked" in out.reason


def _at(zone: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()


def test_active_hours_across_midnight_and_dst(home: Home) -> None:
    paris = "Europe/Paris"
    config = setup(home, **{})
    set_value(home.config_file, "agents.main.heartbeat.active_hours.start", "22:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.end", "06:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.timezone", paris)
    s = settings_for(load(home.config_file), "main")

    def active(*when: int) -> bool:
        return s.in_active_hours(datetime.fromtimestamp(_at(paris, *when), ZoneInfo("UTC")))

    assert active(2026, 3, 28, 23, 30) and active(2026, 3, 29, 1, 30)
    # 2026-03-29: clocks jump 02:00 -> 03:00 in Paris; 05:59 local is still inside…
    assert active(2026, 3, 29, 5, 59) and not active(2026, 3, 29, 6, 0)
    assert not active(2026, 3, 29, 12, 0) and active(2026, 10, 25, 2, 30)  # fall back night
    set_value(home.config_file, "agents.main.heartbeat.active_hours.start", "08:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.end", "22:00")
    s = settings_for(load(home.config_file), "main")
    # 07:30 UTC is 08:30 in winter (inside) but 09:30 in summer (inside); 06:30 UTC is
    # 07:30 in winter (outside) and 08:30 in summer (inside): the zone, not UTC, decides.
    utc = ZoneInfo("UTC")
    assert not s.in_active_hours(datetime(2026, 1, 15, 6, 30, tzinfo=utc))
    assert s.in_active_hours(datetime(2026, 7, 15, 6, 30, tzinfo=utc))
    assert config is not None


def test_outside_active_hours_is_skipped_with_the_reason(home: Home) -> None:
    script = scripted.install(["Alert!"])
    setup(home)
    set_value(home.config_file, "agents.main.heartbeat.active_hours.start", "08:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.end", "09:00")
    set_value(home.config_file, "agents.main.heartbeat.active_hours.timezone", "Asia/Tokyo")
    config = load(home.config_file)
    night = _at("Asia/Tokyo", 2026, 9, 21, 3, 0)
    out = run_once(home, config, "main", now=night, armed_at=night - 2 * EVERY)
    assert out.step == "active_hours" and "Asia/Tokyo" in out.reason and not script.calls


def test_cli_run_once_and_status(cli, home: Home) -> None:
    scripted.install(["HEARTBEAT_OK"])
    setup(home)
    r = cli("heartbeat", "run-once", "--json")
    assert r.exit_code == 0 and '"step": "interval"' in r.stdout  # armed now: not due yet
    r = cli("heartbeat", "run-once", "--force")
    assert r.exit_code == 0 and "main: silent (run): HEARTBEAT_OK" in r.stdout
    r = cli("heartbeat", "status", "--json")
    assert '"last_outcome": "silent"' in r.stdout


def test_the_ticker_runs_when_due_and_follows_file_changes(home: Home) -> None:
    """The daemon's ticker: armed at start (no run then), runs when due, and picks up an
    edited HEARTBEAT.md and a changed config.toml without a restart."""
    import trio

    from claw.heartbeat.ticker import Ticker

    script = scripted.install(["Alert: the disk is full."])
    setup(home, "# Nothing yet\n", every="1s")
    reloads: list[float] = []

    async def reload() -> None:
        reloads.append(trio.current_time())

    async def main() -> None:
        with trio.fail_after(15):
            ticker = Ticker(home, load(home.config_file), reload=reload, tick_s=0.2)
            async with trio.open_nursery() as nursery:
                await nursery.start(ticker.run)
                assert ticker.last["main"].step == "interval"  # never at start-up
                while ticker.last["main"].step != "content":
                    await trio.sleep(0.05)
                assert script.calls == []
                await trio.sleep(0.3)  # let the watches start
                (home.agent_dir("main") / "HEARTBEAT.md").write_text("- check the disk\n")
                while ticker.last["main"].outcome != "sent":
                    await trio.sleep(0.05)
                set_value(home.config_file, "agents.main.heartbeat.every", "1h")
                while not reloads:
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel()

    trio.run(main)
    # Every second until the new interval landed; the same alert was queued only once.
    from claw.delivery.queue import QueueStore

    assert len(script.calls) >= 1 and len(QueueStore(home).ids()) == 1


def test_reminders_fire_once_at_due_time_and_due_tasks_reach_the_prompt(home: Home) -> None:
    from datetime import UTC, datetime, timedelta

    from claw.tasks.store import TaskStore

    script = scripted.install(["HEARTBEAT_OK"])
    config = setup(home, "# nothing in the checklist\n")
    due = datetime.fromtimestamp(T0, UTC) + timedelta(hours=1)
    tasks = TaskStore(home)
    tasks.add("Pay rent", due=due, remind=True, notes="to the landlord")
    tasks.add("Water plants", due=due)
    before = run_once(home, config, "main", force=True, now=T0 + 3599)
    assert before.reminders == [] and before.step == "content" and not script.calls
    at = run_once(home, config, "main", force=True, now=T0 + 3600)
    assert len(at.reminders) == 1 and at.outcome == "silent"
    # The model saw both due tasks (an empty checklist did not stop it this time).
    prompt = script.calls[0][-1]["content"]
    assert "Tasks due or overdue:" in prompt and "Pay rent" in prompt and "Water plants" in prompt
    later = run_once(home, config, "main", force=True, now=T0 + 7200)
    assert later.reminders == []  # once only
    run_flush(home, config)
    texts = [m["text"] for m in read_outbox(home)]
    assert len(texts) == 1 and texts[0].startswith("Reminder: Pay rent (due ")
    assert texts[0].endswith("to the landlord")


def test_silent_heartbeats_do_not_grow_later_prompts(home: Home) -> None:
    """An acknowledged (or repeated) heartbeat is retracted from what the model reads:
    the tenth idle check sends the model what the first did."""
    script = scripted.install(["HEARTBEAT_OK"] * 10 + ["Real news.", "Real news."])
    config = setup(home)
    for i in range(10):
        assert run_once(home, config, "main", force=True, now=T0 + i).outcome == "silent"
    sizes = [len(call) for call in script.calls]
    assert sizes == [sizes[0]] * 10  # system + the one heartbeat prompt, every time
    assert run_once(home, config, "main", force=True, now=T0 + 20).outcome == "sent"
    assert run_once(home, config, "main", force=True, now=T0 + 30).outcome == "duplicate"
    # A message that was sent stays in the conversation; the repeat does not.
    assert len(script.calls[-1]) == sizes[0] + 2


def test_a_reminder_with_no_target_yet_waits_for_one_instead_of_vanishing(home: Home) -> None:
    """`target = "last"` before anyone has talked to the agent: the reminder stays due (it
    used to be marked reminded and lost) and goes out once a chat gives it a target."""
    from datetime import UTC, datetime, timedelta

    from claw.heartbeat.last_target import remember
    from claw.tasks.store import TaskStore

    scripted.install(["HEARTBEAT_OK"] * 4)
    config = setup(home, "# nothing\n", target="last")
    due = datetime.fromtimestamp(T0, UTC) + timedelta(minutes=5)
    task = TaskStore(home).add("Pay rent", due=due, remind=True)
    assert run_once(home, config, "main", force=True, now=T0 + 600).reminders == []
    assert run_once(home, config, "main", force=True, now=T0 + 700).reminders == []
    assert TaskStore(home).get(task.id).reminded_at is None  # still armed
    remember(home, "main", "mock", "me")
    assert len(run_once(home, config, "main", force=True, now=T0 + 800).reminders) == 1
    assert run_once(home, config, "main", force=True, now=T0 + 900).reminders == []
    run_flush(home, config)
    assert [m["text"].split(" (")[0] for m in read_outbox(home)] == ["Reminder: Pay rent"]


def test_the_daemon_sends_reminders_for_an_agent_whose_heartbeat_is_off(home: Home) -> None:
    """Reminders need no model: turning the heartbeat's check-ins off must not silence
    them in the daemon (`claw heartbeat run-once` already sent them)."""
    from datetime import UTC, datetime, timedelta

    import trio

    from claw.heartbeat.ticker import Ticker
    from claw.tasks.store import TaskStore

    script = scripted.install(["should not be called"])
    setup(home, "- check the disk\n", enabled="false")
    due = datetime.now(UTC) - timedelta(minutes=1)
    TaskStore(home).add("Pay rent", due=due, remind=True)

    async def main() -> None:
        with trio.fail_after(15):
            ticker = Ticker(home, load(home.config_file), tick_s=0.2)
            async with trio.open_nursery() as nursery:
                await nursery.start(ticker.run)
                while not (ticker.last.get("main") and ticker.last["main"].reminders):
                    await trio.sleep(0.05)
                assert ticker.last["main"].step == "enabled"  # no check-in, no model
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert script.calls == []
    run_flush(home, load(home.config_file))
    assert [m["text"].split(" (")[0] for m in read_outbox(home)] == ["Reminder: Pay rent"]


def test_the_daemon_wakes_for_a_reminder_not_at_the_next_heartbeat(home: Home) -> None:
    """With the next heartbeat an hour away, a reminder added meanwhile and due in two
    seconds goes out then: the ticker used to sleep until the heartbeat was due."""
    from datetime import UTC, datetime, timedelta

    import trio

    from claw.heartbeat.ticker import Ticker
    from claw.tasks.store import TaskStore

    scripted.install(["should not be called"])
    setup(home, "- check the disk\n", every="1h")

    async def main() -> None:
        with trio.fail_after(20):
            ticker = Ticker(home, load(home.config_file), tick_s=3600)
            async with trio.open_nursery() as nursery:
                await nursery.start(ticker.run)
                assert ticker.last["main"].step == "interval"
                await trio.sleep(0.5)  # let the watches start
                due = datetime.now(UTC) + timedelta(seconds=2)
                TaskStore(home).add("Pay rent", due=due, remind=True)
                while not ticker.last["main"].reminders:
                    await trio.sleep(0.05)
                assert datetime.now(UTC) >= due.replace(microsecond=0)  # stored to the second
                nursery.cancel_scope.cancel()

    trio.run(main)
