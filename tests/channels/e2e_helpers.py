"""Shared pieces of the channel end-to-end tests (issue #6 item 7).

A real `claw serve` subprocess (tests/test_daemon.py `Daemons`) talks to the fake
Telegram / Discord servers of this package over 127.0.0.1, and the test looks at the
result the way a user would: what the fake chat received, `claw channels status --json`,
`claw queue stats --json`, `claw sessions list --json`, and the inbound journal file.
Test modules import the fixtures by their `*_fixture` names and ask for `stack`,
`telegram`, `discord` and `model`.

`FakeModel` is a tiny OpenAI-compatible server (POST /v1/chat/completions, streamed or
not) that claw reaches through litellm with `providers.openai.api_base`, exactly as it
would reach a local vLLM or llama.cpp server. It can hold its answers (a turn that is
still running when the daemon is killed) and answer whatever a test wants (a reply
longer than Telegram's 4,096 characters, which the echo model cannot produce from a
message Telegram would accept).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

from claw.delivery.inbox import Inbox
from claw.state import config_schema as schema
from claw.state.config import merge, read_file, write_file
from claw.state.home import Home
from tests.channels.fake_discord import FakeDiscord
from tests.channels.fake_telegram import FakeTelegram
from tests.test_daemon import Daemons, claw

T = TypeVar("T")
TELEGRAM_TOKEN_ENV = "E2E_TELEGRAM_TOKEN"  # not CLAW_*: conftest clears those
DISCORD_TOKEN_ENV = "E2E_DISCORD_TOKEN"
ADA, BOB = 111, 222  # Telegram user ids (a private chat's id is its user's id)


def until(check: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# -- the fake model ------------------------------------------------------------------------
def echo_reply(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return f"model says: {content}"


class FakeModel:
    """An OpenAI-compatible chat completions endpoint on 127.0.0.1, in a thread."""

    def __init__(self, reply: Callable[[list[dict[str, Any]]], str] = echo_reply) -> None:
        self.reply = reply
        self.cond = threading.Condition()
        self.requests: list[dict[str, Any]] = []  # bodies, recorded when they arrive
        self.answered = 0
        self._released = True
        self._stopping = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeModel:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self._stopping = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def hold(self) -> None:
        """Requests from now on are accepted and recorded, but not answered until release."""
        with self.cond:
            self._released = False

    def release(self) -> None:
        with self.cond:
            self._released = True
            self.cond.notify_all()

    def wait_for_requests(self, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, timeout):
                pytest.fail(f"the fake model got {len(self.requests)} request(s), not {n}")
            return list(self.requests)

    def _answer(self, body: dict[str, Any]) -> str | None:
        with self.cond:
            self.requests.append(body)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self._released or self._stopping)
            if self._stopping:
                return None
        return self.reply(body.get("messages") or [])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(raw)
                text = fake._answer(body)
                if text is None:
                    self.send_error(503)
                    return
                try:
                    if body.get("stream"):
                        self._stream(body, text)
                    else:
                        self._whole(body, text)
                except OSError:  # the client died while we held its answer
                    return
                with fake.cond:
                    fake.answered += 1

            def _whole(self, body: dict[str, Any], text: str) -> None:
                answer = _completion(body, text)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
                base = {"id": "chatcmpl-e2e", "object": "chat.completion.chunk"}
                base |= {"created": int(time.time()), "model": body.get("model", "fake")}
                pieces = [text[i : i + 500] for i in range(0, len(text), 500)]
                events = [
                    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": p}}]}
                    for p in pieces
                ]
                events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                events.append({"choices": [], "usage": _usage(body, text)})
                for event in events:
                    self.wfile.write(f"data: {json.dumps(base | event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
    completion = len(text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": _usage(body, text),
    }


# -- the daemon and its state --------------------------------------------------------------
@dataclass
class Stack:
    """One CLAW_HOME, the daemons started on it, and how a test looks at them."""

    home: Home
    daemons: Daemons
    monkeypatch: pytest.MonkeyPatch
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # configuration
    def configure(self, data: dict[str, Any]) -> None:
        """Deep-merge `data` into config.toml (validated like `claw config set` does)."""
        merged = merge(read_file(self.home.config_file), data)
        schema.validate_tree(merged, schema.SCHEMA)
        write_file(self.home.config_file, merged)

    def telegram(self, fake: FakeTelegram, token: str | None = None, **settings: Any) -> None:
        self.monkeypatch.setenv(TELEGRAM_TOKEN_ENV, token or fake.token)
        section = {
            "enabled": True,
            "token_env": TELEGRAM_TOKEN_ENV,
            "api_base": fake.url,
            "poll_timeout_s": 1,  # short polls: a test never waits on a long one
            "stall_grace_s": 5,
            "request_timeout_s": 10,
        }
        self.configure({"channels": {"telegram": section | settings}})

    def discord(self, fake: FakeDiscord, **settings: Any) -> None:
        self.monkeypatch.setenv(DISCORD_TOKEN_ENV, fake.token)
        section = {
            "enabled": True,
            "token_env": DISCORD_TOKEN_ENV,
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
        }
        self.configure({"channels": {"discord": section | settings}})

    def slow_model(self, model: FakeModel) -> None:
        """The fake model as the default model, reached through litellm's openai provider."""
        self.configure(
            {
                "model": {"default": "openai/e2e-model", "timeout_s": 60},
                "providers": {
                    "openai": {
                        "api_base": model.url,
                        "profiles": [{"name": "e2e", "api_key": "sk-e2e-not-a-real-key"}],
                    }
                },
            }
        )

    # the daemon
    def start(self, *channels: str) -> subprocess.Popen[bytes]:
        """`claw serve --port 0`, ready, with `channels` connected."""
        proc = self.daemons.start()
        self.procs.append(proc)
        self.daemons.wait_ready(proc, timeout=30)
        for name in channels:
            until(lambda n=name: self.channel(n).get("state") == "connected", f"{name} connected")
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(timeout=10)

    def stderr(self) -> str:
        return "".join(self.daemons.stderr(p) for p in self.procs)

    def log(self) -> str:
        path = self.home.root / "logs" / "daemon.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    # the CLI, as a user runs it
    def claw(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = claw(self.home, *args)
        assert result.returncode == 0, f"claw {' '.join(args)}: {result.stderr}"
        return result

    def claw_json(self, *args: str) -> Any:
        return json.loads(self.claw(*args, "--json").stdout)

    def channel(self, name: str) -> dict[str, Any]:
        data = self.claw_json("channels", "status")
        assert data["daemon"] is True, data
        return next((row for row in data["channels"] if row["name"] == name), {})

    def queue_stats(self) -> dict[str, Any]:
        return self.claw_json("queue", "stats")

    def session_keys(self) -> set[str]:
        return {s["key"] for s in self.claw_json("sessions", "list")}

    # the inbound journal
    def pending(self) -> list[str]:
        return [m.text for m in Inbox(self.home).pending()]

    def outcomes(self) -> list[str]:
        """The outcome of every message processed so far (journal `done` records)."""
        path = self.home.root / "inbox" / "journal.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        outcomes = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # the daemon's append in progress: seen next time
                continue
            if record.get("type") == "done":
                outcomes.append(record.get("outcome", ""))
        return outcomes

    def settled(self) -> bool:
        """Nothing left that could still produce a message: journal and queue empty."""
        stats = self.queue_stats()
        return not self.pending() and stats["depth"] == 0 and stats["failed"] == 0


@pytest.fixture(name="stack")
def stack_fixture(home: Home, daemons: Daemons, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)  # the daemon talks to 127.0.0.1 directly
    s = Stack(home, daemons, monkeypatch)
    s.configure({"model": {"default": "echo"}})
    return s


# The fakes stop only after the daemons are gone: a fake shutting down under a live
# daemon waits for its connections (seconds) and makes the daemon log failures.
@pytest.fixture(name="telegram")
def telegram_fixture(daemons: Daemons) -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake
        daemons.kill_all()


@pytest.fixture(name="discord")
def discord_fixture(daemons: Daemons) -> Iterator[FakeDiscord]:
    with FakeDiscord(guilds={"900": []}) as fake:
        yield fake
        daemons.kill_all()


@pytest.fixture(name="model")
def model_fixture(daemons: Daemons) -> Iterator[FakeModel]:
    with FakeModel() as fake:
        yield fake
        daemons.kill_all()
