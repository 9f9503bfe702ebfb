"""The shipped examples must stay valid as the config schema changes."""

from __future__ import annotations

from pathlib import Path

from claw.state import config as cfg
from claw.state import config_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_config_is_valid_and_documents_every_fixed_key() -> None:
    data = cfg.read_file(EXAMPLES / "config.toml")
    written = {k for k, _ in cfg.flatten(data)}
    fixed = {
        k
        for k in config_schema.all_keys()
        if "<name>" not in k and config_schema.lookup(k)[0].default is not None
    }
    assert fixed <= written, f"examples/config.toml does not show: {sorted(fixed - written)}"


def test_example_channels_config_is_valid_and_routes_as_it_says() -> None:
    from claw.routing.route import Inbound, route

    config = cfg.load(EXAMPLES / "channels.toml", environ={})  # validates every key
    group = Inbound(channel="telegram", peer="55", peer_kind="group", group="-1001234567890")
    assert route(config, group).agent == "work"
    assert (
        route(config, Inbound(channel="webhook", peer="nagios", account="alerts")).agent == "work"
    )
    assert route(config, Inbound(channel="telegram", peer="12345")).agent == "main"


def test_example_soul_has_content_for_the_model() -> None:
    from claw.agent.prompt import clean

    assert clean((EXAMPLES / "SOUL.md").read_text()).strip()


def test_example_webhook_receiver_gets_a_signed_notify(home, tmp_path: Path) -> None:
    """examples/webhook_receiver.py as documented: claw notify reaches it, signed, once;
    a wrong secret is refused (and claw fails that delivery for good)."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from claw.state.config import set_value

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CLAW_WEBHOOK_SECRET": "s3cret"}
    receiver = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stderr is not None and "listening" in receiver.stderr.readline()
        base = "channels.webhook.targets"
        set_value(home.config_file, f"{base}.ops.url", f"http://127.0.0.1:{port}/hook")
        set_value(home.config_file, f"{base}.ops.secret_env", "CLAW_WEBHOOK_SECRET")
        set_value(home.config_file, f"{base}.bad.url", f"http://127.0.0.1:{port}/hook")
        set_value(home.config_file, f"{base}.bad.secret", "wrong")
        argv = [sys.executable, "-m", "claw", "--home", str(home.root), "notify", "-c", "webhook"]
        ok = subprocess.run([*argv, "--to", "ops", "--wait", "deployed"], env=env, timeout=60)
        assert ok.returncode == 0
        bad = subprocess.run(
            [*argv, "--to", "bad", "--wait", "x"], env=env, capture_output=True, text=True
        )
        assert bad.returncode == 1 and "http_401" in bad.stderr
    finally:
        receiver.terminate()
        out, _ = receiver.communicate(timeout=10)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(m["to"], m["text"]) for m in lines] == [("ops", "deployed")]


def test_example_heartbeat_has_real_content() -> None:
    from claw.heartbeat.content import has_real_content

    assert has_real_content((EXAMPLES / "HEARTBEAT.md").read_text())
