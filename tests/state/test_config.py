"""config.toml: defaults, typed `set`, suggestions, syntax errors, env overrides, unset."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from claw.errors import ConfigError, InvalidName, UsageError
from claw.state import config as cfg
from claw.state import config_schema as schema
from claw.state.config_schema import Field, parse_value


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def _file(path: Path) -> dict:
    return tomllib.loads(path.read_text())


# -- defaults -----------------------------------------------------------------------


def test_defaults_when_there_is_no_file(path: Path) -> None:
    c = cfg.load(path, environ={})
    assert not path.exists()
    assert c.get("model.default") == "local/smollm2"
    assert c.get("model.fallbacks") == []
    assert c.get("model.thinking") == "off"
    assert c.get("model.max_tokens") == 1024
    assert c.get("gateway.port") == 18789
    assert c.get("sessions.history_tokens") == 0
    assert c.get("nope.nothing", "dflt") == "dflt"
    assert c.source("model.default") == "default"
    assert c.agent_ids() == ["main"]
    assert c.agent_model("main") == "local/smollm2"


def test_defaults_are_fresh_copies(path: Path) -> None:
    a = cfg.load(path, environ={})
    a.get("model.fallbacks").append("mutated")
    assert cfg.load(path, environ={}).get("model.fallbacks") == []


def test_every_default_passes_validation() -> None:
    schema.validate_tree(schema.defaults(), schema.SCHEMA)


# -- set_value: typed parsing ---------------------------------------------------------


def test_set_int(path: Path) -> None:
    assert cfg.set_value(path, "model.max_tokens", " 2048 ") == 2048
    assert _file(path)["model"]["max_tokens"] == 2048
    assert cfg.load(path, environ={}).get("model.max_tokens") == 2048
    assert cfg.load(path, environ={}).source("model.max_tokens") == "file"


@pytest.mark.parametrize("raw", ["abc", "1.5", "", "true", "0x10"])
def test_set_int_refuses_non_integers(path: Path, raw: str) -> None:
    with pytest.raises(UsageError, match="expected an integer"):
        cfg.set_value(path, "model.max_tokens", raw)
    assert not path.exists()


def test_set_int_below_minimum(path: Path) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        cfg.set_value(path, "model.timeout_s", "0")
    assert cfg.set_value(path, "sessions.history_tokens", "0") == 0


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("0", False),
    ],
)
def test_parse_bool(raw: str, value: bool) -> None:
    assert parse_value(Field("bool"), raw, "x.flag") is value


@pytest.mark.parametrize("raw", ["maybe", "", "2", "tru"])
def test_parse_bool_refuses_others(raw: str) -> None:
    with pytest.raises(UsageError, match=r"x\.flag: expected true or false"):
        parse_value(Field("bool"), raw, "x.flag")


def test_parse_duration_field() -> None:
    assert parse_value(Field("duration"), "90m", "x.every") == "90m"
    assert parse_value(Field("duration"), "3600", "x.every") == "1h"
    with pytest.raises(UsageError, match=r"x\.every: invalid duration"):
        parse_value(Field("duration"), "soon", "x.every")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a,b", ["a", "b"]),
        (" openai/gpt-4o , anthropic/claude ,", ["openai/gpt-4o", "anthropic/claude"]),
        ('["a", "b,c"]', ["a", "b,c"]),
        ("[]", []),
        ("", []),
    ],
)
def test_set_list(path: Path, raw: str, value: list[str]) -> None:
    assert cfg.set_value(path, "model.fallbacks", raw) == value
    assert _file(path)["model"]["fallbacks"] == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('["a", 1]', "expected a list of strings"),
        ("[1,", "expected JSON"),
        ('["a"', "expected JSON"),
    ],
)
def test_set_list_refuses_bad_values(path: Path, raw: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cfg.set_value(path, "model.fallbacks", raw)


def test_set_enum(path: Path) -> None:
    assert cfg.set_value(path, "model.thinking", "high") == "high"
    with pytest.raises(UsageError) as e:
        cfg.set_value(path, "model.thinking", "hihg")
    assert "expected one of off, low, medium, high" in e.value.message
    assert "did you mean 'high'" in e.value.message
    assert _file(path)["model"]["thinking"] == "high"  # unchanged by the failure


def test_set_list_of_tables(path: Path) -> None:
    raw = '[{"name": "a", "api_key_env": "KEY_A"}, {"name": "b"}]'
    assert cfg.set_value(path, "providers.openai.profiles", raw)[1] == {"name": "b"}
    with pytest.raises(ConfigError, match="did you mean"):
        cfg.set_value(path, "providers.openai.profiles", '[{"nmae": "a"}]')
    with pytest.raises(UsageError, match="list of tables"):
        cfg.set_value(path, "providers.openai.profiles", '["a"]')


def test_str_keeps_text_as_is(path: Path) -> None:
    assert cfg.set_value(path, "model.default", "echo") == "echo"
    assert cfg.set_value(path, "gateway.host", "0.0.0.0") == "0.0.0.0"
    c = cfg.load(path, environ={})
    assert c.get("model.default") == "echo"
    assert c.get("model.max_tokens") == 1024  # untouched keys keep their defaults


def test_set_keeps_other_keys_and_writes_0600(path: Path) -> None:
    cfg.set_value(path, "model.default", "echo")
    cfg.set_value(path, "gateway.port", "9000")
    data = _file(path)
    assert data == {"model": {"default": "echo"}, "gateway": {"port": 9000}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")) == [
        "config.toml"
    ]


def test_set_tightens_a_loose_existing_file(path: Path) -> None:
    path.write_text('[model]\ndefault = "echo"\n')
    path.chmod(0o644)
    cfg.set_value(path, "model.max_tokens", "10")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- unknown keys and agents ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("model.defualt", "model.default"),
        ("model.fallback", "model.fallbacks"),
        ("gateway.prot", "gateway.port"),
        ("agents.work.modle", "agents.work.model"),
    ],
)
def test_unknown_key_suggests_the_closest(path: Path, key: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg.set_value(path, key, "x")
    assert f"did you mean '{suggestion}'" in str(e.value)
    assert f"'{key}'" in str(e.value)
    assert not path.exists()


def test_unknown_key_with_nothing_close(path: Path) -> None:
    with pytest.raises(ConfigError, match="the top-level keys are: agents, "):
        cfg.set_value(path, "zzzzzz.qqqq", "x")


@pytest.mark.parametrize("key", ["model", "agents", "agents.work", "model.default.x", "", "."])
def test_tables_and_malformed_keys_are_not_settable(path: Path, key: str) -> None:
    with pytest.raises(UsageError):
        cfg.set_value(path, key, "x")


def test_new_agent_table(path: Path) -> None:
    cfg.set_value(path, "agents.work.model", "echo")
    cfg.set_value(path, "agents.work.dm_scope", "per-peer")
    assert _file(path)["agents"]["work"] == {"model": "echo", "dm_scope": "per-peer"}
    c = cfg.load(path, environ={})
    assert c.agent_ids() == ["main", "work"]
    assert c.agent_model("work") == "echo"
    assert c.agent_model("main") == "local/smollm2"


@pytest.mark.parametrize("name", ["Work", "../x", "a b", ".x", "x/y"])
def test_invalid_agent_name_in_key(path: Path, name: str) -> None:
    # InvalidName, or (when the name holds a '.') an unknown key: both are usage errors.
    with pytest.raises(InvalidName if "." not in name else UsageError):
        cfg.set_value(path, f"agents.{name}.model", "echo")
    assert not path.exists()


def test_invalid_agent_name_in_file(path: Path) -> None:
    path.write_text('[agents."../x"]\nmodel = "echo"\n')
    with pytest.raises(ConfigError, match="invalid agent id"):
        cfg.load(path, environ={})


# -- reading the file -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('[model]\ndefault = "echo"\nmax_tokens = \n', 3, 14),
        ("[model\n", 1, 7),
        ('[model]\ndefault "x"\n', 2, 9),
    ],
)
def test_toml_syntax_error_names_line_and_column(
    path: Path, text: str, line: int, column: int
) -> None:
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        cfg.load(path, environ={})
    msg = str(e.value)
    assert str(path) in msg
    assert f"line {line}" in msg and f"column {column}" in msg
    # set_value refuses to overwrite a file it cannot read
    with pytest.raises(ConfigError):
        cfg.set_value(path, "model.default", "echo")
    assert path.read_text() == text


def test_non_utf8_file(path: Path) -> None:
    path.write_bytes(b'[model]\ndefault = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        cfg.load(path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[model]\nmax_tokens = "ten"\n', "model.max_tokens: expected an integer"),
        ('[model]\nthinking = "hihg"\n', "did you mean 'high'"),
        ('[model]\ndefualt = "x"\n', "did you mean 'model.default'"),
        ("model = 3\n", "model: expected a table"),
        ('[model]\nfallbacks = "a"\n', "expected a list of strings"),
    ],
)
def test_invalid_values_in_file(path: Path, text: str, message: str) -> None:
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        cfg.load(path, environ={})
    assert str(path) in str(e.value)


# -- environment overrides ------------------------------------------------------------


def test_env_override_wins_over_file(path: Path) -> None:
    cfg.set_value(path, "model.default", "openai/gpt-4o")
    c = cfg.load(path, environ={"CLAW_MODEL__DEFAULT": "echo"})
    assert c.get("model.default") == "echo"
    assert c.source("model.default") == "env CLAW_MODEL__DEFAULT"
    assert c.source("model.max_tokens") == "default"
    # The file itself is untouched.
    assert cfg.load(path, environ={}).get("model.default") == "openai/gpt-4o"


def test_env_override_is_read_from_os_environ(path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLAW_MODEL__MAX_TOKENS", "77")
    monkeypatch.setenv("CLAW_AGENTS__WORK__MODEL", "echo")
    c = cfg.load(path)
    assert c.get("model.max_tokens") == 77
    assert c.agent_model("work") == "echo"
    assert c.source("agents.work.model").startswith("env")


def test_env_vars_without_double_underscore_are_ignored(path: Path) -> None:
    c = cfg.load(path, environ={"CLAW_HOME": "/x", "CLAW_DEBUG": "1", "OTHER__X": "1"})
    assert c.env_keys == {}


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CLAW_MODEL__MAX_TOKENS", "lots", "expected an integer"),
        ("CLAW_MODEL__THINKING", "extreme", "expected one of"),
        ("CLAW_MODEL__DEFUALT", "echo", "did you mean 'model.default'"),
        ("CLAW_MODEL", "echo", None),  # no '__': not an override, ignored
        ("CLAW_MODEL__", "echo", "unknown config key"),
        ("CLAW_AGENTS__MAIN", "echo", "table"),
        ("CLAW_AGENTS__-BAD__MODEL", "echo", "invalid agent id"),
    ],
)
def test_bad_env_override_names_the_variable(
    path: Path, var: str, value: str, message: str | None
) -> None:
    if message is None:
        assert cfg.load(path, environ={var: value}).env_keys == {}
        return
    with pytest.raises(ConfigError) as e:
        cfg.load(path, environ={var: value})
    assert f"environment variable {var}" in str(e.value)
    assert message in str(e.value)


# -- unset ----------------------------------------------------------------------------


def test_unset(path: Path) -> None:
    cfg.set_value(path, "model.default", "echo")
    cfg.set_value(path, "model.max_tokens", "5")
    assert cfg.unset_value(path, "model.default") is True
    assert cfg.unset_value(path, "model.default") is False
    assert _file(path) == {"model": {"max_tokens": 5}}
    assert cfg.load(path, environ={}).get("model.default") == "local/smollm2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unset_drops_empty_agent_table(path: Path) -> None:
    cfg.set_value(path, "agents.work.model", "echo")
    cfg.set_value(path, "agents.main.model", "echo")
    assert cfg.unset_value(path, "agents.work.model") is True
    assert _file(path) == {"agents": {"main": {"model": "echo"}}}
    assert cfg.load(path, environ={}).agent_ids() == ["main"]
    assert cfg.unset_value(path, "agents.work.model") is False


def test_unset_missing_file_and_unknown_key(path: Path) -> None:
    assert cfg.unset_value(path, "model.default") is False
    assert not path.exists()
    with pytest.raises(ConfigError, match=r"did you mean 'model\.default'"):
        cfg.unset_value(path, "model.defualt")


def test_written_file_has_header_and_round_trips(path: Path) -> None:
    cfg.set_value(path, "agents.work.fallbacks", '["a", "b"]')
    text = path.read_text()
    assert text.startswith("# claw configuration")
    assert cfg.read_file(path) == {"agents": {"work": {"fallbacks": ["a", "b"]}}}


def test_flatten() -> None:
    data = {"model": {"default": "x", "fallbacks": []}, "agents": {}, "gateway": {"port": 1}}
    assert cfg.flatten(data) == [
        ("model.default", "x"),
        ("model.fallbacks", []),
        ("gateway.port", 1),
    ]
