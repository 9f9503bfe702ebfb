"""`claw config`: secrets (bot tokens, API keys, signing secrets) are never printed by a
listing; only `claw config get` naming the secret key itself prints it."""

from __future__ import annotations

import json

import pytest

from claw.state.config_secrets import MASK

SECRETS = {
    "channels.telegram.token": "123456:TELEGRAMSECRETabc",
    "channels.discord.token": "DISCORDSECRETxyz",
    "channels.webhook.hooks.gh.token": "HOOKSECRET123-long-enough",
    "channels.webhook.targets.out.secret": "SIGNINGSECRET456",
}
PROFILES = '[{"name": "work", "api_key": "sk-APIKEYSECRET789"}]'
CLEAR = [*SECRETS.values(), "sk-APIKEYSECRET789", "MCPENVSECRET", "Bearer MCPHEADERSECRET"]


@pytest.fixture
def configured(cli) -> None:
    for key, value in SECRETS.items():
        r = cli("config", "set", key, value)
        assert r.exit_code == 0, r.output
        assert value not in r.stdout  # not echoed back either
        assert r.stdout.strip() == f"{key} = {MASK}"
    assert cli("config", "set", "providers.openai.profiles", PROFILES).exit_code == 0
    env = '{"API_KEY": "MCPENVSECRET"}'
    assert cli("config", "set", "mcp.servers.files.env", env).exit_code == 0
    headers = '{"Authorization": "Bearer MCPHEADERSECRET"}'
    assert cli("config", "set", "mcp.servers.web.headers", headers).exit_code == 0


def _no_secret_in(text: str) -> None:
    for value in CLEAR:
        assert value not in text


def test_list_masks_every_secret(cli, configured) -> None:
    r = cli("config", "list")
    assert r.exit_code == 0, r.output
    _no_secret_in(r.stdout)
    lines = r.stdout.splitlines()
    assert f"channels.telegram.token = {MASK}  # file" in lines
    assert f"channels.webhook.targets.out.secret = {MASK}  # file" in lines
    assert f"mcp.servers.files.env.API_KEY = {MASK}  # file" in lines
    profiles = next(ln for ln in lines if ln.startswith("providers.openai.profiles = "))
    assert MASK in profiles and '"work"' in profiles  # the name stays readable


def test_list_json_masks_every_secret(cli, configured) -> None:
    r = cli("config", "list", "--json")
    assert r.exit_code == 0, r.output
    _no_secret_in(r.stdout)
    rows = {row["key"]: row for row in json.loads(r.stdout)}
    assert rows["channels.discord.token"]["value"] == MASK
    assert rows["providers.openai.profiles"]["value"] == [{"name": "work", "api_key": MASK}]
    assert rows["model.default"]["value"] == "local/smollm2"  # the rest is untouched


def test_list_masks_a_secret_from_the_environment(cli, monkeypatch) -> None:
    monkeypatch.setenv("CLAW_CHANNELS__TELEGRAM__TOKEN", "123456:ENVSECRET")
    r = cli("config", "list")
    assert r.exit_code == 0, r.output
    assert "ENVSECRET" not in r.stdout
    assert f"channels.telegram.token = {MASK}  # env CLAW_CHANNELS__TELEGRAM__TOKEN" in (
        r.stdout.splitlines()
    )


def test_get_of_a_table_masks_the_secrets_in_it(cli, configured) -> None:
    for args in (("channels.telegram",), ("channels",), ("providers.openai",), ("mcp",)):
        for extra in ((), ("--json",)):
            r = cli("config", "get", *args, *extra)
            assert r.exit_code == 0, r.output
            _no_secret_in(r.stdout)
    assert (
        f"channels.telegram.token = {MASK}"
        in cli("config", "get", "channels.telegram").stdout.splitlines()
    )


def test_get_naming_the_secret_key_prints_it(cli, configured) -> None:
    # A script asked for exactly this value (e.g. to pass it on): it gets it.
    r = cli("config", "get", "channels.telegram.token")
    assert r.exit_code == 0
    assert r.stdout == "123456:TELEGRAMSECRETabc\n"
    r = cli("config", "get", "channels.webhook.hooks.gh.token", "--json")
    assert json.loads(r.stdout) == "HOOKSECRET123-long-enough"


def test_get_help_says_how_secrets_are_shown(cli) -> None:
    assert "secret" in cli("config", "get", "--help").stdout.lower()
    assert "masked" in cli("config", "list", "--help").stdout.lower()


def test_channels_status_does_not_print_the_token(cli, configured) -> None:
    for extra in ((), ("--json",)):
        r = cli("channels", "status", *extra)
        _no_secret_in(r.stdout + r.stderr)
