"""`claw config`: get, set, unset, list, path; validation and environment overrides."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest


def file_data(home_path: Path) -> dict:
    return tomllib.loads((home_path / "config.toml").read_text())


def test_get_default(cli) -> None:
    r = cli("config", "get", "model.default")
    assert r.exit_code == 0
    assert r.stdout == "local/smollm2\n"


def test_set_get_unset_roundtrip(cli, home_path: Path) -> None:
    r = cli("config", "set", "model.default", "echo")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "model.default = echo"
    assert file_data(home_path)["model"]["default"] == "echo"
    assert cli("config", "get", "model.default").stdout == "echo\n"

    r = cli("config", "unset", "model.default")
    assert r.exit_code == 0
    assert r.stdout.strip() == "unset model.default"
    assert "default" not in file_data(home_path)["model"]
    assert cli("config", "get", "model.default").stdout == "local/smollm2\n"

    r = cli("config", "unset", "model.default")
    assert r.exit_code == 0
    assert "was not set" in r.stdout


def test_set_int_is_stored_typed(cli, home_path: Path) -> None:
    r = cli("config", "set", "model.timeout_s", "120")
    assert r.exit_code == 0
    assert file_data(home_path)["model"]["timeout_s"] == 120
    assert cli("config", "get", "model.timeout_s", "--json").stdout.strip() == "120"


def test_set_list(cli, home_path: Path) -> None:
    r = cli("config", "set", "model.fallbacks", "echo, openai/gpt-4o-mini")
    assert r.exit_code == 0, r.output
    assert file_data(home_path)["model"]["fallbacks"] == ["echo", "openai/gpt-4o-mini"]


def test_get_table_prints_its_keys(cli) -> None:
    r = cli("config", "get", "model")
    assert r.exit_code == 0
    assert "model.default = local/smollm2" in r.stdout.splitlines()
    assert "model.max_tokens = 1024" in r.stdout.splitlines()


def test_path(cli, home_path: Path) -> None:
    r = cli("config", "path")
    assert r.exit_code == 0
    assert r.stdout == f"{home_path / 'config.toml'}\n"


def test_list_text(cli) -> None:
    assert cli("config", "set", "model.timeout_s", "77").exit_code == 0
    r = cli("config", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert "model.timeout_s = 77  # file" in lines
    assert "sessions.history_tokens = 0  # default" in lines


def test_list_json(cli) -> None:
    r = cli("config", "list", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == {"key", "value", "source"}
    by_key = {row["key"]: row for row in rows}
    assert by_key["model.default"]["value"] == "local/smollm2"
    assert by_key["model.max_tokens"]["value"] == 1024
    assert by_key["sessions.history_tokens"]["source"] == "default"
    assert by_key["agents.main.dm_scope"]["source"] == "file"


def test_set_int_rejects_text(cli) -> None:
    r = cli("config", "set", "model.timeout_s", "abc")
    assert r.exit_code == 2
    assert "integer" in r.stderr
    assert cli("config", "get", "model.timeout_s").stdout.strip() == "600"


def test_set_int_below_minimum(cli) -> None:
    r = cli("config", "set", "model.max_tokens", "0")
    assert r.exit_code == 2
    assert "at least 1" in r.stderr


def test_set_unknown_key_suggests(cli, home_path: Path) -> None:
    r = cli("config", "set", "model.defualt", "x")
    assert r.exit_code == 2
    assert "did you mean 'model.default'" in r.stderr
    assert "defualt" not in (home_path / "config.toml").read_text()


def test_get_unknown_key_suggests(cli) -> None:
    r = cli("config", "get", "model.max_token")
    assert r.exit_code == 2
    assert "did you mean 'model.max_tokens'" in r.stderr


def test_set_enum_suggests(cli) -> None:
    r = cli("config", "set", "model.thinking", "hihg")
    assert r.exit_code == 2
    assert "'high'" in r.stderr
    assert cli("config", "get", "model.thinking").stdout.strip() == "off"


def test_set_agent_dm_scope(cli, home_path: Path) -> None:
    r = cli("config", "set", "agents.main.dm_scope", "per-peer")
    assert r.exit_code == 0, r.output
    assert cli("config", "get", "agents.main.dm_scope").stdout.strip() == "per-peer"
    assert file_data(home_path)["agents"]["main"]["dm_scope"] == "per-peer"


def test_set_invalid_agent_name(cli) -> None:
    r = cli("config", "set", "agents.Bad Name.model", "echo")
    assert r.exit_code == 2
    assert "invalid agent id" in r.stderr


def test_set_table_is_refused(cli) -> None:
    r = cli("config", "set", "model", "echo")
    assert r.exit_code == 2
    assert "model.default" in r.stderr


def test_get_unset_key_exits_1_silently(cli) -> None:
    r = cli("config", "get", "agents.main.model")
    assert r.exit_code == 1
    assert r.stdout == ""


def test_env_override(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_MODEL__DEFAULT", "echo")
    assert cli("config", "get", "model.default").stdout == "echo\n"
    r = cli("config", "list")
    assert "model.default = echo  # env CLAW_MODEL__DEFAULT" in r.stdout.splitlines()
    rows = {row["key"]: row for row in json.loads(cli("config", "list", "--json").stdout)}
    assert rows["model.default"] == {
        "key": "model.default",
        "value": "echo",
        "source": "env CLAW_MODEL__DEFAULT",
    }


def test_env_override_is_used_by_send(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_MODEL__DEFAULT", "echo")
    r = cli("send", "--json", "from the environment")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"] == "echo"


def test_invalid_env_override_is_a_usage_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_MODEL__TIMEOUT_S", "soon")
    r = cli("config", "list")
    assert r.exit_code == 2
    assert "CLAW_MODEL__TIMEOUT_S" in r.stderr


BROKEN = "this is not toml\n"


@pytest.mark.parametrize(
    "args",
    [
        ("config", "list"),
        ("config", "get", "model.default"),
        ("send", "--model", "echo", "hi"),
        ("sessions", "list"),
    ],
    ids=["config-list", "config-get", "send", "sessions-list"],
)
def test_syntax_error_in_config_is_reported_with_line_and_column(
    cli, home, args: tuple[str, ...]
) -> None:
    with (home.config_file).open("a") as f:
        f.write(BROKEN)
    r = cli(*args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "config.toml" in r.stderr
    assert "line" in r.stderr and "column" in r.stderr
    assert "internal error" not in r.stderr


def test_syntax_error_at_end_of_file_names_line_and_column(cli, home) -> None:
    # A file whose last line was left unfinished (no trailing newline): a typical edit.
    with (home.config_file).open("a") as f:
        f.write('[agents.work]\nmodel = "echo')
    r = cli("config", "list")
    assert r.exit_code == 2
    assert "line" in r.stderr and "column" in r.stderr, r.stderr


def test_unknown_key_in_file_is_reported(cli, home) -> None:
    with (home.config_file).open("a") as f:
        f.write("\n[sessionz]\nhistory_tokens = 5\n")
    r = cli("config", "list")
    assert r.exit_code == 2
    assert "unknown config key 'sessionz" in r.stderr
