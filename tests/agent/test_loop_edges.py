"""Edge cases of the agent loop found in an audit: how a turn ends when its consumer
stops early, and what a misbehaving tool, MCP server or hook can (not) do to a turn."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent import env
from claw.agent.events import AgentEnd, ToolEnd
from claw.agent.models import litellm
from claw.agent.providers.stream import chunk
from claw.agent.turn import TurnRequest, TurnTimeout, run_turn
from claw.errors import ClawError
from claw.state import config as cfg
from claw.state import transcript
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted
from tests.agent._helpers import MAIN, msgs, records, turn
from tests.agent.test_loop import _seed_history
from tests.conftest import run_claw


def _summary(home: Home) -> list[tuple[str, Any]]:
    return [(m["role"], m.get("status")) for m in msgs(home)]


@pytest.mark.timeout(30)
def test_closing_the_stream_after_agent_end_records_nothing_more(home: Home) -> None:
    """A consumer that stops at AgentEnd (or whose rendering of it fails) closes the
    generator at its last yield: the finished turn must not gain an 'interrupted' copy."""
    scripted.install(["Hello there."])
    store = SessionStore(home)
    events = run_turn(
        home, cfg.load(home.config_file), store, TurnRequest("hi", model="scripted/test")
    )
    try:
        for event in events:
            if isinstance(event, AgentEnd):
                break
        events.close()
    finally:
        store.close()
    assert _summary(home) == [("user", None), ("assistant", "ok")]


@pytest.mark.timeout(60)
def test_an_mcp_tool_with_an_invalid_schema_is_left_out(home: Home) -> None:
    """A server's garbage input schema would crash argument validation mid-turn (leaving
    a tool call without result) and make a hosted provider refuse every request."""
    garbage = Path(__file__).parent / "mcp_servers" / "garbage.py"
    cfg.set_value(home.config_file, "mcp.servers.junk.command", sys.executable)
    cfg.set_value(home.config_file, "mcp.servers.junk.args", json.dumps([str(garbage)]))
    script = scripted.install(
        [
            {
                "text": "",
                "tool_calls": [
                    {"name": "mcp__junk__bad_type", "arguments": {"x": 1}, "id": "a"},
                    {"name": "mcp__junk__good", "arguments": {"x": "y"}, "id": "b"},
                ],
            },
            "Done.",
        ]
    )
    try:
        events = turn(home, "use the tools", model="scripted/test")
    finally:
        env.close_mcp()
    offered = [t["function"]["name"] for t in script.params[0]["tools"]]
    assert "mcp__junk__good" in offered
    assert "mcp__junk__bad_type" not in offered and "mcp__junk__bad_keyword" not in offered
    ends = {e.call_id: e for e in events if isinstance(e, ToolEnd)}
    assert ends["a"].is_error and "unknown tool" in ends["a"].result
    assert (ends["b"].result, ends["b"].is_error) == ("good ran", False)
    assert events[-1].result.text == "Done."
    assert _summary(home)[-1] == ("assistant", "ok")


# -- untrusted skills ----------------------------------------------------------------------

_ALIAS_BOMB = "metadata:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  b{i}: &b{i} [{', '.join(['*' + ('a' if i == 1 else f'b{i - 1}')] * 9)}]\n"
    for i in range(1, 9)
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "front",
    ["metadata: &a [*a]\n", _ALIAS_BOMB],
    ids=["self-referencing alias", "alias bomb"],
)
def test_a_skill_using_yaml_aliases_is_skipped_with_a_warning(home: Home, front: str) -> None:
    """YAML aliases in a downloaded skill's front matter build a cyclic value (which
    `skills list --json` cannot write) or a billion-element one (which it writes for
    minutes): such a skill is malformed, skipped with a warning naming its file."""
    good = home.agent_dir("main") / "skills" / "good" / "SKILL.md"
    good.parent.mkdir(parents=True)
    good.write_text("---\nname: good\ndescription: Fine.\n---\nbody\n")
    bad = home.agent_dir("main") / "skills" / "bad" / "SKILL.md"
    bad.parent.mkdir(parents=True)
    bad.write_text(f"---\nname: bad\ndescription: Aliases.\n{front}---\nbody\n")
    r = run_claw("skills", "list", "--json", timeout=30)
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads(r.stdout)] == ["good"]
    assert str(bad) in r.stderr and "alias" in r.stderr


# -- the model's malformed tool calls ------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("depth", "expected"),
    [(3_000, "not valid JSON"), (600, "RecursionError")],
    ids=["too deep to parse", "too deep to copy"],
)
def test_deeply_nested_tool_arguments_are_an_error_result_for_the_model(
    home: Home, depth: int, expected: str
) -> None:
    """JSON nested too deep for the parser raises RecursionError, not ValueError; a few
    hundred levels parse but are too deep to copy for the hooks. Either way the failure
    must go back to the model, not kill the turn and leave its tool call without a
    result (which providers refuse in every later request)."""
    nested = '{"a": ' * depth + "1" + "}" * depth
    script = scripted.install(
        [
            {"text": "", "tool_calls": [{"name": "list_dir", "arguments": nested, "id": "n"}]},
            "Sorry, let me try again later.",
        ],
        context_window=100_000,
    )
    events = turn(home, "what is here?", model="scripted/test")
    end = next(e for e in events if isinstance(e, ToolEnd))
    assert end.is_error and expected in end.result
    assert events[-1].result.text == "Sorry, let me try again later."
    assert [m["tool_call_id"] for m in script.calls[1] if m["role"] == "tool"] == ["n"]
    assert _summary(home)[-1] == ("assistant", "ok")


# -- text that is not valid Unicode --------------------------------------------------------


@pytest.mark.timeout(60)
def test_lone_surrogates_in_the_question_and_the_reply_are_stored(home: Home) -> None:
    """A JSON `\\ud83d` escape (a provider splitting an emoji, a gateway client, a channel
    message) or undecodable argv bytes give Python text with a lone surrogate, which
    UTF-8 cannot encode: storing the exchange failed with an internal error and lost it."""
    scripted.install([{"text": "half an emoji \ud83d here", "tool_calls": []}])
    events = turn(home, "caf\udce9?", model="scripted/test")
    assert events[-1].result.status == "ok"
    stored = [(m["role"], m["content"]) for m in msgs(home)]
    assert stored == [("user", "caf\udce9?"), ("assistant", "half an emoji \ud83d here")]
    r = run_claw("sessions", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert [row["key"] for row in json.loads(r.stdout)] == [MAIN], r.stderr
    assert "index not updated" not in r.stderr


# -- compaction ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("summary", ["", "<think>Nothing worth keeping.</think>"])
def test_an_empty_summary_is_not_written_over_the_history(home: Home, summary: str) -> None:
    """A summariser that answers nothing (or only reasons) must not replace the older
    history with an empty summary for good: the model would silently forget it."""
    _seed_history(home)
    before = transcript.replay(records(home))
    lm = litellm()
    scripted.install(
        [lm.ContextWindowExceededError("prompt is too long", "test", "scripted"), summary],
        context_window=4096,
    )
    with pytest.raises(ClawError, match="overflow"):
        turn(home, "and now?", model="scripted/test")
    recs = records(home)
    assert [r for r in recs if r.get("type") == "compaction"] == []
    assert transcript.replay(recs) == before  # the failed exchange is left out


@pytest.mark.timeout(60)
def test_a_summary_is_stored_without_the_summarisers_reasoning(home: Home) -> None:
    _seed_history(home)
    lm = litellm()
    scripted.install(
        [
            lm.ContextWindowExceededError("prompt is too long", "test", "scripted"),
            "<think>Let me see what matters.</think>The user asked ten questions.",
            "Here is the answer.",
        ],
        context_window=4096,
    )
    assert turn(home, "and now?", model="scripted/test")[-1].result.status == "ok"
    comps = [r for r in records(home) if r.get("type") == "compaction"]
    assert [c["summary"] for c in comps] == ["The user asked ten questions."]


# -- failover ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_running_out_of_turn_time_does_not_cool_the_auth_profile_down(home: Home) -> None:
    """The model call's timeout is what is left of the turn's. When the turn's own
    deadline cuts the call off, the key is not at fault: cooling it down (persisted, so
    every process skips it for a minute, then five) would fail the next turns."""
    cfg.set_value(
        home.config_file,
        "providers.scripted.profiles",
        json.dumps([{"name": "only", "api_key": "k1"}]),
    )
    lm = litellm()

    def slow(messages: list[dict[str, Any]]) -> Exception:
        time.sleep(2.5)  # past the turn's 2 s, then the client gives up as litellm would
        return lm.Timeout("Request timed out.", "scripted/test", "scripted")

    scripted.install([slow], builtin=False)
    with pytest.raises(TurnTimeout):
        turn(home, "write a long essay", model="scripted/test", timeout_s=2)
    assert CooldownStore(home).get("scripted", "only") is None
    scripted.install(["Here it is."], builtin=False)
    assert turn(home, "again", model="scripted/test")[-1].result.text == "Here it is."


@pytest.mark.timeout(60)
def test_a_stream_cut_off_by_the_turn_deadline_keeps_its_text_as_interrupted(
    home: Home,
) -> None:
    """A stream that stalls mid-reply is cut off by the client's read timeout, which is
    what is left of the turn: a turn timeout (partial text kept as interrupted), not a
    model failure (partial text dropped from what the model sees next)."""
    lm = litellm()
    script = scripted.install(["unused"])

    def stalls(reply: dict[str, Any]) -> Iterator[Any]:
        yield chunk("The first half")
        time.sleep(3.5)  # past the turn's deadline
        raise lm.Timeout("Request timed out.", "scripted/test", "scripted")

    script._stream = stalls  # type: ignore[method-assign]
    with pytest.raises(TurnTimeout):
        turn(home, "write a long essay", model="scripted/test", timeout_s=3)
    assert [(m["role"], m.get("status"), m["content"]) for m in msgs(home)] == [
        ("user", None, "write a long essay"),
        ("assistant", "interrupted", "The first half"),
    ]


@pytest.mark.timeout(60)
def test_a_turn_stopped_by_a_config_error_leaves_no_unanswered_question(home: Home) -> None:
    """A ClawError other than a model failure (here: a pin naming no profile, found when
    the first model call is prepared) must end the turn like a failure: recorded, so the
    model never sees the question again after the config is fixed."""
    cfg.set_value(
        home.config_file,
        "providers.scripted.profiles",
        json.dumps([{"name": "a", "api_key": "ka"}]),
    )
    cfg.set_value(home.config_file, "providers.scripted.pin", "typo")
    scripted.install(["never called"], builtin=False)
    with pytest.raises(ClawError, match="pin"):
        turn(home, "first question", model="scripted/test")
    cfg.unset_value(home.config_file, "providers.scripted.pin")
    script = scripted.install(["Answer."], builtin=False)
    assert turn(home, "second question", model="scripted/test")[-1].result.text == "Answer."
    assert [m["content"] for m in script.calls[0] if m["role"] == "user"] == ["second question"]
    assert transcript.replay(records(home))[0] == {"role": "user", "content": "second question"}


@pytest.mark.timeout(60)
def test_an_abort_stops_the_compaction_summary_too(home: Home) -> None:
    """The summary is a model call like any other: an abort (chat.abort, SIGTERM's drain)
    must not wait for the whole summary to be written."""
    _seed_history(home)
    lm = litellm()
    abort = threading.Event()
    timer = threading.Timer(0.5, abort.set)

    def summary(messages: list[dict[str, Any]]) -> str:
        timer.start()  # the summary has begun: abort half a second into it
        return " ".join(f"fact{i}" for i in range(100))  # ten seconds of it

    scripted.install(
        [lm.ContextWindowExceededError("prompt is too long", "test", "scripted"), summary],
        context_window=4096,
        delay=0.1,
    )
    t0 = time.monotonic()
    try:
        events = turn(home, "and now?", model="scripted/test", abort=abort)
    finally:
        timer.cancel()
    assert "CompactionStart" in [type(e).__name__ for e in events]
    assert time.monotonic() - t0 < 5
    assert events[-1].outcome == "interrupted"
    assert [r for r in records(home) if r.get("type") == "compaction"] == []


@pytest.mark.timeout(60)
def test_an_mcp_server_writing_garbage_does_not_flood_the_terminal(home: Home) -> None:
    """The MCP SDK logs each stdout line that is not JSON-RPC with a full traceback: a
    server printing junk turned one `claw tools list` into a thousand lines of stderr."""
    junk = 'while true; do echo garbage; echo "{\\"jsonrpc\\": 5}"; sleep 0.05; done'
    cfg.set_value(home.config_file, "mcp.servers.junk.command", "/bin/sh")
    cfg.set_value(home.config_file, "mcp.servers.junk.args", json.dumps(["-c", junk]))
    cfg.set_value(home.config_file, "mcp.servers.junk.timeout_s", "1")
    r = run_claw("tools", "list", timeout=30)
    assert r.returncode == 0, r.stderr
    assert "MCP server junk: failed: no answer within 1s" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) < 10, r.stderr
