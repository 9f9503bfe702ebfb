"""`claw config` at the edges a user hits: blank values, fractions of durations, a
config.toml that cannot be read, empty or malformed keys."""

from __future__ import annotations

import pytest

from tests.conftest import run_claw


@pytest.mark.parametrize("key", ["gateway.host", "model.default"])
def test_a_blank_value_is_refused_where_blank_means_nothing(cli, home, key: str) -> None:
    # gateway.host = "" made the daemon listen on every interface (and report its
    # address as http://:18789); model.default = "" failed every later turn.
    before = home.config_file.read_text()
    for blank in ("", "  "):
        r = cli("config", "set", key, blank)
        assert r.exit_code == 2, r.output
        assert "empty" in r.output and "unset" in r.output
    assert home.config_file.read_text() == before


def test_a_blank_value_in_the_file_or_environment_is_refused(cli, home) -> None:
    home.config_file.write_text('[gateway]\nhost = ""\n')
    r = cli("config", "get", "gateway.port")
    assert r.exit_code == 2 and "gateway.host" in r.output, r.output
    home.config_file.write_text("")
    r = run_claw("config", "get", "model.default", env={"CLAW_MODEL__DEFAULT": ""})
    assert r.returncode == 2 and "CLAW_MODEL__DEFAULT" in r.stderr, r.stderr


def test_serve_refuses_a_blank_host(cli, home) -> None:
    r = run_claw("serve", "--host", "", "--port", "0", timeout=30)
    assert r.returncode == 2, r.stderr
    assert "--host" in r.stderr


def test_a_config_that_cannot_be_read_is_a_config_error(cli, home) -> None:
    # An OSError (here: a directory in its place; also EACCES, EIO) was an internal error.
    home.config_file.unlink()
    home.config_file.mkdir()
    for args in (("config", "list"), ("sessions", "list"), ("send", "--model", "echo", "x")):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "config.toml" in r.output and "internal error" not in r.output


@pytest.mark.parametrize("args", [("get", ""), ("set", "", "x"), ("unset", ""), ("get", ".")])
def test_an_empty_key_is_an_unknown_key(cli, home, args: tuple[str, ...]) -> None:
    # `config get ''` exited 1 in silence (as for a key with no value) and `config set ''`
    # said "'' is a table, not a setting; its keys: " with nothing after it.
    r = cli("config", *args)
    assert r.exit_code == 2, r.output
    assert "unknown config key" in r.output


def test_no_suggestion_is_made_of_an_empty_name(cli, home) -> None:
    r = cli("config", "get", "agents.../x.model")
    assert r.exit_code == 2, r.output
    assert "agents..model" not in r.output


def test_an_unknown_key_in_the_file_names_the_valid_ones(cli, home) -> None:
    # The hint was "see `claw config list`", which fails on that same file.
    home.config_file.write_text("[tools]\nfoo = 1\n")
    r = cli("config", "list")
    assert r.exit_code == 2, r.output
    assert "tools.foo" in r.output and "claw config list" not in r.output
    assert "max_iterations" in r.output


def test_an_integer_beyond_toml_range_is_refused(cli, home) -> None:
    # TOML integers are 64-bit: 10**23 was written to config.toml, which other TOML
    # readers (and any tool a user points at the file) then refuse to parse.
    before = home.config_file.read_text()
    r = cli("config", "set", "model.timeout_s", "99999999999999999999999")
    assert r.exit_code == 2, r.output
    assert "at most" in r.output
    assert home.config_file.read_text() == before


def test_an_empty_home_is_refused_not_replaced_by_the_default(tmp_path) -> None:
    # `--home ""` (e.g. an unset shell variable: --home "$DIR") silently used
    # $CLAW_HOME or ~/.claw: another state directory than the one asked for.
    r = run_claw("--home", "", "config", "path", env={"HOME": str(tmp_path)})
    assert r.returncode == 2, r.stdout
    assert "--home" in r.stderr
    assert not (tmp_path / ".claw").exists()
