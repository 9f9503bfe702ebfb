"""The built-in methods' params errors, over the real server: -32602 names the param."""

from __future__ import annotations

import json

import httpx
import trio

from tests import scripted
from tests.gateway.live import call, recv, run, running, transcript_messages, ws_client

BAD = [
    ("chat.send", {"text": "   ", "model": "echo"}, "text"),
    ("chat.send", {"text": "hi", "model": "echo", "session_key": "a::b"}, "session_key"),
    ("chat.send", {"text": "hi", "model": "echo", "idempotency_key": "a\nb"}, "idempotency_key"),
    ("chat.history", {"session_key": "bad key"}, "session_key"),
    ("chat.clear", {"session_key": "x" * 1000}, "session_key"),
    ("chat.abort", {"session_key": "a:"}, "session_key"),
    ("sessions.delete", {"session_key": "tab\there"}, "session_key"),
]


def test_invalid_params_name_the_param_and_say_why(home):
    """Issue #4 §4 and the README's table: -32602 carries `data.param` and `data.reason`.
    Values the type check passes but the method refuses (an empty text, a malformed session
    key or idempotency key) came back without `param`."""

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            bearer = {"authorization": f"Bearer {srv.token}"}
            batch = [
                {"jsonrpc": "2.0", "method": m, "params": p, "id": i}
                for i, (m, p, _) in enumerate(BAD)
            ]
            answers = (await c.post("/rpc", json=batch, headers=bearer)).json()
            for (method, _, param), answer in zip(BAD, answers, strict=True):
                err = answer["error"]
                assert err["code"] == -32602, (method, err)
                assert err["data"]["param"] == param, (method, err)
                assert err["data"]["reason"], (method, err)
            history = (await c.post("/rpc", json=batch[3] | {"id": 99}, headers=bearer)).json()
            assert "contains" in history["error"]["data"]["reason"]  # the store's own words

    run(main)


def test_an_idempotency_key_reused_for_another_text_is_refused(home):
    """A key names one request: a retry (same text) gets the stored reply, but another
    message under the same key is a client bug. It was answered with the first message's
    reply (`replayed`), so the second message was silently never sent."""

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            bearer = {"authorization": f"Bearer {srv.token}"}

            async def send(text: str, session_key: str = "agent:main:idem") -> dict:
                params = {"text": text, "model": "echo", "idempotency_key": "k-1"}
                rpc = {"jsonrpc": "2.0", "method": "chat.send", "id": 1}
                rpc["params"] = params | {"session_key": session_key}
                return (await c.post("/rpc", json=rpc, headers=bearer)).json()

            first = (await send("first"))["result"]
            retry = (await send("first"))["result"]
            assert retry["replayed"] is True and retry["message_id"] == first["message_id"]
            for other in (await send("second"), await send("first", "agent:main:other")):
                err = other["error"]
                assert err["code"] == -32602 and err["data"]["param"] == "idempotency_key"
            texts = [m["content"] for m in transcript_messages(home, "agent:main:idem")]
            assert texts == ["first", "first"]  # one exchange: nothing ran twice

    run(main)


def test_a_retry_after_a_dropped_connection_gets_the_reply_not_a_second_turn(home):
    """Issue #4 §5: the client that lost its connection mid-turn retries with the same
    idempotency key and must get the one reply, with one transcript entry. The turn was
    aborted when the connection dropped, so the retry ran it again: the user's message
    twice in the transcript, after an interrupted reply."""
    scripted.install(["word " * 40, "second turn"], delay=0.02)

    async def main() -> None:
        params = {"text": "go", "model": "scripted/test", "session_key": "agent:main:drop"}
        params["idempotency_key"] = "retry-1"
        async with running(home) as srv:
            async with ws_client(srv) as ws:
                rpc = {"jsonrpc": "2.0", "method": "chat.send_stream", "params": params, "id": 1}
                await ws.send_message(json.dumps(rpc))
                with trio.fail_after(10):  # the reply has begun; then the client is gone
                    while (await recv(ws))["params"]["type"] != "chat.delta":
                        pass
            async with ws_client(srv) as ws:
                with trio.fail_after(10):
                    while "error" in (reply := await call(ws, "chat.send", params)):
                        assert reply["error"]["code"] == -32003  # still running: retry later
                        await trio.sleep(0.05)
            result = reply["result"]
            assert result["replayed"] is True and result["status"] == "ok"
            assert result["text"].split() == ["word"] * 40
        messages = transcript_messages(home, "agent:main:drop")
        assert [(m["role"], m.get("status")) for m in messages] == [
            ("user", None),
            ("assistant", "ok"),
        ]

    run(main)


def test_the_daemon_honours_sessions_fsync(home, monkeypatch):
    """`sessions.fsync = false` means the same through the daemon as in-process: the
    daemon's transcript appends skip fsync (they used to fsync whatever the setting)."""
    from claw.state import jsonl

    with open(home.config_file, "a", encoding="utf-8") as fh:
        fh.write("\n[sessions]\nfsync = false\n")
    seen: list[bool] = []
    real = jsonl.append_locked

    def spy(path, data, *, fsync=True):
        seen.append(fsync)
        return real(path, data, fsync=fsync)

    monkeypatch.setattr(jsonl, "append_locked", spy)

    async def main() -> None:
        async with running(home) as server, ws_client(server) as ws:
            reply = await call(ws, "chat.send", {"text": "hi", "model": "echo"})
            assert reply["result"]["text"] == "hi"

    run(main)
    assert seen and not any(seen)
