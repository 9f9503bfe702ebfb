"""chat.abort and the daemon's drain stop a turn promptly even while the model is silent
(a slow next piece, or a call that has not answered yet), and leave the session whole."""

from __future__ import annotations

import json
import time

import trio

from claw.gateway.security import load_token
from claw.state.sessions import SessionStore
from tests import scripted
from tests.gateway import live

STALL_S = 8.0  # the model's silence; every bound below is far shorter
PROMPT_S = 1.0  # generous for a 2-CPU box; the aim is ~0.1 s


def _stalling(after_words: int) -> dict:
    return {"text": "one two three four five six", "stall": (after_words, STALL_S)}


def _assert_consistent(home, key: str, status: str) -> None:
    msgs = live.transcript_messages(home, key)
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[-1]["status"] == status
    assert SessionStore(home).history(key, 10_000)  # replays cleanly


async def _abort_mid_turn(home, method: str, key: str, then=None) -> tuple[dict, list]:
    """Start `method` on session `key`, wait until the model is silent mid-turn, abort it
    from a second client; returns the reply (which must come within PROMPT_S) and the
    streamed events. `then(ws)` runs on the first client afterwards."""
    params = {"text": "go", "model": "scripted/test", "session_key": key}
    got: dict = {}
    events: list = []
    async with (
        live.running(home) as srv,
        live.ws_client(srv) as ws,
        live.ws_client(srv) as other,
    ):
        # Warm up first (litellm's import, ~2.5 s cold, is not abortable): what is
        # measured is an abort while the model call waits.
        with trio.fail_after(15):
            warm = {"text": "warm", "model": "echo", "session_key": "warm"}
            assert "result" in await live.call(other, "chat.send", warm)
        async with trio.open_nursery() as nursery:

            async def turn() -> None:
                got["reply"] = await live.call(ws, method, params, events=events)

            nursery.start_soon(turn)
            with trio.fail_after(10):
                while not (await live.call(other, "status"))["result"]["running_sessions"]:
                    await trio.sleep(0.02)
                if method == "chat.send_stream":
                    while not any(e["type"] == "chat.delta" for e in events):
                        await trio.sleep(0.01)
            await trio.sleep(0.4)  # the model is silent now
            t0 = time.monotonic()
            with trio.fail_after(PROMPT_S):
                reply = await live.call(other, "chat.abort", {"session_key": key})
                assert reply["result"] == {"aborted": True}
                while "reply" not in got:
                    await trio.sleep(0.005)
            assert time.monotonic() - t0 < PROMPT_S
        if then is not None:
            await then(ws, params)
    return got["reply"], events


def test_abort_while_the_model_stalls_between_pieces(home):
    scripted.install([_stalling(after_words=2), "ok"])

    async def next_turn(ws, params) -> None:  # the session is free at once
        with trio.fail_after(5):
            nxt = await live.call(ws, "chat.send", params | {"text": "again"})
        assert nxt["result"]["text"] == "ok"

    async def main() -> None:
        reply, events = await _abort_mid_turn(home, "chat.send_stream", "stall", next_turn)
        assert reply["result"]["status"] == "interrupted"
        ends = [e for e in events if e["type"] == "chat.end"]
        assert ends == [ends[0]] and ends[0]["status"] == "interrupted"
        msgs = live.transcript_messages(home, "stall")
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
        assert msgs[1]["status"] == "interrupted" and msgs[1]["content"] == "one two "
        assert SessionStore(home).history("stall", 10_000)  # replays cleanly

    live.run(main)


def test_abort_before_the_model_answers_at_all(home):
    """chat.send (no stream) on a model that has not produced anything yet."""
    scripted.install([_stalling(after_words=0)])

    async def main() -> None:
        reply, _ = await _abort_mid_turn(home, "chat.send", "mute")
        assert reply["result"]["status"] == "interrupted"
        msgs = live.transcript_messages(home, "mute")
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        assert msgs[-1]["status"] == "error" and msgs[-1]["reason"] == "interrupted"

    live.run(main)


def test_drain_with_a_short_grace_stops_a_stalled_turn(home):
    """SIGTERM's drain (the server's cancel) with a 0.2 s grace: the client hears -32007
    within a short bound, not after the model's silence."""
    from claw.gateway.serve import serve
    from claw.state.config import load

    scripted.install([_stalling(after_words=1)])

    async def main() -> None:
        server_cs = trio.CancelScope()
        stopped = trio.Event()

        async def server(task_status=trio.TASK_STATUS_IGNORED) -> None:
            try:
                with server_cs:
                    cfg = load(home.config_file)
                    await serve(
                        home, cfg, host="127.0.0.1", port=0, grace_s=0.2, task_status=task_status
                    )
            finally:
                stopped.set()

        async with trio.open_nursery() as nursery:
            port = await nursery.start(server)
            srv = live.Server(port, load_token(home), nursery)
            async with live.ws_client(srv) as ws:
                params = {"text": "go", "model": "scripted/test", "session_key": "drain"}
                req = {"jsonrpc": "2.0", "method": "chat.send_stream", "params": params, "id": 7}
                await ws.send_message(json.dumps(req))
                with trio.fail_after(10):
                    while (await live.recv(ws))["params"]["type"] != "chat.delta":
                        pass
                await trio.sleep(0.2)  # the model is silent now
                t0 = time.monotonic()
                server_cs.cancel()
                with trio.fail_after(0.2 + PROMPT_S):
                    outcome = await live.reply_or_close(ws, 7)
                assert outcome != "closed", "the client should hear why before the close"
                assert outcome["error"]["code"] == -32007
                assert time.monotonic() - t0 < 0.2 + PROMPT_S
            with trio.fail_after(5):
                await stopped.wait()
        _assert_consistent(home, "drain", "interrupted")

    live.run(main)
