#!/usr/bin/env python3
"""Benchmark the heartbeat's silence: simulated ticks against the scripted model.

    .venv/bin/python bench/heartbeat.py            full run (6 scenarios x 2 days of minutes)
    .venv/bin/python bench/heartbeat.py --quick    smoke run (6 scenarios x 5 hours)

A fake clock advances one minute per tick; each tick is one `run_once(home, config, "main",
now=t, armed_at=T0)`, as the daemon's ticker calls it, with every = 30m and the scripted
model. Each scenario has its own CLAW_HOME and an independent oracle of when a run is due
(every 30 minutes, inside active hours, agent idle, checklist not empty) and what should
be sent:
  1. nothing due: HEARTBEAT.md of headings, comments and empty checkboxes only;
  2. quiet hours: a real checklist, active hours 09:00-17:00 Asia/Tokyo;
  3. busy: the main session's turn lock held during random stretches (~30 % of the time);
  4. duplicate: the model always gives the same alert (sent once per 24 h dedup window);
  5. small talk: HEARTBEAT_OK with up to ~200 characters of chatter, in several spellings;
  6. real alert: a new alert every 6th run, HEARTBEAT_OK otherwise.
Token cost is estimated as (characters of the prompt messages + reply) / 4 per model call.

Everything happens in a temporary directory, removed at the end (also on Ctrl-C).
Exit status: 0 if every row passed, 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.delivery.queue import QueueStore  # noqa: E402
from claw.heartbeat.content import fingerprint, is_silent  # noqa: E402
from claw.heartbeat.runner import run_once  # noqa: E402
from claw.state.config import Config, load, set_value  # noqa: E402
from claw.state.home import Home  # noqa: E402
from claw.state.locks import file_lock  # noqa: E402
from claw.state.names import encode_component  # noqa: E402
from tests import scripted  # noqa: E402

T0 = 1_790_000_000.0  # 2026-09-21, the clock's start (and when the heartbeat is armed)
TICK = 60.0
EVERY = 1800.0
WINDOW = 86400.0  # the dedup window (default 24h)
ZONE = ZoneInfo("Asia/Tokyo")
OPEN, CLOSE = clock(9, 0), clock(17, 0)
CHECKLIST = "# Heartbeat\n\n- Tell me if the backup job failed\n- Tell me if the disk is full\n"
EMPTY = "# Heartbeat\n\n## Every morning\n- [ ]\n* [ ] \n<!-- add checks here -->\n---\n"
OK = "HEARTBEAT_OK"
CHATTER = (
    "Nothing needs you right now: the backup ran at 03:00 and finished cleanly, the disk is at "
    "41 %, no new mail from the people on your list, and the build has been green all day. "
)
SMALL_TALK = [
    OK,
    f"All good! {OK}",
    f"**{OK}**",
    f"{OK}.",
    f"{OK}\n{CHATTER[:120]}",
    f"{CHATTER.strip()} {OK}",
    f"Quiet afternoon, nothing to report. {OK}",
    f"{OK} — {CHATTER[:200]}",
]


@dataclass
class Tally:
    name: str
    ticks: int = 0
    idle_minutes: float = 0.0  # simulated time with nothing to check (see Scenario.idle)
    calls: int = 0
    unwanted_calls: int = 0  # calls when the oracle says no run was due
    missed_runs: int = 0  # due, idle, in hours, with something to check, and not run
    idle_tokens: int = 0  # tokens of calls made while there was nothing to check
    tokens: int = 0
    per_call: list[int] = field(default_factory=list)
    sent: int = 0
    wrong_sends: int = 0  # messages that should not have been sent
    alerts: int = 0  # alerts that should have been sent
    missed_alerts: int = 0
    queued: int = 0
    skip_s: list[float] = field(default_factory=list)
    run_s: list[float] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    checklist: str = CHECKLIST
    reply: Callable[[int], str] = lambda n: OK  # the n-th model call's reply
    active: Callable[[float], bool] = lambda t: True
    busy: Callable[[int], bool] = lambda i: False  # is tick i inside a busy stretch?
    extra: dict[str, str] = field(default_factory=dict)
    idle: Callable[[float], bool] = lambda t: False  # nothing to do at t, by design


def tokens_of(messages: list[dict[str, Any]], reply: str) -> int:
    chars = sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str))
    return (chars + len(reply)) // 4


def in_hours(t: float) -> bool:
    return OPEN <= datetime.fromtimestamp(t, ZONE).time() < CLOSE


def busy_schedule(ticks: int, seed: int = 7) -> list[bool]:
    """Random busy stretches of 1-90 minutes covering roughly 30 % of the ticks."""
    rng = random.Random(seed)
    marks = [False] * ticks
    i = rng.randrange(20, 40)
    while i < ticks:
        length = rng.randint(1, 90)
        for j in range(i, min(ticks, i + length)):
            marks[j] = True
        i += length + rng.randint(30, 240)
    return marks


def configure(home: Home, scenario: Scenario) -> Config:
    set_value(home.config_file, "model.default", "scripted/test")
    set_value(home.config_file, "agents.main.heartbeat.target", "mock:me")
    set_value(home.config_file, "agents.main.heartbeat.every", "30m")
    for key, value in scenario.extra.items():
        set_value(home.config_file, f"agents.main.heartbeat.{key}", value)
    (home.agent_dir("main") / "HEARTBEAT.md").write_text(scenario.checklist)
    return load(home.config_file, environ={})


def simulate(base: Path, scenario: Scenario, ticks: int) -> Tally:
    home = new_home(base, scenario.name.split(":")[0].replace(" ", "-"))
    os.environ["CLAW_HOME"] = str(home.root)
    config = configure(home, scenario)
    tally = Tally(scenario.name)
    replies: list[str] = []

    def reply(messages: list[dict[str, Any]]) -> str:
        text = scenario.reply(len(replies))
        replies.append(text)
        return text

    script = scripted.install([reply] * (ticks + 10), context_window=10_000_000)
    lock_dir = home.locks_dir / "sessions"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lane = file_lock(lock_dir / f"{encode_component('agent:main:main')}.turn.lock")
    real_content = scenario.checklist is not EMPTY
    due = T0 + EVERY  # the oracle: first run one interval after arming
    last_sent: dict[str, float] = {}
    held = False
    for i in range(1, ticks + 1):
        t = T0 + i * TICK
        busy = scenario.busy(i)
        if busy and not held:
            lane.acquire()
        elif held and not busy:
            lane.release()
        held = busy
        expect_run = real_content and t >= due and scenario.active(t) and not busy
        idle = scenario.idle(t)
        before = len(script.calls)
        started = time.perf_counter()
        out = run_once(home, config, "main", now=t, armed_at=T0)
        elapsed = time.perf_counter() - started
        made = len(script.calls) - before
        tally.ticks += 1
        tally.idle_minutes += TICK / 60 if idle else 0
        (tally.run_s if made else tally.skip_s).append(elapsed)
        if made:
            spent = sum(
                tokens_of(script.calls[before + k], replies[before + k]) for k in range(made)
            )
            tally.calls += made
            tally.tokens += spent
            tally.per_call.append(spent)
            tally.idle_tokens += spent if idle else 0
            tally.unwanted_calls += made if not expect_run else max(0, made - 1)
        elif expect_run:
            tally.missed_runs += 1
        if expect_run:
            due = t + EVERY
        # What should have been sent by this tick's run (if it ran)?
        text = replies[before] if made else None
        should_send = False
        if text is not None and not is_silent(text, 300)[0]:
            fp = fingerprint(text)
            should_send = fp not in last_sent or t - last_sent[fp] >= WINDOW
            if should_send:
                tally.alerts += 1
        if out.outcome == "sent":
            tally.sent += 1
            if should_send:
                last_sent[fingerprint(text or "")] = t
            else:
                tally.wrong_sends += 1
        elif should_send:
            tally.missed_alerts += 1
    if held:
        lane.release()
    tally.queued = len(QueueStore(home).ids())
    return tally


def scenarios(ticks: int) -> list[Scenario]:
    marks = busy_schedule(ticks + 1)
    return [
        Scenario(
            "1 nothing due",
            checklist=EMPTY,
            reply=lambda n: "The disk is full.",
            idle=lambda t: True,
        ),
        Scenario(
            "2 quiet hours",
            reply=lambda n: OK,
            active=in_hours,
            idle=lambda t: not in_hours(t),
            extra={
                "active_hours.start": "09:00",
                "active_hours.end": "17:00",
                "active_hours.timezone": "Asia/Tokyo",
            },
        ),
        Scenario("3 busy", reply=lambda n: OK, busy=lambda i: marks[i]),
        Scenario("4 duplicate", reply=lambda n: "The disk is 95% full: free some space today."),
        Scenario("5 small talk", reply=lambda n: SMALL_TALK[n % len(SMALL_TALK)]),
        Scenario(
            "6 real alert",
            reply=lambda n: (
                f"Backup job #{n} failed at step {n % 7}: exit status {n % 5 + 1}."
                if n % 6 == 5
                else OK
            ),
        ),
    ]


def rows_for(tallies: list[Tally], wall_s: float, quick: bool) -> list[Row]:
    rows = [
        Row(
            f"scenario {t.name}",
            f"{t.ticks:,} ticks, {t.calls} model calls, {t.sent} sent",
            "—",
            None,
        )
        for t in tallies
    ]
    total = sum(t.ticks for t in tallies)
    enough = None if quick else total >= 10_000  # a smoke run is short by design
    rows.append(Row("ticks simulated, total", f"{total:,}", "≥ 10,000", enough))
    calls = sum(t.calls for t in tallies)
    rows.append(Row("model calls made (all scenarios)", f"{calls:,}", "—", None))
    unwanted = sum(t.unwanted_calls for t in tallies)
    idle_calls = sum(t.calls for t in tallies if t.name.startswith("1"))
    rows.append(
        Row(
            "model calls when nothing needed attention",
            f"{unwanted} (of which nothing due: {idle_calls})",
            "0",
            unwanted == 0,
        )
    )
    missed_runs = sum(t.missed_runs for t in tallies)
    rows.append(Row("due runs not made (idle, in hours)", str(missed_runs), "0", missed_runs == 0))
    sent = sum(t.sent for t in tallies)
    wrong = sum(t.wrong_sends for t in tallies)
    share = 100 * wrong / sent if sent else 0.0
    rows.append(
        Row(
            "messages that should not have been sent",
            f"{wrong} of {sent} sent ({share:.1f} %)",
            "0 (plan: < 1 %)",
            wrong == 0,
        )
    )
    alerts = sum(t.alerts for t in tallies)
    missed = sum(t.missed_alerts for t in tallies)
    queued = sum(t.queued for t in tallies)
    rows.append(
        Row(
            "alerts that should have been sent and were not",
            f"{missed} of {alerts} (queue entries: {queued})",
            "0",
            missed == 0 and queued == sent,
        )
    )
    idle = [t for t in tallies if t.name[0] in "12"]
    idle_days = sum(t.idle_minutes for t in idle) / 1440
    idle_tokens = sum(t.idle_tokens for t in idle)
    per_day = idle_tokens / idle_days if idle_days else 0.0
    rows.append(
        Row(
            "tokens per idle day, every 30m (1, 2 off-hours)",
            f"{per_day:.0f} ({idle_days:.1f} idle days simulated)",
            "0",
            idle_tokens == 0,
        )
    )
    tokens = sum(t.tokens for t in tallies)
    rows.append(Row("tokens per model call (estimate)", f"{tokens / max(calls, 1):.0f}", "—", None))
    talk = next(t for t in tallies if t.name.startswith("5"))
    if talk.per_call:
        days = talk.ticks / 1440
        rows.append(
            Row(
                "tokens per day, real checklist, all OK (scenario 5)",
                f"{talk.tokens / days:,.0f} (per call: first {talk.per_call[0]:,}, "
                f"last {talk.per_call[-1]:,})",
                "—",
                None,
            )
        )
    skips = [s for t in tallies for s in t.skip_s]
    runs = [s for t in tallies for s in t.run_s]
    rows.append(
        Row(
            "time per tick, no model call",
            f"median {fmt_s(statistics.median(skips))} (n={len(skips):,})",
            "—",
            None,
        )
    )
    if runs:
        rows.append(
            Row(
                "time per tick with a model turn",
                f"median {fmt_s(statistics.median(runs))} (n={len(runs):,})",
                "—",
                None,
            )
        )
    rows.append(Row("wall time, all ticks", fmt_s(wall_s), "—", None))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the heartbeat's silence rules.")
    parser.add_argument("--quick", action="store_true", help="5 hours per scenario: a smoke run")
    parser.add_argument("--dir", type=Path, default=None, help="make the temporary directory here")
    args = parser.parse_args(argv)
    ticks = 300 if args.quick else 2 * 1440
    for name in list(os.environ):
        if name.startswith("CLAW_"):
            del os.environ[name]
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="claw-bench-", dir=args.dir))
    try:
        tallies = []
        for scenario in scenarios(ticks):
            print(f"  … {scenario.name}: {ticks:,} ticks", file=sys.stderr, flush=True)
            tallies.append(simulate(base, scenario, ticks))
        wall = time.perf_counter() - started
    finally:
        print(f"  … removing {base}", file=sys.stderr, flush=True)
        shutil.rmtree(base, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    title = (
        f"claw heartbeat benchmark ({mode}; {ticks:,} one-minute ticks per scenario; python "
        f"{sys.version.split()[0]}; {time.perf_counter() - started:.0f} s)"
    )
    return report(title, rows_for(tallies, wall, args.quick))


if __name__ == "__main__":
    sys.exit(main())
