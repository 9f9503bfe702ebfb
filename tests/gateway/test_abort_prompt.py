"""chat.abort and the daemon's drain stop a turn promptly even while the model is silent
(a slow next piece, or a call that has not answered yet), and leave the session whole."""

from __future__ import annotations

import json
import time

import trio
from trio_websocket import ConnectionClosed

from claw.gateway.security import load_token
from claw.state.sessions import SessionStore
from tests import scripted
from tests.gateway.live import Server, call, recv, run, running, transcript_messages, ws_client

STALL_S = 8.0  # the model's silence; every bound below is far shorter
PROMPT_S = 1.0  # generous for a 2-CPU box; the aim is ~0.1 s


def _stalling(after_words: int) -> dict:
    return {"text": "one two three four five six", "stall": (after_words, STALL_S)}


async def _wait_for_delta(events: list) -> None:
    with trio.fail_after(10):  # litellm's cold start
        while not any(e["type"] == "chat.delta" for e in events):
            await trio.sleep(0.01)


def _assert_consistent(home, key: str, status: str) -> None:
    msgs = transcript_messages(home, key)
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[-1]["status"] == status
    assert SessionStore(home).history(key, 10_000)  # replays cleanly


def test_abort_while_the_model_stalls_between_pieces(home):
    scripted.install([_stalling(after_words=2), "ok"])

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws, ws_client(srv) as other:
            params = {"text": "go", "model": "scripted/test", "session_key": "stall"}
            got: dict = {}
            events: list = []
            async with trio.open_nursery() as nursery:

                async def stream() -> None:
                    got["reply"] = await call(ws, "chat.send_stream", params, events=events)
                    got["at"] = time.monotonic()

                nursery.start_soon(stream)
                await _wait_for_delta(events)
                await trio.sleep(0.2)  # the model is now silent, mid-reply
                t0 = time.monotonic()
                with trio.fail_after(PROMPT_S):
                    reply = await call(other, "chat.abort", {"session_key": "stall"})
                assert reply["result"] == {"aborted": True}
                with trio.fail_after(PROMPT_S):
                    while "reply" not in got:
                        await trio.sleep(0.005)
            assert got["at"] - t0 < PROMPT_S, got["at"] - t0
            assert got["reply"]["result"]["status"] == "interrupted"
            assert events[-1]["type"] == "chat.end" and events[-1]["status"] == "interrupted"
            _assert_consistent(home, "stall", "interrupted")
            assert transcript_messages(home, "stall")[-1]["content"] == "one two "
            # The session is free at once for the next turn.
            with trio.fail_after(5):
                nxt = await call(ws, "chat.send", params | {"text": "again"})
            assert nxt["result"]["text"] == "ok"

    run(main)


def test_abort_before_the_model_answers_at_all(home):
    """chat.send (no stream) on a model that has not produced anything yet."""
    scripted.install([_stalling(after_words=0)])

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws, ws_client(srv) as other:
            params = {"text": "go", "model": "scripted/test", "session_key": "mute"}
            got: dict = {}
            async with trio.open_nursery() as nursery:

                async def send() -> None:
                    got["reply"] = await call(ws, "chat.send", params)

                nursery.start_soon(send)
                with trio.fail_after(10):
                    while not (await call(other, "status"))["result"]["running_sessions"]:
                        await trio.sleep(0.02)
                await trio.sleep(0.5)  # inside the model call
                t0 = time.monotonic()
                assert (await call(other, "chat.abort", {"session_key": "mute"}))["result"][
                    "aborted"
                ]
                with trio.fail_after(PROMPT_S):
                    while "reply" not in got:
                        await trio.sleep(0.005)
                assert time.monotonic() - t0 < PROMPT_S
            assert got["reply"]["result"]["status"] == "interrupted"
            msgs = transcript_messages(home, "mute")
            assert [m["role"] for m in msgs] == ["user", "assistant"]
            assert msgs[-1]["status"] == "error" and msgs[-1]["reason"] == "interrupted"

    run(main)


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
            srv = Server(port, load_token(home), nursery)
            async with ws_client(srv) as ws:
                params = {"text": "go", "model": "scripted/test", "session_key": "drain"}
                req = {"jsonrpc": "2.0", "method": "chat.send_stream", "params": params, "id": 7}
                await ws.send_message(json.dumps(req))
                with trio.fail_after(10):
                    while (await recv(ws))["params"]["type"] != "chat.delta":
                        pass
                await trio.sleep(0.2)  # the model is silent now
                t0 = time.monotonic()
                server_cs.cancel()
                outcome = None
                try:
                    with trio.fail_after(0.2 + PROMPT_S):
                        while True:
                            msg = await recv(ws)
                            if msg.get("id") == 7:
                                outcome = msg
                                break
                except ConnectionClosed:
                    outcome = "closed"
                assert outcome != "closed", "the client should hear why before the close"
                assert outcome["error"]["code"] == -32007
                assert time.monotonic() - t0 < 0.2 + PROMPT_S
            with trio.fail_after(5):
                await stopped.wait()
        _assert_consistent(home, "drain", "interrupted")

    run(main)
