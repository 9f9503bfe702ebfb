"""Multi mode: plan, parallel subagents in their own sessions with a reduced tool set
under the `subagent` lane, a timed-out subagent reported in the answer, progress events
through the gateway."""

from __future__ import annotations

import time

import pytest

from claw.agent import models
from claw.agent.events import MessageDelta, ModeDecision, SubagentEnd, SubagentStart
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.supervisor import registry
from tests import scripted
from tests.gateway.live import call, run, running, ws_client
from tests.supervisor._helpers import Roles, configure, messages_of, replies, supervised

THREE = "Compare the weather in Paris, London and Berlin this weekend"
TASKS = ["weather in Paris", "weather in London", "weather in Berlin"]


@pytest.fixture
def config(home: Home):
    return configure(
        home,
        model__default="scripted/test",
        supervisor__subagent_timeout_s="1",
        lanes__subagent="3",
    )


@pytest.mark.timeout(30)
def test_three_subagents_one_times_out_and_the_answer_says_so(home: Home, config) -> None:
    roles = Roles(plan=TASKS, sub={"weather in London": 6.0}, final="Paris sunny, Berlin rainy.")
    script = scripted.install(replies(roles))
    models.litellm()  # imported before the clock starts: the timing is the supervisor's
    t0 = time.monotonic()
    events, end = supervised(home, config, THREE)
    took = time.monotonic() - t0
    assert end is not None and end.result.mode == "multi"
    assert took < 5  # the slow one was not waited for (1 s limit + grace), nor run in series
    starts = [e for e in events if isinstance(e, SubagentStart)]
    ends = {e.subagent_id: e for e in events if isinstance(e, SubagentEnd)}
    assert sorted(s.task for s in starts) == sorted(TASKS) and len(ends) == 3
    status = {s.task: ends[s.subagent_id].status for s in starts}
    assert status == {
        "weather in Paris": "ok",
        "weather in London": "timeout",
        "weather in Berlin": "ok",
    }
    # the failed part is named in the answer, whatever the model wrote
    text = end.result.text
    assert text.startswith("Paris sunny, Berlin rainy.")
    assert "Not done" in text and "sub-task 2 (weather in London) timed out" in text
    assert "".join(e.text for e in events if isinstance(e, MessageDelta)) == text
    # the final answer saw every result, and the timeout
    final_call = next(c for c in script.calls if "subagents have worked on" in c[0]["content"])
    assert "result of weather in Paris" in final_call[0]["content"]
    assert "Sub-task 2 (timeout)" in final_call[0]["content"]
    # each subagent ran in its own session, without spawn, as a child of the user's session
    store = SessionStore(home)
    for s in starts:
        assert s.session_key == f"agent:main:subagent:{s.subagent_id}"
        assert store.exists(s.session_key)
        rec = registry.load(home, s.subagent_id)
        assert rec is not None and rec.parent == "agent:main:main" and rec.origin == "multi"
        assert rec.status == status[s.task]
    store.close()
    sub_calls = [
        p
        for c, p in zip(script.calls, script.params, strict=True)
        if "You are a subagent" in c[0]["content"]
    ]
    offered = {t["function"]["name"] for p in sub_calls for t in p.get("tools", [])}
    assert offered and "spawn" not in offered
    user, reply = messages_of(home)
    assert user["content"] == THREE and reply["mode"] == "multi"
    assert sorted(s["status"] for s in reply["subagents"]) == ["ok", "ok", "timeout"]


@pytest.mark.timeout(30)
def test_the_subagent_lane_caps_how_many_run_at_once(home: Home) -> None:
    config = configure(home, model__default="scripted/test", lanes__subagent="2")
    roles = Roles(plan=[f"part {i}" for i in range(4)], sub_delay=0.3)
    scripted.install(replies(roles))
    _, end = supervised(home, config, THREE)
    assert end is not None and end.result.mode == "multi"
    assert roles.peak == 2  # four parts, two at a time
    one = configure(home, lanes__subagent="1")
    roles = Roles(plan=[f"part {i}" for i in range(3)], sub_delay=0.1)
    scripted.install(replies(roles))
    supervised(home, one, THREE)
    assert roles.peak == 1


def test_plans_are_capped_and_parsed_leniently() -> None:
    from claw.supervisor.multi import parse_plan

    assert parse_plan('Sure:\n["a", "b", "c", "d", "e"]', 4) == ["a", "b", "c", "d"]
    assert parse_plan("1. first\n2) second\n- third", 5) == ["first", "second", "third"]
    assert parse_plan("[]", 4) == []


def test_an_aborted_parent_stops_its_subagents(home: Home, config) -> None:
    import threading

    roles = Roles(plan=TASKS, sub_delay=0.5)
    scripted.install(replies(roles))
    abort = threading.Event()
    threading.Timer(0.2, abort.set).start()
    events, end = supervised(home, config, THREE, abort=abort)
    ends = [e.status for e in events if isinstance(e, SubagentEnd)]
    assert len(ends) == 3 and set(ends) <= {"interrupted", "ok"}
    assert end is not None and end.result.status == "interrupted"


@pytest.mark.timeout(30)
def test_subagent_progress_streams_through_the_gateway(home: Home, config) -> None:
    scripted.install(replies(Roles(plan=TASKS, final="Weekend summary.")))

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            events: list = []
            params = {"text": "whatever", "mode": "multi", "session_key": "trip"}
            res = (await call(ws, "chat.send_stream", params, events=events))["result"]
            kinds = [e["type"] for e in events]
            assert kinds[0] == "supervisor.mode" and events[0]["mode"] == "multi"
            assert kinds.count("subagent.start") == 3 and kinds.count("subagent.end") == 3
            assert kinds.index("chat.start") > max(
                i for i, k in enumerate(kinds) if k.startswith("subagent.")
            )
            assert kinds[-1] == "chat.end"
            assert {e["status"] for e in events if e["type"] == "subagent.end"} == {"ok"}
            assert res["mode"] == "multi" and res["text"] == "Weekend summary."
            bad = await call(ws, "chat.send", {"text": "x", "mode": "turbo"})
            assert bad["error"]["code"] == -32602

    run(main)


def test_decision_precedes_subagents_in_process(home: Home, config) -> None:
    scripted.install(replies(Roles(plan=TASKS)))
    events, _ = supervised(home, config, THREE)
    first = events[0]
    assert isinstance(first, ModeDecision) and first.mode == "multi" and first.source == "rule"


def test_stopping_to_listen_waits_for_a_subagent_writing_its_ending(
    home: Home, config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subagent that has just ended may still be writing its record when the caller
    goes away; the parent must not return before it is written, or a process exiting
    then leaves it "running" for the next daemon to run again."""
    from claw.agent.turn import TurnRequest
    from claw.supervisor.dispatch import supervise

    real_mark = registry.mark

    def slow_mark(home_: Home, rec, status: str, text: str = "") -> None:
        if status == "ok":
            time.sleep(2.0)  # a slow disk, or a descheduled thread
        real_mark(home_, rec, status, text)

    monkeypatch.setattr(registry, "mark", slow_mark)
    scripted.install(replies(Roles(plan=TASKS)))
    models.litellm()  # imported already: the subagents answer within the sleep below
    store = SessionStore(home)
    events = supervise(home, config, store, TurnRequest(THREE))
    next(e for e in events if isinstance(e, SubagentStart))
    time.sleep(1.0)  # the subagents have answered and are writing "ok"
    events.close()
    store.close()
    assert registry.open_records(home) == []


def test_a_caller_that_stops_listening_stops_the_subagents(home: Home, config) -> None:
    from claw.agent.turn import TurnRequest
    from claw.supervisor.dispatch import supervise

    scripted.install(replies(Roles(plan=TASKS, sub_delay=0.5)))
    store = SessionStore(home)
    events = supervise(home, config, store, TurnRequest(THREE))
    first = next(e for e in events if isinstance(e, SubagentStart))
    events.close()  # a gateway client went away
    store.close()
    rec = registry.load(home, first.subagent_id)
    assert rec is not None and rec.status == "interrupted"
    assert registry.open_records(home) == []
