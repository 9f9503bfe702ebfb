"""Global lanes: a full lane makes turns wait, and says so in the log without flooding it."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from claw.agent import lanes


def test_waits_for_a_full_lane_are_logged_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lanes, "WAIT_LOG_S", 0.01)
    pool = lanes.Lanes()
    ran: list[int] = []

    def turn(n: int) -> None:
        with pool.slot("main", 1):
            time.sleep(0.03)
            ran.append(n)

    with caplog.at_level(logging.WARNING, logger="claw.agent.lanes"):
        threads = [threading.Thread(target=turn, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert sorted(ran) == list(range(6))  # everyone ran, one at a time
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("lane main is full: 1 turn(s) waited")

    monkeypatch.setattr(lanes, "LOG_EVERY_S", 0.0)  # the next wait reports the folded ones
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="claw.agent.lanes"):
        blocker = threading.Thread(target=turn, args=(6,))
        blocker.start()
        time.sleep(0.005)
        turn(7)
        blocker.join(10)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("lane main is full: 5 turn(s) waited") and "[lanes] main" in line
