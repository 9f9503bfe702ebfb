"""The real gateway on 127.0.0.1:0 with real clients (httpx, trio-websocket, websockets)."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from claw.gateway.app import Limits
from claw.gateway.security import load_token
from tests import scripted
from tests.gateway.live import (
    Server,
    call,
    rate_limit_error,
    recv,
    reply_or_close,
    run,
    running,
    transcript_messages,
    ws_client,
)


def test_http_health_chat_and_auth(home):
    async def main() -> None:
        limits = Limits(max_body=4096)
        async with running(home, limits=limits) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            http = c
            r = await http.get("/health")
            assert r.status_code == 200 and r.json()["ok"] is True
            bearer = {"authorization": f"Bearer {srv.token}"}
            send = {"jsonrpc": "2.0", "method": "chat.send", "id": 1}
            send["params"] = {"text": "hello there", "model": "echo", "session_key": "s1"}
            r = await http.post("/rpc", json=send, headers=bearer)
            res = r.json()["result"]
            assert res["text"] == "hello there" and res["session_key"] == "s1"
            msgs = transcript_messages(home, "s1")
            assert [m["role"] for m in msgs] == ["user", "assistant"]
            assert msgs[-1]["id"] == res["message_id"]
            for headers in ({}, {"authorization": "Bearer wrong"}):
                r = await http.post("/rpc", json=send, headers=headers)
                assert r.status_code == 401 and r.json()["error"]["code"] == -32001
            r = await http.post(f"/rpc?token={srv.token}", json=send)
            assert r.status_code == 401
            r = await http.post("/rpc", content=b"x" * 5000, headers=bearer)
            assert r.status_code == 413 and r.json()["error"]["code"] == -32006
            note = {"jsonrpc": "2.0", "method": "health"}
            r = await http.post("/rpc", json=note, headers=bearer)
            assert r.status_code == 204 and r.content == b""

    run(main)


def test_ws_auth_header_first_frame_and_deadline(home):
    async def main() -> None:
        async with running(home, limits=Limits(auth_timeout_s=0.3)) as srv:
            async with ws_client(srv) as ws:
                assert (await call(ws, "status"))["result"]["connections"] >= 1
            async with ws_client(srv, auth=False) as ws:
                assert (await call(ws, "health"))["result"]["ok"] is True
                assert (await call(ws, "status"))["error"]["code"] == -32001
                reply = await call(ws, "auth", {"token": srv.token})
                assert reply["result"] == {"authenticated": True}
                assert "pid" in (await call(ws, "status"))["result"]
                await trio.sleep(0.5)  # authenticated: the deadline does not apply
                assert "result" in await call(ws, "agents.list")
            async with ws_client(srv, auth=False) as ws:
                assert (await call(ws, "auth", {"token": "nope"}))["error"]["code"] == -32001
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 4401
            bad = [(b"authorization", b"Bearer wrong")]
            async with open_websocket_url(srv.ws, extra_headers=bad) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 4401
            async with open_websocket_url(f"{srv.ws}?token={srv.token}") as ws:
                assert (await call(ws, "status"))["error"]["code"] == -32001  # URL ignored
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()  # nothing else sent: closed after 0.3 s
                assert closed.value.reason.code == 4401

    run(main)


def test_ws_error_codes_notifications_and_batches(home):
    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            await ws.send_message("{not json")
            assert (await recv(ws))["error"]["code"] == -32700
            await ws.send_message("[]")
            assert (await recv(ws))["error"]["code"] == -32600
            await ws.send_message(json.dumps([1, {"jsonrpc": "2.0", "method": "health", "id": 7}]))
            batch = await recv(ws)
            assert batch[0]["error"]["code"] == -32600 and batch[1]["result"]["ok"] is True
            assert (await call(ws, "no.such"))["error"]["code"] == -32601
            err = (await call(ws, "chat.send", {"txt": "x"}))["error"]
            assert err["code"] == -32602 and err["data"]["param"] == "txt"
            err = (await call(ws, "chat.send", {"text": 3}))["error"]
            assert err["code"] == -32602 and err["data"]["param"] == "text"
            err = (await call(ws, "test.boom", {}))["error"]
            assert err == {"code": -32603, "message": "Internal error"}
            err = (await call(ws, "chat.history", {"session_key": "nope"}))["error"]
            assert err["code"] == -32004
            # a notification gets no answer: the next message is the request's answer
            await ws.send_message(json.dumps({"jsonrpc": "2.0", "method": "health"}))
            assert (await call(ws, "health"))["result"]["ok"] is True
            await ws.send_message(
                json.dumps([{"jsonrpc": "2.0", "method": "health"}] * 2)
            )  # a batch of notifications: nothing at all
            assert (await call(ws, "health"))["result"]["ok"] is True

    run(main)


def test_model_failure_is_32005_with_reason(home):
    scripted.install([rate_limit_error()])

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            params = {"text": "hi", "model": "scripted/test", "session_key": "rl"}
            err = (await call(ws, "chat.send", params))["error"]
            assert err["code"] == -32005 and err["data"]["reason"] == "rate_limit"

    run(main)


def test_stream_order_history_and_idempotent_retry(home):
    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            events: list = []
            params = {"text": "one two three", "model": "echo", "session_key": "st"}
            res = (await call(ws, "chat.send_stream", params, events=events))["result"]
            # the supervisor's decision follows chat.start (claw.supervisor)
            assert [e["type"] for e in events][:2] == ["chat.start", "supervisor.mode"]
            events = [e for e in events if e["type"] != "supervisor.mode"]
            kinds = [e["type"] for e in events]
            assert kinds[0] == "chat.start" and kinds[-1] == "chat.end"
            assert set(kinds[1:-1]) == {"chat.delta"}
            assert "".join(e["text"] for e in events[1:-1]) == res["text"] == "one two three"
            assert events[-1]["message_id"] == res["message_id"]
            params = {"text": "again", "model": "echo", "session_key": "st"}
            params["idempotency_key"] = "k-1"
            first = (await call(ws, "chat.send", params))["result"]
            second = (await call(ws, "chat.send", params))["result"]
            assert second["message_id"] == first["message_id"] and second["replayed"] is True
            assert len(transcript_messages(home, "st")) == 4  # two exchanges, not three
            hist = (await call(ws, "chat.history", {"session_key": "st", "limit": 3}))["result"]
            assert [m["role"] for m in hist["messages"]] == ["assistant", "user", "assistant"]
            before = hist["messages"][1]["id"]
            older = await call(ws, "chat.history", {"session_key": "st", "before": before})
            assert len(older["result"]["messages"]) == 2
            listed = (await call(ws, "sessions.list", {}))["result"]["sessions"]
            assert "st" in [s["key"] for s in listed]
            assert (await call(ws, "chat.clear", {"session_key": "st"}))["result"]["cleared"]
            assert (await call(ws, "sessions.delete", {"session_key": "st"}))["result"]
            err = (await call(ws, "chat.history", {"session_key": "st"}))["error"]
            assert err["code"] == -32004

    run(main)


def test_abort_stops_a_slow_turn(home):
    scripted.install(["word " * 200], delay=0.02)

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws, ws_client(srv) as other:
            params = {"text": "go", "model": "scripted/test", "session_key": "slow"}
            async with trio.open_nursery() as nursery:
                got: dict = {}

                events: list = []

                async def stream() -> None:
                    got["reply"] = await call(ws, "chat.send_stream", params, events=events)

                nursery.start_soon(stream)
                with trio.fail_after(10):  # the reply has begun (a cold start takes longer)
                    while not any(e["type"] == "chat.delta" for e in events):
                        await trio.sleep(0.02)
                busy = await call(other, "chat.send", params)
                assert busy["error"]["code"] == -32003
                assert (await call(other, "chat.abort", {"session_key": "slow"}))["result"] == {
                    "aborted": True
                }
            assert got["reply"]["result"]["status"] == "interrupted"
            msgs = transcript_messages(home, "slow")
            assert msgs[-1]["role"] == "assistant" and msgs[-1]["status"] == "interrupted"
            assert (await call(ws, "chat.abort", {"session_key": "slow"}))["result"] == {
                "aborted": False
            }

    run(main)


def test_oversize_frame_and_rate_limit(home):
    async def main() -> None:
        limits = Limits(max_frame=1000, burst=3, rate_per_s=1)
        async with running(home, limits=limits) as srv:
            async with ws_client(srv) as ws:
                replies = [await call(ws, "health") for _ in range(4)]
                assert all("result" in r for r in replies[:3])
                err = replies[3]["error"]
                assert err["code"] == -32002 and err["data"]["retry_after_ms"] > 0
            async with ws_client(srv) as ws:
                await ws.send_message("x" * 2000)
                assert (await recv(ws))["error"]["code"] == -32006
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1009

    run(main)


def test_websockets_library_interoperates(home):
    from websockets.sync.client import connect

    def client(url: str, token: str) -> dict:
        headers = {"Authorization": f"Bearer {token}"}
        with connect(url, additional_headers=headers) as ws:
            params = {"text": "via websockets", "model": "echo", "session_key": "interop"}
            ws.send(
                json.dumps({"jsonrpc": "2.0", "method": "chat.send", "params": params, "id": 1})
            )
            return json.loads(ws.recv(timeout=10))

    async def main() -> None:
        async with running(home, limits=Limits(max_connections=1)) as srv:
            reply = await trio.to_thread.run_sync(client, srv.ws, srv.token)
            assert reply["id"] == 1 and reply["result"]["text"] == "via websockets"
            async with ws_client(srv) as ws, ws_client(srv) as refused:
                with pytest.raises(ConnectionClosed) as closed:
                    await refused.get_message()
                assert closed.value.reason.code == 1013
                assert "result" in await call(ws, "health")

    run(main)


def test_connections_waiting_to_authenticate_are_capped(home):
    """Strangers can open sockets that wait for a first-frame `auth`; they get a share of
    the connections (max_unauthenticated), never all of them, so clients with a token still
    get in. A socket that authenticates frees its place in that share."""

    async def main() -> None:
        limits = Limits(max_unauthenticated=2)
        async with (
            running(home, limits=limits) as srv,
            ws_client(srv, auth=False) as a,
            ws_client(srv, auth=False),
        ):
            async with ws_client(srv, auth=False) as third:
                with pytest.raises(ConnectionClosed) as closed:
                    await third.get_message()
                assert closed.value.reason.code == 1013
            async with ws_client(srv) as with_token:
                assert "result" in await call(with_token, "status")
            assert "result" in await call(a, "auth", {"token": srv.token})
            async with ws_client(srv, auth=False) as fourth:  # a's place is free again
                assert "result" in await call(fourth, "health")

    run(main)


def test_200_concurrent_streaming_clients(home):
    async def main() -> None:
        done: list[bool] = []
        async with running(home) as srv:

            async def one(i: int) -> None:
                async with ws_client(srv) as ws:
                    events: list = []
                    params = {"text": f"client {i} says hi", "model": "echo"}
                    params["session_key"] = f"c{i}"
                    res = (await call(ws, "chat.send_stream", params, events=events))["result"]
                    assert res["text"] == f"client {i} says hi"
                    assert events[0]["type"] == "chat.start" and events[-1]["type"] == "chat.end"
                    done.append(True)

            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(one, i)
        assert len(done) == 200

    run(main, timeout=60)


@pytest.mark.parametrize("hurried", [False, True], ids=["grace-over", "second-signal"])
def test_graceful_shutdown_mid_stream(home, hurried):
    """The running turn is aborted when the grace period is over, or at once when the
    daemon is hurried (its second SIGTERM/SIGINT) during a long grace period."""
    from claw.gateway.serve import serve
    from claw.state.config import load
    from claw.state.sessions import SessionStore

    scripted.install(["word " * 300], delay=0.02)

    async def main() -> None:
        server_cs, hurry = trio.CancelScope(), trio.Event()
        grace_s = 60.0 if hurried else 0.2

        async def server(task_status=trio.TASK_STATUS_IGNORED) -> None:
            with server_cs:
                cfg = load(home.config_file)
                await serve(
                    home,
                    cfg,
                    host="127.0.0.1",
                    port=0,
                    grace_s=grace_s,
                    hurry=hurry,
                    task_status=task_status,
                )

        async with trio.open_nursery() as nursery:
            port = await nursery.start(server)
            srv = Server(port, load_token(home), nursery)
            async with ws_client(srv) as ws:
                params = {"text": "go", "model": "scripted/test", "session_key": "down"}
                await ws.send_message(
                    json.dumps(
                        {"jsonrpc": "2.0", "method": "chat.send_stream", "params": params, "id": 9}
                    )
                )
                assert (await recv(ws))["params"]["type"] == "chat.start"
                with trio.fail_after(10):  # a delta: the turn is streaming (litellm warm)
                    while (await recv(ws))["params"]["type"] != "chat.delta":
                        pass
                server_cs.cancel()
                if hurried:
                    await trio.sleep(0.1)
                    hurry.set()
                with trio.fail_after(5):  # far less than the 60 s grace when hurried
                    outcome = await reply_or_close(ws, 9)
                assert outcome == "closed" or outcome["error"]["code"] == -32007
        msgs = transcript_messages(home, "down")
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["status"] == "interrupted"
        assert outcome != "closed", "the client should hear why before the close"
        assert SessionStore(home).history("down", 10_000)  # replays cleanly

    run(main)


def test_slow_reader_is_disconnected_not_buffered(home):
    async def main() -> None:
        limits = Limits(send_queue=2, burst=1000, rate_per_s=1000)
        async with running(home, limits=limits) as srv:
            async with ws_client(srv) as ws:
                big = {"text": "x" * 150_000, "model": "echo", "session_key": "big"}
                assert "result" in await call(ws, "chat.send", big)
            dropped = False
            async with ws_client(srv) as watcher:
                with trio.CancelScope() as client_cs:
                    async with ws_client(srv) as slow:
                        ask = {"jsonrpc": "2.0", "method": "chat.history", "id": 1}
                        ask["params"] = {"session_key": "big"}
                        with contextlib.suppress(ConnectionClosed):  # dropped mid-sending
                            for _ in range(150):  # ~45 MB of answers, never read
                                await slow.send_message(json.dumps(ask))
                        for _ in range(100):
                            status = (await call(watcher, "status"))["result"]
                            if status["connections"] == 1:
                                dropped = True
                                break
                            await trio.sleep(0.05)
                        client_cs.cancel()  # the stuck client cannot finish a close handshake
            assert dropped, "the slow reader was not disconnected"

    run(main)


def test_http_routes_rate_limit_and_unknown_paths(home):
    """Starlette routes: JSON 404, 405 on GET /rpc, unknown WebSocket paths refused
    (closed before the accept: HTTP 403); HTTP callers share a per-address rate limit,
    answered 429 + Retry-After."""

    async def main() -> None:
        limits = Limits(rate_per_s=1.0, burst=3)
        async with running(home, limits=limits) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            r = await c.get("/nope")
            assert r.status_code == 404 and r.json() == {"error": "not found"}
            r = await c.get("/rpc")
            assert r.status_code == 405 and r.headers["allow"] == "POST"
            bearer = {"authorization": f"Bearer {srv.token}"}
            status = {"jsonrpc": "2.0", "method": "status", "id": 1}
            for _ in range(3):
                r = await c.post("/rpc", json=status, headers=bearer)
                assert r.status_code == 200 and "result" in r.json()
            r = await c.post("/rpc", json=status, headers=bearer)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            err = r.json()["error"]
            assert err["code"] == -32002 and err["data"]["retry_after_ms"] > 0
            batch = [status | {"id": 2}, status | {"id": 3}]
            r = await c.post("/rpc", json=batch, headers=bearer)
            assert r.status_code == 200  # a batch answers per member
            assert [m["error"]["code"] for m in r.json()] == [-32002, -32002]
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(f"ws://127.0.0.1:{srv.port}/other") as ws:
                    await ws.get_message()
            assert rejected.value.status_code == 403

    run(main)


def test_chat_send_result_shape_and_its_deadline(home):
    """The result carries the usage breakdown and the server's duration; `timeout_s`
    bounds the turn (error -32008), `thinking` is checked."""
    scripted.install(["slow answer"], context_window=8192, delay=0.5)

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            res = (await call(ws, "chat.send", {"text": "hi", "model": "echo"}))["result"]
            assert set(res["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
            assert res["tokens_used"] == res["usage"]["total_tokens"]
            assert isinstance(res["duration_ms"], int) and res["status"] == "ok"
            slow = {"text": "hi", "model": "scripted/test", "timeout_s": 0.2, "thinking": "off"}
            with trio.fail_after(2):
                err = (await call(ws, "chat.send", slow))["error"]
            assert err["code"] == -32008 and "0.2s" in err["message"]
            bad = await call(ws, "chat.send", {"text": "hi", "thinking": "max"})
            assert bad["error"]["code"] == -32602 and bad["error"]["data"]["param"] == "thinking"

    run(main)
