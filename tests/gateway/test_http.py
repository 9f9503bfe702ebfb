"""`POST /rpc` at the HTTP level, with httpx's connection pool as a client sees it."""

from __future__ import annotations

import httpx
import trio

from claw.gateway.app import Limits
from tests.gateway.live import run, running

HEALTH = {"jsonrpc": "2.0", "method": "health", "id": 1}


def test_refused_bodies_close_the_connection_so_the_next_request_works(home):
    """An answer sent before the body was read (413, 401) leaves the unread rest on the
    connection, so the server drops it; without `Connection: close` the client's pool sent
    its next request there and got "Server disconnected without sending a response"."""

    async def main() -> None:
        async with running(home, limits=Limits(max_body=4096)) as srv:
            bearer = {"authorization": f"Bearer {srv.token}"}
            async with httpx.AsyncClient(base_url=srv.http, timeout=10) as c:
                wrong = {"authorization": "Bearer wrong"}
                for headers, status in ((bearer, 413), ({}, 413), (wrong, 401)):
                    r = await c.post("/rpc", content=b"x" * (2 << 20), headers=headers)
                    assert r.status_code == status and r.headers["connection"] == "close"
                    r = await c.post("/rpc", json=HEALTH, headers=bearer)
                    assert r.status_code == 200 and r.json()["result"]["ok"] is True

    run(main)


def test_health_needs_no_token_over_http_either(home):
    """Issue #4: `health` needs no auth, and both transports serve the same methods. Without
    a token `POST /rpc` answers only requests made of such methods; anything else (even
    in the same batch, or an unknown method) is 401, as before."""

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            r = await c.post("/rpc", json=HEALTH)
            assert r.status_code == 200 and r.json()["result"]["ok"] is True
            r = await c.post("/rpc", json=[HEALTH, {**HEALTH, "id": 2}])
            assert [a["result"]["ok"] for a in r.json()] == [True, True]
            status = {"jsonrpc": "2.0", "method": "status", "id": 3}
            for body in (status, [HEALTH, status], {**HEALTH, "method": "nope"}, [1]):
                r = await c.post("/rpc", json=body)
                assert r.status_code == 401 and r.json()["error"]["code"] == -32001
            r = await c.post("/rpc", content=b"{not json")
            assert r.status_code == 401
            auth = {"jsonrpc": "2.0", "method": "auth", "id": 4, "params": {"token": "wrong"}}
            r = await c.post("/rpc", json=auth)  # says whether the token is right, no more
            assert r.json()["error"]["code"] == -32001
            r = await c.post("/rpc", json={**auth, "params": {"token": srv.token}})
            assert r.json()["result"] == {"authenticated": True}

    run(main)


def test_parallel_wrong_tokens_wait_in_turn(home):
    """Repeated failed auth is slowed down (issue #4 §6), also when the guesses come all at
    once: after the free failures, each waits its own growing delay (0.25, 0.5, 1 s), one
    after another, where all three used to wait the same 0.25 s together."""

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            wrong = {"authorization": "Bearer wrong"}

            async def guess() -> None:
                r = await c.post("/rpc", json=HEALTH | {"method": "status"}, headers=wrong)
                assert r.status_code == 401

            for _ in range(3):  # typos are free
                await guess()
            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(guess)
            assert trio.current_time() - started >= 1.7
            r = await c.post("/rpc", json=HEALTH, headers={"authorization": f"Bearer {srv.token}"})
            assert r.status_code == 200  # the right token still gets in (after its wait)

    run(main)


def test_notification_only_answer_is_a_bare_204(home):
    """RFC 9110 §8.6: a 204 carries no Content-Length (and no body to have a type)."""

    async def main() -> None:
        async with running(home) as srv, httpx.AsyncClient(base_url=srv.http) as c:
            bearer = {"authorization": f"Bearer {srv.token}"}
            for body in (
                {"jsonrpc": "2.0", "method": "health"},
                [{"jsonrpc": "2.0", "method": "x"}],
            ):
                r = await c.post("/rpc", json=body, headers=bearer)
                assert r.status_code == 204 and r.content == b""
                assert "content-length" not in r.headers and "content-type" not in r.headers

    run(main)
