"""The built-in methods' params errors, over the real server: -32602 names the param."""

from __future__ import annotations

import httpx

from tests.gateway.live import run, running, transcript_messages

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
