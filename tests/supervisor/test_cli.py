"""The supervisor from the command line: `claw send --mode`, `--verbose` decisions (in
process and through the daemon), `--json`, and the shipped intents example."""

from __future__ import annotations

import json
from pathlib import Path

from claw.state import config as cfg
from claw.state import config_schema
from claw.state.home import Home
from claw.supervisor.decide import decide
from tests.gateway.test_client import daemon, probe  # noqa: F401  (the fixture)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supervisor_intents.toml"


def test_verbose_shows_the_decision(cli, home: Home) -> None:
    r = cli("send", "--local", "--verbose", "--model", "echo", "hello there")
    assert r.exit_code == 0, r.output
    assert r.stdout == "hello there\n"
    assert "· mode=fast intent=smalltalk score=" in r.stderr


def test_forced_mode_and_json(cli, home: Home) -> None:
    r = cli("send", "--local", "--json", "--mode", "single", "--model", "echo", "hello there")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mode"] == "single"
    r = cli("send", "--local", "--mode", "turbo", "--model", "echo", "hi")
    assert r.exit_code == 2 and "--mode" in r.stderr


def test_through_the_daemon_mode_and_decision_without_loading_the_model_code(
    daemon: Home,  # noqa: F811
) -> None:
    r, lite, turn = probe("send", "--verbose", "--mode", "fast", "--model", "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert not lite and not turn
    assert r.stdout == "hi\n"
    assert "· mode=fast intent=forced score=1.00 source=forced" in r.stderr
    r, _, _ = probe("send", "--json", "--model", "echo", "thanks!")
    assert json.loads(r.stdout)["mode"] == "fast"


def test_the_intents_example_is_valid_and_routes_its_kind_of_message(home: Home) -> None:
    data = cfg.read_file(EXAMPLE)
    config_schema.validate_tree(data, config_schema.SCHEMA)
    home.config_file.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    config = cfg.load(home.config_file)
    assert decide(config, "will it snow today?").intent == "weather"
    assert decide(config, "后天会下雨吗").mode == "fast"
    assert decide(config, "please review this diff for bugs").intent == "code_review"
