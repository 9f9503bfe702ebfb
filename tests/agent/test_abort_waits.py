"""An aborted turn stops at once wherever it waits: for its session lane (another
process's turn), for a global lane slot, or for a model that is silent."""

from __future__ import annotations

import threading
import time

import pytest

from claw.agent import lanes
from claw.agent.events import AgentEnd, MessageDelta
from claw.agent.pump import Stopped, pumped
from claw.agent.session_lane import _lane_lock
from claw.agent.turn import TurnRequest, TurnTimeout, run_turn
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, records

BOUND_S = 1.0  # the aim is POLL_S (0.05 s); generous for a loaded 2-CPU box


def _abort_after(delay: float) -> threading.Event:
    abort = threading.Event()
    threading.Timer(delay, abort.set).start()
    return abort


def _timed_turn(home: Home, req: TurnRequest) -> tuple[list, float]:
    config = cfg.load(home.config_file)
    t0 = time.monotonic()
    events = list(run_turn(home, config, SessionStore(home), req))
    return events, time.monotonic() - t0


def test_a_full_lane_wait_ends_when_aborted() -> None:
    pool = lanes.Lanes()
    with pool.slot("main", 1):
        abort = _abort_after(0.2)
        t0 = time.monotonic()
        with pytest.raises(Stopped), pool.slot("main", 1, abort):
            pass
        assert time.monotonic() - t0 < 0.2 + BOUND_S
    with pool.slot("main", 1, threading.Event()):  # the slot was not leaked
        pass


def test_a_turn_waiting_for_its_busy_session_is_aborted_cleanly(home: Home) -> None:
    scripted.install(["never asked"])
    store = SessionStore(home)
    other = _lane_lock(store, MAIN)  # another process's turn holds the session
    other.acquire()
    try:
        req = TurnRequest("hi", model="scripted/test", abort=_abort_after(0.3))
        events, took = _timed_turn(home, req)
    finally:
        other.release()
    assert took < 0.3 + BOUND_S
    assert isinstance(events[-1], AgentEnd) and events[-1].result.status == "interrupted"
    assert not SessionStore(home).exists(MAIN)  # it had not begun: nothing recorded


def test_a_turn_out_of_time_while_waiting_for_its_session_times_out(home: Home) -> None:
    store = SessionStore(home)
    other = _lane_lock(store, MAIN)
    other.acquire()
    try:
        with pytest.raises(TurnTimeout):
            _timed_turn(home, TurnRequest("hi", model="scripted/test", timeout_s=0.3))
    finally:
        other.release()


def test_abort_while_the_model_is_silent_keeps_the_partial_reply(home: Home) -> None:
    scripted.install([{"text": "first words and then silence", "stall": (2, 8.0)}])
    abort = threading.Event()
    config = cfg.load(home.config_file)
    req = TurnRequest("hi", model="scripted/test", abort=abort)
    seen: list[str] = []
    t0 = None
    for event in run_turn(home, config, SessionStore(home), req):
        if isinstance(event, MessageDelta):
            seen.append(event.text)
            if len(seen) == 2:
                threading.Timer(0.3, abort.set).start()
                t0 = time.monotonic()
        end = event
    assert t0 is not None and time.monotonic() - t0 < 0.3 + BOUND_S
    assert isinstance(end, AgentEnd) and end.result.status == "interrupted"
    last = [r for r in records(home) if r.get("role") == "assistant"][-1]
    assert last["status"] == "interrupted" and last["content"] == "first words "


def test_the_deadline_is_kept_while_the_model_is_silent(home: Home) -> None:
    scripted.install([{"text": "too slow", "stall": (0, 8.0)}])
    t0 = time.monotonic()
    with pytest.raises(TurnTimeout):
        _timed_turn(home, TurnRequest("hi", model="scripted/test", timeout_s=0.5))
    assert time.monotonic() - t0 < 0.5 + BOUND_S


def test_pumped_passes_items_and_errors_through() -> None:
    flag = threading.Event()
    assert list(pumped(lambda: iter([1, 2, 3]), flag)) == [1, 2, 3]

    def broken():
        yield 1
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for item in pumped(broken, flag):
            got.append(item)
    assert got == [1]


def test_an_abandoned_call_is_told_to_stop_and_closed() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def slow():
        try:
            for i in range(100):
                produced.append(i)
                yield i
                time.sleep(0.05)
        finally:
            closed.set()

    flag = threading.Event()
    for item in pumped(slow, flag):
        if item == 2:
            flag.set()
            break
    assert closed.wait(2.0)
    assert len(produced) < 10
