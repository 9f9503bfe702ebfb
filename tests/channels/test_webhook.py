"""The webhook channel against a real HTTP receiver on 127.0.0.1, port 0."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trio

from claw.channels.base import DeliveryError, Outbound
from claw.channels.registry import build_channel
from claw.channels.webhook import WebhookChannel, parse_retry_after
from claw.errors import ConfigError
from claw.state.config import Config, load
from claw.state.home import Home

SECRET = "s3cr3t-do-not-leak"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every POST and answers with `reply` (change it between sends)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.reply = Reply()
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Request(self.path, headers, body))
                reply = receiver.reply
                if reply.delay and receiver.stop.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def wrapped() -> None:
        with trio.fail_after(10):
            await main()

    trio.run(wrapped)


def configure(home: Home, text: str) -> Config:
    home.config_file.write_text(text)
    return load(home.config_file)


def webhook(home: Home, url: str, extra: str = "") -> WebhookChannel:
    config = configure(home, f'[channels.webhook.targets.ops]\nurl = "{url}"\n{extra}\n')
    channel = build_channel("webhook", home, config)
    assert isinstance(channel, WebhookChannel)
    return channel


def msg(to: str = "ops", **kw: Any) -> Outbound:
    return Outbound(to=to, text=kw.pop("text", "disk is full"), idempotency_key="k-1:0", **kw)


async def send_error(channel: WebhookChannel, message: Outbound) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await channel.send(message)
    return info.value


def test_body_headers_and_signature(home, receiver, monkeypatch):
    monkeypatch.setenv("OPS_HOOK_SECRET", SECRET)
    channel = webhook(home, receiver.url, 'secret_env = "OPS_HOOK_SECRET"')
    receiver.reply = Reply(200, b'{"id": "abc-1"}', {"Content-Type": "application/json"})
    message = msg(text="héllo ☃", account="work", reply_to="m9", thread="t1", part=1, parts=3)

    async def main() -> None:
        receipt = await channel.send(message)
        assert receipt.message_id == "abc-1"
        receiver.reply = Reply(204)
        assert (await channel.send(msg())).message_id is None
        await channel.aclose()

    run(main)
    req = receiver.requests[0]
    assert req.path == "/hook"
    assert json.loads(req.body) == {
        "to": "ops",
        "text": "héllo ☃",
        "account": "work",
        "idempotency_key": "k-1:0",
        "part": 1,
        "parts": 3,
        "reply_to": "m9",
        "thread": "t1",
    }
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "k-1:0"
    expected = hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-claw-signature"] == f"sha256={expected}"
    assert SECRET not in req.path and SECRET.encode() not in req.body
    assert channel.health()["sent"] == 2


def test_inline_secret_and_unsigned(home, receiver):
    config = configure(
        home,
        f'[channels.webhook.targets.signed]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
        f'[channels.webhook.targets.plain]\nurl = "{receiver.url}"\n',
    )
    channel = build_channel("webhook", home, config)

    async def main() -> None:
        await channel.send(msg("signed"))
        await channel.send(msg("plain"))
        await channel.aclose()

    run(main)
    signed, plain = receiver.requests
    expected = hmac.new(SECRET.encode(), signed.body, hashlib.sha256).hexdigest()
    assert signed.headers["x-claw-signature"] == f"sha256={expected}"
    assert "x-claw-signature" not in plain.headers
    assert json.loads(plain.body)["to"] == "plain"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (404, True),
        (410, True),
        (408, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_status_classification(home, receiver, status, permanent):
    channel = webhook(home, receiver.url)
    receiver.reply = Reply(status, b"nope")

    async def main() -> None:
        err = await send_error(channel, msg())
        assert err.permanent is permanent
        assert err.reason == f"http_{status}"
        assert err.retry_after is None
        await channel.aclose()

    run(main)


def test_retry_after_seconds_and_http_date(home, receiver):
    channel = webhook(home, receiver.url)

    async def main() -> None:
        receiver.reply = Reply(429, headers={"Retry-After": "42"})
        err = await send_error(channel, msg())
        assert (err.permanent, err.reason, err.retry_after) == (False, "http_429", 42.0)
        when = datetime.now(UTC) + timedelta(seconds=120)
        receiver.reply = Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
        err = await send_error(channel, msg())
        assert err.reason == "http_503" and 110 < err.retry_after <= 121
        receiver.reply = Reply(404, headers={"Retry-After": "42"})
        assert (await send_error(channel, msg())).retry_after is None  # permanent: no hint
        await channel.aclose()

    run(main)


def test_parse_retry_after() -> None:
    now = time.time()
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_timeout_is_transient(home, receiver):
    channel = webhook(home, receiver.url, "timeout_s = 1")
    receiver.reply = Reply(200, delay=5)

    async def main() -> None:
        started = trio.current_time()
        err = await send_error(channel, msg())
        assert (err.permanent, err.reason) == (False, "timeout")
        assert trio.current_time() - started < 4
        await channel.aclose()

    run(main)


def test_connection_refused_is_transient(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = webhook(home, f"http://127.0.0.1:{port}/hook")

    async def main() -> None:
        err = await send_error(channel, msg())
        assert (err.permanent, err.reason) == (False, "network")
        assert f"127.0.0.1:{port}" in err.message and "/hook" not in err.message
        await channel.aclose()

    run(main)


def test_unknown_target_missing_url_and_bad_urls(home, monkeypatch):
    config = configure(
        home,
        "[channels.webhook.targets.nourl]\ntimeout_s = 5\n"
        '[channels.webhook.targets.ftp]\nurl = "ftp://example.com/x"\n'
        '[channels.webhook.targets.nosecret]\nurl = "http://127.0.0.1:9/x"\n'
        'secret_env = "CLAW_TEST_UNSET_SECRET"\n',
    )
    monkeypatch.delenv("CLAW_TEST_UNSET_SECRET", raising=False)
    channel = build_channel("webhook", home, config)

    async def main() -> None:
        for to, reason in [
            ("ops", "unknown_target"),
            ("nourl", "unknown_target"),
            ("../etc", "unknown_target"),
            ("ftp", "bad_url"),
            ("nosecret", "missing_secret"),
        ]:
            err = await send_error(channel, msg(to))
            assert (err.permanent, err.reason) == (True, reason), to
        err = await send_error(channel, msg("ops"))
        assert "channels.webhook.targets.ops.url" in err.message

    run(main)


def test_secret_never_logged_or_shown(home, receiver, monkeypatch, caplog):
    """Neither the signing secret nor a hook URL (which can be a credential itself)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # other tests' imports may quiet httpx
    monkeypatch.setenv("OPS_HOOK_SECRET", SECRET)
    url = f"{receiver.url}?token={SECRET}"
    config = configure(
        home,
        f'[channels.webhook.targets.ops]\nurl = "{url}"\nsecret_env = "OPS_HOOK_SECRET"\n'
        f'[channels.webhook.targets.slow]\nurl = "{url}"\nsecret = "{SECRET}"\ntimeout_s = 1\n',
    )
    channel = build_channel("webhook", home, config)
    messages: list[str] = []

    async def main() -> None:
        await channel.send(msg())
        for status in (500, 404):
            receiver.reply = Reply(status)
            messages.append((await send_error(channel, msg())).message)
        receiver.reply = Reply(200, delay=5)
        messages.append((await send_error(channel, msg("slow"))).message)
        await channel.aclose()

    run(main)
    assert len(receiver.requests) == 4
    shown = [caplog.text, *messages, repr(channel.targets), json.dumps(channel.health())]
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # httpx did log, redacted
    assert not [s for s in shown if SECRET in s]


def test_config_validates_target_names_and_timeout(home):
    with pytest.raises(ConfigError, match="webhook target name"):
        configure(home, '[channels.webhook.targets."bad name"]\nurl = "http://x"\n')
    with pytest.raises(ConfigError, match="at least 1"):
        configure(home, "[channels.webhook.targets.ops]\ntimeout_s = 0\n")
    with pytest.raises(ConfigError, match="did you mean"):
        configure(home, "[channels.webhook.targets.ops]\nurll = 'http://x'\n")
    config = configure(home, '[channels.webhook.targets.ops]\nurl = "http://x"\n')
    assert WebhookChannel.from_config(config).targets["ops"].timeout_s == 10


def test_importing_the_registry_does_not_import_httpx():
    code = (
        "import sys, claw.channels.registry as r; "
        "assert 'httpx' not in sys.modules, 'httpx'; "
        "assert r.known_channels() == ['discord', 'mock', 'telegram', 'terminal', 'webhook']"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
