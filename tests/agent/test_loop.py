"""The agent loop end to end through `run_turn`: events, tools, replies, hooks, compaction,
timeouts, aborts and lanes. Failover lives in test_loop_failover.py, the CLI in
test_loop_cli.py."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent import compaction
from claw.agent.events import (
    AgentEnd,
    AgentStart,
    CompactionEnd,
    CompactionStart,
    MessageDelta,
    MessageEnd,
    ReasoningDelta,
    Retry,
    ToolEnd,
    ToolStart,
)
from claw.agent.hooks import clear_cache
from claw.agent.models import litellm
from claw.agent.tools.base import TRUNCATION_MARKER
from claw.agent.turn import TurnRequest, TurnTimeout, run_turn
from claw.errors import ClawError
from claw.state import config as cfg
from claw.state import transcript
from claw.state.home import Home
from claw.state.locks import Timeout, file_lock
from claw.state.names import encode_component
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, records, turn

REPO = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------------------


def msgs(home: Home, key: str = MAIN) -> list[dict[str, Any]]:
    return [r for r in records(home, key) if r.get("type") == "message"]


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# AgentStart, (MessageStart, (MessageDelta|ReasoningDelta)*, MessageEnd, (ToolStart ToolEnd)*)+
# with Retry / compaction events allowed between model messages, then AgentEnd.
_ORDER = re.compile(
    r"AgentStart (?:(?:Retry |CompactionStart |CompactionEnd )*MessageStart "
    r"(?:MessageDelta |ReasoningDelta )*MessageEnd (?:ToolStart ToolEnd )*)+AgentEnd"
)


def assert_order(events: list[Any]) -> None:
    seq = " ".join(names(events))
    assert _ORDER.fullmatch(seq), f"event order broken: {seq}"


def tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]


def assert_tool_calls_paired(messages: list[dict[str, Any]]) -> None:
    """Each assistant tool call is directly followed by its results, and no result is
    without its call."""
    i = 0
    while i < len(messages):
        m = messages[i]
        if m.get("role") == "tool":
            pytest.fail(f"tool result without its call: {m}")
        if m.get("role") == "assistant" and m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            results = messages[i + 1 : i + 1 + len(ids)]
            assert [r.get("role") for r in results] == ["tool"] * len(ids), messages
            assert sorted(r["tool_call_id"] for r in results) == sorted(ids)
            i += 1 + len(ids)
            continue
        i += 1


def call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "arguments": arguments}
    if call_id:
        c["id"] = call_id
    return c


def turn_lock_is_free(home: Home, key: str = MAIN) -> bool:
    lock = file_lock(home.locks_dir / "sessions" / f"{encode_component(key)}.turn.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return False
    lock.release()
    return True


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def hook_log() -> Iterator[_ListHandler]:
    """Warnings of claw.agent.hooks, whatever `claw`'s logger propagation is."""
    handler = _ListHandler()
    logger = logging.getLogger("claw.agent.hooks")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- 1. the event stream -------------------------------------------------------------------


def test_event_stream_order_usage_and_reasoning(home: Home) -> None:
    script = scripted.install(
        [
            {"text": "Let me check.", "tool_calls": [call("current_time", {})]},
            "<think>pondering the clock</think>It is noon.",
        ],
        delay=0.02,
    )
    events = turn(home, "what time is it?", model="scripted/test")
    assert_order(events)
    assert names(events)[:2] == ["AgentStart", "MessageStart"]

    ends = [e for e in events if isinstance(e, MessageEnd)]
    assert [(e.text, e.tool_calls) for e in ends] == [("Let me check.", 1), ("It is noon.", 0)]
    starts = [e for e in events if isinstance(e, ToolStart)]
    tool_ends = [e for e in events if isinstance(e, ToolEnd)]
    assert [e.name for e in starts] == [e.name for e in tool_ends] == ["current_time"]
    assert starts[0].call_id == tool_ends[0].call_id
    assert not tool_ends[0].is_error and "time:" in tool_ends[0].result

    visible = "".join(e.text for e in events if isinstance(e, MessageDelta))
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert "pondering" not in visible and "<think>" not in visible
    assert thought.strip() == "pondering the clock"

    end = events[-1]
    assert isinstance(end, AgentEnd)
    result = end.result
    assert end.outcome == result.status == "ok"
    assert result.text == "It is noon."
    assert result.tools == ["current_time"]
    assert result.model == "scripted/test"
    # Usage is summed over both model calls (10 prompt tokens each from the script).
    assert result.usage["prompt_tokens"] == 20
    assert result.usage["total_tokens"] == (
        result.usage["prompt_tokens"] + result.usage["completion_tokens"]
    )
    # 4 + 5 streamed words at 20 ms each.
    assert result.duration_ms >= 150

    reply = msgs(home)[-1]
    assert reply["id"] == result.message_id
    assert reply["content"] == "It is noon."
    assert "pondering" not in reply["content"]
    assert reply["reasoning"].strip() == "pondering the clock"
    assert reply["usage"] == result.usage
    assert 0 < reply["duration_ms"] <= result.duration_ms
    assert len(script.calls) == 2


def test_message_start_precedes_message_end_when_the_model_only_calls_tools(
    home: Home,
) -> None:
    """A model message with no text (only tool calls) still opens with MessageStart."""
    scripted.install([{"text": "", "tool_calls": [call("current_time", {})]}, "Noon."])
    events = turn(home, "time?", model="scripted/test")
    assert_order(events)


# -- 2. tools ------------------------------------------------------------------------------


def test_write_then_read_file_results_go_back_to_the_model(home: Home) -> None:
    script = scripted.install(
        [
            {
                "text": "",
                "tool_calls": [
                    call("write_file", {"path": "notes/a.txt", "content": "hello file"}, "w1")
                ],
            },
            {"text": "", "tool_calls": [call("read_file", {"path": "notes/a.txt"}, "r1")]},
            "The file says hello file.",
        ]
    )
    result = turn(home, "write and read", model="scripted/test")[-1].result
    assert result.text == "The file says hello file."
    assert result.tools == ["write_file", "read_file"]
    assert (home.agent_dir("main") / "notes" / "a.txt").read_text() == "hello file"

    second, third = script.calls[1], script.calls[2]
    assert second[-2]["role"] == "assistant"
    assert second[-2]["tool_calls"][0]["id"] == "w1"
    assert second[-2]["tool_calls"][0]["function"]["name"] == "write_file"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "w1"
    assert "wrote 10 bytes" in second[-1]["content"]
    assert third[-2]["tool_calls"][0]["id"] == "r1"
    assert third[-1] == {
        "role": "tool",
        "content": "hello file",
        "tool_call_id": "r1",
        "name": "read_file",
    }
    assert_tool_calls_paired(third[1:])
    # The transcript holds the same sequence, and replays to what the model saw.
    replayed = transcript.replay(records(home))
    assert replayed[: len(third) - 1] == third[1:]


def test_invalid_arguments_go_back_to_the_model_not_the_user(home: Home) -> None:
    script = scripted.install(
        [
            {"text": "", "tool_calls": [call("read_file", {"path": 123}, "bad")]},
            "Sorry, I could not read it.",
        ]
    )
    events = turn(home, "read something", model="scripted/test")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.is_error
    to_model = script.calls[1][-1]
    assert to_model["role"] == "tool" and to_model["tool_call_id"] == "bad"
    assert "invalid arguments for read_file" in to_model["content"]
    assert "path" in to_model["content"]
    result = events[-1].result
    assert result.status == "ok"
    assert result.text == "Sorry, I could not read it."
    assert msgs(home)[-2]["is_error"] is True


def test_unknown_tool_is_an_error_result_for_the_model(home: Home) -> None:
    script = scripted.install(
        [
            {"text": "", "tool_calls": [call("teleport", {"to": "mars"}, "t1")]},
            "I cannot teleport.",
        ]
    )
    events = turn(home, "go to mars", model="scripted/test")
    to_model = script.calls[1][-1]
    assert to_model["tool_call_id"] == "t1"
    assert "unknown tool 'teleport'" in to_model["content"]
    assert "read_file" in to_model["content"]  # it lists what is available
    assert events[-1].result.text == "I cannot teleport."


def test_tools_cannot_escape_the_workspace(home: Home, tmp_path: Path) -> None:
    workspace = home.agent_dir("main")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    (workspace.parent / "sibling.txt").write_text("TOP SECRET sibling")
    (workspace / "link").symlink_to(outside, target_is_directory=True)
    attempts = [
        call("read_file", {"path": "../sibling.txt"}, "c1"),
        call("read_file", {"path": "/etc/passwd"}, "c2"),
        call("read_file", {"path": "link/secret.txt"}, "c3"),
        call("write_file", {"path": "../escaped.txt", "content": "x"}, "c4"),
        call("write_file", {"path": "link/planted.txt", "content": "x"}, "c5"),
        call("list_dir", {"path": str(outside)}, "c6"),
    ]
    script = scripted.install([{"text": "", "tool_calls": attempts}, "Refused."])
    events = turn(home, "escape", model="scripted/test")
    results = {m["tool_call_id"]: m["content"] for m in tool_messages(script.calls[1])}
    assert set(results) == {f"c{i}" for i in range(1, 7)}
    for cid, text in results.items():
        assert "outside the workspace" in text, (cid, text)
        assert "TOP SECRET" not in text and "root:" not in text
    assert all(e.is_error for e in events if isinstance(e, ToolEnd))
    assert not (workspace.parent / "escaped.txt").exists()
    assert not (outside / "planted.txt").exists()


def test_tool_loop_is_bounded_by_max_iterations(home: Home) -> None:
    cfg.set_value(home.config_file, "tools.max_iterations", "2")
    always = {"text": "Checking again.", "tool_calls": [call("current_time", {})]}
    script = scripted.install([always, always, always, always])
    result = turn(home, "loop forever", model="scripted/test")[-1].result
    assert len(script.calls) == 3  # two tool rounds, then one final call
    assert "tools" in script.params[0] and "tools" in script.params[1]
    assert "tools" not in script.params[-1]
    assert result.tools == ["current_time", "current_time"]
    assert result.text == "Checking again."
    final = msgs(home)[-1]
    assert final["status"] == "ok" and "tool_calls" not in final
    assert_tool_calls_paired(transcript.replay(records(home)))


def test_a_full_tool_loop_fits_the_default_retry_budget(home: Home) -> None:
    """Defaults: tools.max_iterations 8 and model.retry_budget 8. A turn that uses all its
    tool rounds needs 9 successful model calls; none of them is a retry, so it must end
    with the final answer, not 'gave up after the retry budget'."""
    always = {"text": "More.", "tool_calls": [call("current_time", {})]}
    script = scripted.install([always] * 8 + ["Done at last."])
    result = turn(home, "use every round", model="scripted/test")[-1].result
    assert result.text == "Done at last."
    assert len(script.calls) == 9
    assert "tools" not in script.params[-1]


def test_oversized_tool_result_is_truncated_with_the_marker(home: Home) -> None:
    cfg.set_value(home.config_file, "tools.max_result_chars", "100")
    (home.agent_dir("main") / "big.txt").write_text("x" * 1000)
    script = scripted.install(
        [
            {"text": "", "tool_calls": [call("read_file", {"path": "big.txt"}, "big")]},
            "It is long.",
        ]
    )
    turn(home, "read big", model="scripted/test")
    content = script.calls[1][-1]["content"]
    assert content == "x" * 100 + TRUNCATION_MARKER.format(omitted=900)
    assert msgs(home)[-2]["content"] == content


def test_models_without_tool_support_get_no_tools(home: Home) -> None:
    script = scripted.install(["plain answer"], tools=False)
    events = turn(home, "hi", model="scripted/test")
    assert "tools" not in script.params[0]
    assert events[-1].result.text == "plain answer"


def test_tool_capable_models_do_get_the_builtin_tools(home: Home) -> None:
    script = scripted.install(["answer"])
    turn(home, "hi", model="scripted/test")
    offered = {t["function"]["name"] for t in script.params[0]["tools"]}
    builtin = {"current_time", "read_file", "write_file", "list_dir"}
    assert offered == builtin | {"task_create", "task_list", "task_update"} | {
        "memory_search",
        "memory_save",
        "spawn",
    }


# -- 6. overflow → compaction → retry ------------------------------------------------------

FILLER = "lorem ipsum dolor sit amet " * 9  # ~240 characters


def _seed_history(home: Home, exchanges: int = 10) -> list[dict[str, Any]]:
    """~30 messages: every other exchange goes through a tool call and its result."""
    recs: list[dict[str, Any]] = []
    for i in range(exchanges):
        user = transcript.message("user", f"question {i}: {FILLER}")
        recs.append(user)
        if i % 2 == 0:
            cid = f"hist_{i}"
            recs.append(
                transcript.message(
                    "assistant",
                    "",
                    model="scripted/test",
                    tool_calls=[
                        {
                            "id": cid,
                            "type": "function",
                            "function": {
                                "name": "read_file",
                                "arguments": json.dumps({"path": f"f{i}.txt"}),
                            },
                        }
                    ],
                )
            )
            recs.append(
                transcript.message(
                    "tool", f"contents of f{i}: {FILLER}", tool_call_id=cid, name="read_file"
                )
            )
        recs.append(
            transcript.message(
                "assistant",
                f"answer {i}: {FILLER}",
                model="scripted/test",
                status="ok",
                reply_to=user["id"],
            )
        )
    store = SessionStore(home)
    try:
        store.append(MAIN, recs, agent="main")
    finally:
        store.close()
    return recs


def test_overflow_compacts_retries_and_replays_what_the_model_saw(home: Home) -> None:
    seeded = _seed_history(home)
    assert len(seeded) == 30
    lm = litellm()
    snapshot: dict[str, Any] = {}

    def answer(messages: list[dict[str, Any]]) -> str:
        snapshot["records"] = records(home)
        return "Here is the answer."

    script = scripted.install(
        [
            lm.ContextWindowExceededError("prompt is too long", "test", "scripted"),
            "SUMMARY: ten questions about lorem ipsum were answered.",
            answer,
        ],
        context_window=4096 + 2048,  # the history, and the tool definitions (~1.8k tokens)
    )
    events = turn(home, "and now?", model="scripted/test")
    assert_order(events)

    kinds = names(events)
    assert "CompactionStart" in kinds and "CompactionEnd" in kinds
    assert (
        kinds.index("CompactionStart") < kinds.index("CompactionEnd") < kinds.index("MessageStart")
    )
    retries = [e for e in events if isinstance(e, Retry)]
    assert [(r.reason, r.action) for r in retries] == [("overflow", "compacted")]
    start = next(e for e in events if isinstance(e, CompactionStart))
    end = next(e for e in events if isinstance(e, CompactionEnd))
    assert start.messages == 31  # the seeded history and the new question
    assert events[-1].result.text == "Here is the answer."

    # The first call had everything; the second one was the summariser's.
    assert len(script.calls) == 3
    assert len(script.calls[0]) == 32
    assert script.calls[1][0] == {"role": "system", "content": compaction.SUMMARY_INSTRUCTIONS}
    assert "question 0" in script.calls[1][1]["content"]
    assert "tools" not in script.params[1]

    recs = snapshot["records"]
    comps = [r for r in recs if r.get("type") == "compaction"]
    assert len(comps) == 1
    comp = comps[0]
    assert comp["summary"] == "SUMMARY: ten questions about lorem ipsum were answered."
    by_id = {r.get("id"): r for r in recs}
    first_kept = by_id[comp["first_kept_id"]]
    assert first_kept["type"] == "message" and first_kept["role"] == "user"

    replayed = transcript.replay(recs)
    summary_msg = {"role": "system", "content": transcript.SUMMARY_PREFIX + comp["summary"]}
    assert replayed[0] == summary_msg
    message_recs = [r for r in recs if r.get("type") == "message"]
    kept = message_recs[message_recs.index(first_kept) :]
    assert replayed[1:] == [transcript.to_model_message(r) for r in kept]
    assert replayed[-1] == {"role": "user", "content": "and now?"}
    assert 1 < len(kept) < 31
    assert end.kept_messages == len(kept)

    retried = script.calls[2]
    assert retried[0]["role"] == "system"
    assert summary_msg["content"] in retried[0]["content"]
    assert retried[1:] == replayed[1:]
    assert_tool_calls_paired(retried[1:])
    assert_tool_calls_paired(replayed[1:])

    # The session keeps going from the compacted history.
    script = scripted.install(["next answer"], context_window=4096 + 2048)
    turn(home, "one more", model="scripted/test")
    assert script.calls[0][1:] == [
        *replayed[1:],
        {"role": "assistant", "content": "Here is the answer."},
        {"role": "user", "content": "one more"},
    ]


# -- 7. timeout and abort ------------------------------------------------------------------

LONG = " ".join(f"word{i}" for i in range(60))


@pytest.mark.timeout(30)
def test_timeout_raises_keeps_partial_text_and_frees_the_session(home: Home) -> None:
    scripted.install([LONG], delay=0.2)
    t0 = time.monotonic()
    with pytest.raises(TurnTimeout) as info:
        turn(home, "talk for a long time", model="scripted/test", timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert isinstance(info.value, ClawError)
    assert "0.5s" in info.value.message

    last = msgs(home)[-1]
    assert last["role"] == "assistant"
    assert last["status"] == "interrupted"
    assert last["content"] and LONG.startswith(last["content"])
    assert len(last["content"]) < len(LONG)
    assert turn_lock_is_free(home)

    script = scripted.install(["second turn"])
    assert turn(home, "again", model="scripted/test")[-1].result.text == "second turn"
    # The partial reply is part of the history the model sees next.
    assert script.calls[0][-2] == {"role": "assistant", "content": last["content"]}


@pytest.mark.timeout(30)
def test_external_abort_ends_the_turn_interrupted_with_the_partial_text(home: Home) -> None:
    scripted.install([LONG], delay=0.1)
    abort = threading.Event()
    timer = threading.Timer(0.5, abort.set)
    timer.start()
    try:
        events = turn(home, "talk", model="scripted/test", abort=abort)
    finally:
        timer.cancel()
    end = events[-1]
    assert isinstance(end, AgentEnd)
    assert end.outcome == end.result.status == "interrupted"
    streamed = "".join(e.text for e in events if isinstance(e, MessageDelta))
    assert streamed and end.result.text == streamed
    last = msgs(home)[-1]
    assert last["status"] == "interrupted" and last["content"] == streamed
    assert end.result.message_id == last["id"]
    assert turn_lock_is_free(home)


def _exec_abort_turn(home: Home, replies: list[Any]) -> tuple[list[Any], float, Any]:
    cfg.set_value(home.config_file, "tools.exec_enabled", "true")
    script = scripted.install(replies)
    abort = threading.Event()
    timer = threading.Timer(0.5, abort.set)
    timer.start()
    t0 = time.monotonic()
    try:
        events = turn(home, "sleep a while", model="scripted/test", abort=abort)
    finally:
        timer.cancel()
    return events, time.monotonic() - t0, script


@pytest.mark.timeout(30)
def test_abort_while_exec_runs_kills_it_and_leaves_no_orphaned_call(home: Home) -> None:
    sleeper = {"text": "", "tool_calls": [call("exec", {"command": "sleep 30"}, "x1")]}
    events, elapsed, _ = _exec_abort_turn(home, [sleeper, "never streamed"])
    assert elapsed < 5, "the exec was not killed promptly"
    assert events[-1].outcome == "interrupted"
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.is_error and "killed" in end.result

    recs = records(home)
    called = {c["id"] for r in recs if r.get("tool_calls") for c in r["tool_calls"]}
    answered = {r["tool_call_id"] for r in recs if r.get("role") == "tool"}
    assert called == {"x1"} and called <= answered
    replayed = transcript.replay(recs)
    assert_tool_calls_paired(replayed)
    assert turn_lock_is_free(home)

    script = scripted.install(["awake"])
    assert turn(home, "next", model="scripted/test")[-1].result.text == "awake"
    sent = script.calls[0][1:]
    assert sent[0] == {"role": "user", "content": "sleep a while"}
    assert sent[1]["tool_calls"][0]["id"] == "x1"
    assert sent[2]["tool_call_id"] == "x1" and "killed" in sent[2]["content"]
    assert sent[-1] == {"role": "user", "content": "next"}


@pytest.mark.timeout(30)
def test_abort_during_a_tool_makes_no_further_model_call(home: Home) -> None:
    """Once the turn is aborted, the model is not asked again (that costs a request and
    tokens for an answer nobody will see): the turn ends as interrupted."""
    sleeper = {"text": "", "tool_calls": [call("exec", {"command": "sleep 30"}, "x1")]}
    events, elapsed, script = _exec_abort_turn(home, [sleeper, "should not be requested"])
    assert elapsed < 5
    assert events[-1].outcome == "interrupted"
    assert len(script.calls) == 1, "the model was called again after the abort"


# -- 8. replies ----------------------------------------------------------------------------


def test_no_reply_is_silent(home: Home) -> None:
    scripted.install(["NO_REPLY"])
    end = turn(home, "just listen", model="scripted/test")[-1]
    assert end.outcome == end.result.status == "silent"
    assert end.result.text == ""
    assert msgs(home)[-1]["status"] == "silent"


def test_empty_reply_is_an_error(home: Home) -> None:
    scripted.install([""])
    end = turn(home, "say nothing", model="scripted/test")[-1]
    assert end.result.status == "error"
    assert end.result.text == "(no reply: the model returned an empty reply)"
    last = msgs(home)[-1]
    assert last["status"] == "error" and last["reason"] == "empty"


def test_text_already_sent_by_a_tool_is_not_repeated(home: Home) -> None:
    scripted.install(["already said this"])
    end = turn(home, "hi", model="scripted/test", sent=["Already said this."])[-1]
    assert end.result.status == "silent" and end.result.text == ""


def test_verbose_lists_the_tools_used(home: Home) -> None:
    scripted.install(
        [
            {"text": "", "tool_calls": [call("current_time", {}), call("current_time", {})]},
            {"text": "", "tool_calls": [call("list_dir", {})]},
            "Done.",
        ]
    )
    end = turn(home, "hi", model="scripted/test", verbose=True)[-1]
    assert end.result.text == "Done.\n\nTools: current_time (×2), list_dir"
    assert msgs(home)[-1]["content"] == "Done."  # the summary is not stored


# -- 9. hooks ------------------------------------------------------------------------------


@pytest.fixture
def plugin(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """write(source) -> the module `myplug`, named in config `plugins`."""
    clear_cache()
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))

    def write(source: str) -> Any:
        (folder / "myplug.py").write_text(textwrap.dedent(source))
        sys.modules.pop("myplug", None)
        importlib.invalidate_caches()
        cfg.set_value(home.config_file, "plugins", "myplug")
        return importlib.import_module("myplug")

    yield write
    sys.modules.pop("myplug", None)
    clear_cache()


def test_before_agent_start_adds_context_to_the_system_message(home: Home, plugin: Any) -> None:
    mod = plugin("""
        from claw.agent.hooks import hookimpl
        seen = []

        @hookimpl
        def before_agent_start(ctx, messages):
            seen.append((ctx.session_key, [m["content"] for m in messages]))
            return "PLUGIN CONTEXT: the user's cat is called Miso."
    """)
    script = scripted.install(["ok"])
    turn(home, "what is my cat called?", model="scripted/test")
    system = script.calls[0][0]
    assert system["role"] == "system"
    assert "PLUGIN CONTEXT: the user's cat is called Miso." in system["content"]
    assert mod.seen == [(MAIN, ["what is my cat called?"])]


def test_before_tool_call_can_block_a_tool(home: Home, plugin: Any) -> None:
    plugin("""
        from claw.agent.hooks import hookimpl

        @hookimpl
        def before_tool_call(name, args):
            if name == "write_file":
                return {"block": "writing is disabled by policy"}
            return None
    """)
    script = scripted.install(
        [
            {
                "text": "",
                "tool_calls": [
                    call("write_file", {"path": "x.txt", "content": "x"}, "w"),
                    call("current_time", {}, "t"),
                ],
            },
            "Could not write.",
        ]
    )
    events = turn(home, "write x", model="scripted/test")
    results = {m["tool_call_id"]: m for m in tool_messages(script.calls[1])}
    assert results["w"]["content"] == "blocked: writing is disabled by policy"
    assert "time:" in results["t"]["content"]
    assert not (home.agent_dir("main") / "x.txt").exists()
    assert events[-1].result.text == "Could not write."


def test_a_raising_hook_is_logged_and_the_turn_completes(
    home: Home, plugin: Any, hook_log: _ListHandler
) -> None:
    plugin("""
        from claw.agent.hooks import hookimpl

        @hookimpl
        def before_agent_start(ctx, messages):
            raise RuntimeError("plugin exploded")

        @hookimpl
        def tool_result_persist(name, result_text):
            raise ValueError("persist exploded")
    """)
    scripted.install([{"text": "", "tool_calls": [call("current_time", {})]}, "Fine anyway."])
    end = turn(home, "hi", model="scripted/test")[-1]
    assert end.result.status == "ok" and end.result.text == "Fine anyway."
    logged = [r.getMessage() for r in hook_log.records if r.levelno >= logging.WARNING]
    assert any("before_agent_start" in m and "plugin exploded" in m for m in logged), logged
    assert any("tool_result_persist" in m and "persist exploded" in m for m in logged), logged
    assert "time:" in msgs(home)[-2]["content"]  # the unredacted result was kept


def test_tool_result_persist_redacts_the_transcript(home: Home, plugin: Any) -> None:
    plugin("""
        from claw.agent.hooks import hookimpl

        @hookimpl
        def tool_result_persist(name, result_text):
            return result_text.replace("hunter2", "[REDACTED]")
    """)
    (home.agent_dir("main") / "creds.txt").write_text("password=hunter2\n")
    scripted.install(
        [
            {"text": "", "tool_calls": [call("read_file", {"path": "creds.txt"}, "c")]},
            "Read it.",
        ]
    )
    events = turn(home, "read creds", model="scripted/test")
    assert events[-1].result.status == "ok"
    stored = [m for m in msgs(home) if m["role"] == "tool"]
    assert [m["content"] for m in stored] == ["password=[REDACTED]\n"]
    raw = SessionStore(home).path(MAIN).read_text()
    assert "hunter2" not in raw


@pytest.mark.timeout(30)
@pytest.mark.parametrize("ending", ["model_error", "timeout"])
def test_agent_end_hook_runs_however_the_turn_ends(home: Home, plugin: Any, ending: str) -> None:
    """The agent_end hookspec: 'After a turn ends, any way.'"""
    mod = plugin("""
        import threading
        from claw.agent.hooks import hookimpl
        outcomes = []
        called = threading.Event()

        @hookimpl
        def agent_end(outcome):
            outcomes.append(outcome)
            called.set()
    """)
    if ending == "model_error":
        scripted.install([litellm().BadRequestError("malformed", "test", "scripted")])
        with pytest.raises(ClawError):
            turn(home, "fail", model="scripted/test")
    else:
        scripted.install([LONG], delay=0.2)
        with pytest.raises(TurnTimeout):
            turn(home, "slow", model="scripted/test", timeout_s=0.3)
    assert mod.called.wait(2.0), f"agent_end never ran after a {ending}"
    assert mod.outcomes[0]["status"] in ("error", "timeout", "interrupted")


# -- 10. lanes -----------------------------------------------------------------------------

_HOLD_LANE = """
import sys, time
from pathlib import Path
from claw.agent.session_lane import SessionLane
from claw.state import transcript
from claw.state.home import Home
from claw.state.sessions import SessionStore

store = SessionStore(Home(Path(sys.argv[1])))
key = sys.argv[2]
with SessionLane(store, key):
    user = transcript.message("user", "from the other process")
    store.append(key, [user], agent="main")
    print("locked", flush=True)
    time.sleep(1.5)
    store.append(key, [transcript.message("assistant", "reply in the other process",
                                          status="ok", reply_to=user["id"])], agent="main")
store.close()
"""


@pytest.mark.timeout(60)
def test_session_lane_is_shared_across_processes(home: Home) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LANE, str(home.root), MAIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "locked", proc.stderr.read() if proc.stderr else ""
        script = scripted.install(["my reply"])
        t0 = time.monotonic()
        end = turn(home, "from this process", model="scripted/test")[-1]
        waited = time.monotonic() - t0
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert waited >= 1.0, f"the turn did not wait for the other process ({waited:.2f}s)"
    assert end.result.text == "my reply"
    assert [(m["role"], m["content"]) for m in msgs(home)] == [
        ("user", "from the other process"),
        ("assistant", "reply in the other process"),
        ("user", "from this process"),
        ("assistant", "my reply"),
    ]
    assert [m["content"] for m in script.calls[0][1:]] == [
        "from the other process",
        "reply in the other process",
        "from this process",
    ]


@pytest.mark.timeout(60)
def test_global_lane_cap_serialises_turns_of_different_sessions(home: Home) -> None:
    cfg.set_value(home.config_file, "lanes.main", "1")
    scripted.install(["one two three four five", "six seven eight nine ten"], delay=0.08)
    barrier = threading.Barrier(2)
    spans: dict[str, tuple[float, float]] = {}
    errors: list[BaseException] = []

    def worker(key: str) -> None:
        store = SessionStore(home)
        try:
            barrier.wait(timeout=10)
            started = 0.0
            for event in run_turn(
                home,
                cfg.load(home.config_file),
                store,
                TurnRequest(f"hello {key}", session_key=key, model="scripted/test"),
            ):
                if isinstance(event, AgentStart):
                    started = time.monotonic()
                elif isinstance(event, AgentEnd):
                    spans[key] = (started, time.monotonic())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            store.close()

    keys = ["agent:main:lane-a", "agent:main:lane-b"]
    threads = [threading.Thread(target=worker, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert set(spans) == set(keys)
    (_, end_first), (start_second, _) = sorted(spans.values())
    assert end_first <= start_second, f"turns overlapped: {spans}"
