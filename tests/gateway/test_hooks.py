"""Inbound webhooks on the real gateway: POST /hooks/<name> -> journal -> agent -> reply."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trio

from claw.delivery.inbox import Inbox
from claw.state.config import set_value
from claw.state.home import Home
from tests.gateway.live import run, running


class Receiver:
    """An outbound webhook target on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def configure(home: Home, receiver: Receiver, token: str = "hook-secret-1") -> None:
    set_value(home.config_file, "model.default", "echo")
    set_value(home.config_file, "channels.webhook.hooks.alerts.token", token)
    set_value(home.config_file, "channels.webhook.hooks.alerts.reply_target", "back")
    set_value(home.config_file, "channels.webhook.targets.back.url", receiver.url)
    set_value(home.config_file, "channels.webhook.hooks.quiet.token", "quiet-token-2")


def hook(port: int, name: str, body: Any, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"http://127.0.0.1:{port}/hooks/{name}", content=raw, headers=headers)


def test_a_hook_message_is_journaled_answered_and_replied(home: Home, receiver: Receiver) -> None:
    configure(home, receiver)

    async def main() -> None:
        async with running(home) as server:
            post = lambda *a: trio.to_thread.run_sync(hook, server.port, *a)  # noqa: E731
            r = await post(
                "alerts", {"text": "disk full", "from": "nagios", "id": "e1"}, "hook-secret-1"
            )
            assert r.status_code == 200 and r.json()["duplicate"] is False
            again = await post(
                "alerts", {"text": "disk full", "from": "nagios", "id": "e1"}, "hook-secret-1"
            )
            assert again.json() == r.json() | {"duplicate": True}  # a retried event: once
            while not receiver.bodies:
                await trio.sleep(0.02)
            await trio.sleep(0.3)
            server.nursery.cancel_scope.cancel()

    run(main)
    assert [b["text"] for b in receiver.bodies] == ["disk full"]  # echo, exactly once
    assert receiver.bodies[0]["to"] == "back"
    assert Inbox(home).pending() == []


def test_hook_refusals(home: Home, receiver: Receiver) -> None:
    configure(home, receiver)

    async def main() -> None:
        async with running(home) as server:

            def post(name: str, body: Any, tok: str | None) -> httpx.Response:
                return hook(server.port, name, body, tok)

            call = trio.to_thread.run_sync
            ok = {"text": "hi"}
            assert (await call(post, "alerts", ok, None)).status_code == 401
            assert (await call(post, "alerts", ok, "wrong")).status_code == 401
            assert (await call(post, "nosuch", ok, "hook-secret-1")).status_code == 401
            assert (
                await call(post, "quiet", ok, "hook-secret-1")
            ).status_code == 401  # not its token
            assert (
                await call(post, "alerts", ok, server.token)
            ).status_code == 401  # gateway token
            assert (await call(post, "alerts", b"not json", "hook-secret-1")).status_code == 400
            assert (await call(post, "alerts", {"text": ""}, "hook-secret-1")).status_code == 400
            assert (
                await call(post, "alerts", {"text": "x", "from": "a b"}, "hook-secret-1")
            ).status_code == 400
            # ':' separates session-key parts: such a thread or sender could never be
            # routed, so it is refused at the door instead of staying pending forever
            for bad in ({"thread": "a:b"}, {"from": "a:b"}):
                r = await call(post, "alerts", {"text": "x", **bad}, "hook-secret-1")
                assert r.status_code == 400 and "':'" in r.json()["error"]
            # ids that fit the 256-character field but make a session key too long
            for bad in ({"thread": "t" * 250}, {"from": "f" * 200}):
                r = await call(post, "alerts", {"text": "x", **bad}, "hook-secret-1")
                assert r.status_code == 400 and "session key" in r.json()["error"], r.text
            get = await call(lambda: httpx.get(f"{server.http}/hooks/alerts"))
            assert get.status_code == 405
            # a token in the URL is never accepted
            url = f"{server.http}/hooks/alerts?token=hook-secret-1"
            assert (await call(lambda: httpx.post(url, json=ok))).status_code == 401
            server.nursery.cancel_scope.cancel()

    run(main)
    assert Inbox(home).pending() == []  # nothing refused was journaled


def test_a_hook_whose_token_is_the_gateway_token_is_refused(home: Home, receiver: Receiver) -> None:
    from claw.gateway.security import load_token

    configure(home, receiver)
    # Written by hand (`claw config set` refuses it): the hook is off for everyone.
    with home.config_file.open("a") as f:
        f.write(f'\n[channels.webhook.hooks.shared]\ntoken = "{load_token(home)}"\n')

    async def main() -> None:
        async with running(home) as server:

            def post(name: str, tok: str | None) -> httpx.Response:
                return hook(server.port, name, {"text": "x"}, tok)

            call = trio.to_thread.run_sync
            # Only the holder of the gateway token learns why the hook is refused.
            r = await call(post, "shared", server.token)
            assert r.status_code == 403 and "differ" in r.json()["error"]
            # A stranger cannot tell that hook from one that does not exist.
            for tok in (None, "wrong", "hook-secret-1"):
                known = await call(post, "shared", tok)
                unknown = await call(post, "nosuch", tok)
                assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
                assert known.status_code == 401
            server.nursery.cancel_scope.cancel()

    run(main)
    assert Inbox(home).pending() == []


def test_config_set_refuses_the_gateway_token_as_a_hook_token(cli, home: Home) -> None:
    from claw.gateway.security import load_token

    before = home.config_file.read_text()
    r = cli("config", "set", "channels.webhook.hooks.alerts.token", load_token(home))
    assert r.exit_code == 2, r.output
    assert "gateway token" in r.stderr
    assert load_token(home) not in r.output
    assert home.config_file.read_text() == before
    assert (
        cli("config", "set", "channels.webhook.hooks.alerts.token", "0123456789abcdef").exit_code
        == 0
    )


def test_config_set_refuses_a_short_hook_token(cli, home: Home) -> None:
    before = home.config_file.read_text()
    r = cli("config", "set", "channels.webhook.hooks.alerts.token", "letmein")
    assert r.exit_code == 2, r.output
    assert "at least 16 characters" in r.stderr and "letmein" not in r.output
    assert home.config_file.read_text() == before


def test_a_hook_without_reply_target_answers_without_sending(
    home: Home, receiver: Receiver
) -> None:
    configure(home, receiver)

    async def main() -> None:
        async with running(home) as server:
            r = await trio.to_thread.run_sync(
                hook, server.port, "quiet", {"text": "log this"}, "quiet-token-2"
            )
            assert r.status_code == 200
            inbox = Inbox(home)
            while inbox.pending():
                await trio.sleep(0.02)
            server.nursery.cancel_scope.cancel()

    run(main)
    assert receiver.bodies == []
    from claw.state.sessions import SessionStore

    assert SessionStore(home).list()  # the agent saw it


def test_each_hook_has_its_own_rate_limit(home: Home, receiver: Receiver) -> None:
    configure(home, receiver)
    set_value(home.config_file, "channels.webhook.hooks.alerts.rate_per_s", "2")

    async def main() -> None:
        async with running(home) as server:

            def burst(name: str, token: str, n: int) -> list[httpx.Response]:
                # All at once: sent one by one on a loaded machine, the bucket refilled
                # (a token each 0.5 s) between requests and the test failed now and then.
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(n) as pool:
                    calls = [
                        pool.submit(hook, server.port, name, {"text": f"m{i}"}, token)
                        for i in range(n)
                    ]
                    return [c.result() for c in calls]

            answers = await trio.to_thread.run_sync(burst, "alerts", "hook-secret-1", 8)
            codes = [r.status_code for r in answers]
            # Bursts of 2 x rate_per_s: 4 pass (a 5th if a token came back meanwhile).
            assert 4 <= codes.count(200) <= 5 and codes.count(429) == 8 - codes.count(200)
            refused = next(r for r in answers if r.status_code == 429)
            assert int(refused.headers["retry-after"]) >= 1
            # another hook, from the same address, is not held back
            other = await trio.to_thread.run_sync(burst, "quiet", "quiet-token-2", 4)
            assert [r.status_code for r in other] == [200] * 4
            server.nursery.cancel_scope.cancel()

    run(main)


def test_channels_status_shows_the_hooks_listening(home: Home, receiver: Receiver) -> None:
    configure(home, receiver)

    async def main() -> None:
        async with running(home) as server:
            await trio.to_thread.run_sync(
                hook, server.port, "alerts", {"text": "x"}, "hook-secret-1"
            )
            from claw.gateway.client import call

            rows = (await call(server.ws, server.token, "channels.status", {}))["channels"]
            webhook = next(r for r in rows if r["name"] == "webhook")
            assert webhook["receiving"] and webhook["state"] == "listening"
            assert webhook["received"] == 1 and webhook["last_inbound_at"]
            probed = await call(server.ws, server.token, "channels.status", {"probe": True})
            row = next(r for r in probed["channels"] if r["name"] == "webhook")
            assert row["probe"]["ok"] is None  # a webhook has no live check, and says so
            server.nursery.cancel_scope.cancel()

    run(main)
