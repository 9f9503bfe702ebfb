"""Strangers stay out: allow lists, pairing codes, mentions in groups; `claw pairing`."""

from __future__ import annotations

import json
import os
import stat

import pytest

from claw.errors import ConfigError, NotFound
from claw.routing.access import (
    CODE_ALPHABET,
    MAX_PENDING,
    PairingStore,
    decide,
)
from claw.routing.route import Inbound
from claw.state import config_schema as schema
from claw.state.config import Config, load
from claw.state.home import Home
from claw.state.names import validate_simple_name

T0 = 1_700_000_000.0

# What claw/state/config_schema.py gets (see the report); patched in until it has it.
_ACCESS = {
    "allow_from": schema.Field("list_str", [], "peer ids that may send direct messages"),
    "groups_require_mention": schema.Field(
        "bool", True, "answer group messages only when they mention the bot"
    ),
}


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pairing` in claw.cli's COMMANDS and the access keys in the schema (no-ops once added)."""
    from claw import cli

    if "pairing" not in cli.COMMANDS:
        entry = cli.Entry("pairing", "Pairing: let new people talk to the assistant.")
        monkeypatch.setitem(cli.COMMANDS, "pairing", entry)
    channels = schema.SCHEMA["channels"]
    if schema.WILDCARD not in channels:
        patched = {**channels, "mock": {**channels["mock"], **_ACCESS}, schema.WILDCARD: _ACCESS}
        monkeypatch.setitem(schema.SCHEMA, "channels", patched)
        validator = lambda n: validate_simple_name(n, "channel name")  # noqa: E731
        monkeypatch.setitem(schema.NAME_VALIDATORS, "channels", validator)


def conf(**channels: dict) -> Config:
    return Config(data={"channels": channels})


def dm(peer: str, channel: str = "telegram", account: str = "default") -> Inbound:
    return Inbound(channel=channel, peer=peer, account=account)


def group(sender: str = "u1", channel: str = "telegram") -> Inbound:
    return Inbound(channel=channel, peer=sender, group="g1")


def test_allow_from(home: Home) -> None:
    c = conf(telegram={"allow_from": ["123"]})
    d = decide(c, home, dm("123"), mentioned=False, now=T0)
    assert d.allowed and d.reply is None and "allow_from" in d.reason
    # another channel's list does not count
    d = decide(c, home, dm("123", channel="discord"), mentioned=False, now=T0)
    assert not d.allowed and d.reply is not None
    d = decide(conf(telegram={"allow_from": ["*"]}), home, dm("x"), mentioned=False, now=T0)
    assert d.allowed
    assert [p.channel for p in PairingStore(home).list_pending(T0)] == ["discord"]


def test_pairing_flow(home: Home) -> None:
    c = conf()
    d = decide(c, home, dm("42"), mentioned=False, now=T0, sender_name="Alice")
    assert not d.allowed and d.reply is not None
    code = d.reply.rsplit(" ", 1)[1]
    assert d.reply == f"Hi! I don't know you yet. Ask my owner to run: claw pairing approve {code}"
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert not set(code) & set("0O1I")
    # a second message while the code lives: refused, silently, no new code
    d2 = decide(c, home, dm("42"), mentioned=False, now=T0 + 60)
    assert (d2.allowed, d2.reply) == (False, None) and "already sent" in d2.reason
    store = PairingStore(home)
    [p] = store.list_pending(T0 + 60)
    assert (p.code, p.channel, p.account, p.peer, p.sender_name) == (
        code,
        "telegram",
        "default",
        "42",
        "Alice",
    )
    assert p.expires_at == T0 + 3600
    # the same peer on another account is someone else
    assert decide(c, home, dm("42", account="work"), mentioned=False, now=T0).reply
    peer = store.approve(code.lower(), now=T0 + 120)  # case does not matter
    assert (peer.channel, peer.peer, peer.sender_name) == ("telegram", "42", "Alice")
    assert [x.peer for x in store.list_pending(T0 + 120)] == ["42"]  # the "work" one
    assert decide(c, home, dm("42"), mentioned=False, now=T0 + 130).allowed
    with pytest.raises(NotFound, match="no pending pairing code"):
        store.approve(code, now=T0 + 130)  # used up
    # the file: private, atomic JSON
    path = home.root / "pairing" / "pairing.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8"))["approved"][0]["peer"] == "42"
    # revoke: a stranger again (and a new code)
    store.revoke("telegram", "42")
    d = decide(c, home, dm("42"), mentioned=False, now=T0 + 140)
    assert not d.allowed and d.reply and code not in d.reply
    with pytest.raises(NotFound, match="not an approved peer"):
        store.revoke("telegram", "42")


def test_expiry(home: Home) -> None:
    c = conf()
    code = decide(c, home, dm("7"), mentioned=False, now=T0).reply.rsplit(" ", 1)[1]
    store = PairingStore(home)
    assert store.list_pending(T0 + 3599) and not store.list_pending(T0 + 3600)
    with pytest.raises(NotFound, match="expired") as e:
        store.approve(code, now=T0 + 3600)
    assert "new code" in (e.value.hint or "")
    # after the window, one new code
    d = decide(c, home, dm("7"), mentioned=False, now=T0 + 3601)
    assert d.reply and code not in d.reply
    assert decide(c, home, dm("7"), mentioned=False, now=T0 + 3602).reply is None


def test_pending_cap(home: Home) -> None:
    c = conf()
    for i in range(MAX_PENDING):
        assert decide(c, home, dm(f"p{i}"), mentioned=False, now=T0 + i).reply
    d = decide(c, home, dm("one-too-many"), mentioned=False, now=T0 + 30)
    assert (d.allowed, d.reply) == (False, None) and "too many" in d.reason
    assert len(PairingStore(home).list_pending(T0 + 30)) == MAX_PENDING
    # once the first codes expire there is room again
    assert decide(c, home, dm("later"), mentioned=False, now=T0 + 3600.5).reply


def test_groups(home: Home) -> None:
    c = conf(telegram={"allow_groups": ["g1"]}, discord={"allow_groups": ["g1"]})
    d = decide(c, home, group(), mentioned=False, now=T0)
    assert (d.allowed, d.reply) == (False, None) and "mention" in d.reason
    assert decide(c, home, group(), mentioned=True, now=T0).allowed
    off = conf(telegram={"groups_require_mention": False, "allow_groups": ["g1"]})
    assert decide(off, home, group(), mentioned=False, now=T0).allowed
    assert not decide(off, home, group(channel="discord"), mentioned=False, now=T0).allowed
    assert not (home.root / "pairing" / "pairing.json").exists()  # groups never pair


def test_config_keys_load(home: Home) -> None:
    home.config_file.write_text(
        '[channels.telegram]\nallow_from = ["123"]\ngroups_require_mention = false\n'
        'allow_groups = ["g1"]\n[channels.mock]\nallow_from = ["m"]\n',
        encoding="utf-8",
    )
    c = load(home.config_file)
    assert decide(c, home, dm("123"), mentioned=False, now=T0).allowed
    assert decide(c, home, group(), mentioned=False, now=T0).allowed
    assert decide(c, home, dm("m", channel="mock"), mentioned=False, now=T0).allowed
    assert not decide(c, home, group(channel="mock"), mentioned=False, now=T0).allowed
    home.config_file.write_text('[channels."bad/name"]\nallow_from = []\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="channel name"):
        load(home.config_file)
    home.config_file.write_text('[channels.telegram]\nallow_from = "123"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="list of strings"):
        load(home.config_file)


def test_cli(cli, home: Home) -> None:
    assert "pairing" in cli("--help").output
    r = cli("pairing", "--help")
    for sub in ("list", "approve", "revoke"):
        assert sub in r.output
    r = cli("pairing", "list")
    assert r.exit_code == 0 and "no pending pairing codes" in r.stderr
    assert json.loads(cli("pairing", "list", "--json").stdout) == {"pending": []}

    import time

    reply = decide(conf(), home, dm("42"), mentioned=False, sender_name="Alice").reply
    code = reply.rsplit(" ", 1)[1]
    decide(conf(), home, dm("9", channel="discord", account="work"), mentioned=False)
    r = cli("pairing", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{code}  telegram:42 'Alice'  asked ")
    assert "expires in 59m" in lines[0] or "expires in 1h" in lines[0]
    assert "discord:9 (work)" in lines[1]
    data = json.loads(cli("pairing", "list", "--json").stdout)
    assert [p["peer"] for p in data["pending"]] == ["42", "9"]
    assert 0 <= data["pending"][0]["age_s"] < 60 and data["pending"][0]["expires_in_s"] > 3500
    assert "approved" not in data

    r = cli("pairing", "approve", "NOPE2345")
    assert r.exit_code == 1 and "no pending pairing code NOPE2345" in r.stderr
    r = cli("pairing", "approve", code)
    assert r.exit_code == 0 and r.stdout.strip() == "approved telegram:42 'Alice'"
    assert decide(conf(), home, dm("42"), mentioned=False, now=time.time()).allowed
    r = cli("pairing", "list", "--all")
    assert "approved  telegram:42 'Alice'" in r.stdout
    data = json.loads(cli("pairing", "list", "--all", "--json").stdout)
    assert [a["peer"] for a in data["approved"]] == ["42"]

    r = cli("pairing", "revoke", "--channel", "telegram", "--peer", "42")
    assert r.exit_code == 0 and "revoked telegram:42" in r.stdout
    r = cli("pairing", "revoke", "-c", "telegram", "-p", "42")
    assert r.exit_code == 1 and "not an approved peer" in r.stderr
    r = cli("pairing", "revoke", "--channel", "telegram")
    assert r.exit_code == 2 and "--peer" in r.output


def test_cli_refuses_malformed_codes_and_names(cli, home: Home) -> None:
    """What cannot be a code or a channel is a usage error (exit 2) that says so."""
    for bad in ("", "  ", "ABC", "ABCDEFGHJ", "ABCD/EFG"):
        r = cli("pairing", "approve", bad)
        assert r.exit_code == 2, (bad, r.output)
        assert "not a pairing code" in r.stderr
    r = cli("pairing", "approve", "abcd-efgh")  # typed loosely: still a code, just unknown
    assert r.exit_code == 1 and "no pending pairing code ABCDEFGH" in r.stderr
    r = cli("pairing", "revoke", "--channel", "Bad/x", "--peer", "1")
    assert r.exit_code == 2 and "invalid channel name" in r.stderr
    r = cli("pairing", "revoke", "--channel", "telegram", "--peer", "")
    assert r.exit_code == 2 and "peer" in r.stderr


def test_strangers_in_groups_stay_out(home: Home) -> None:
    """Anyone can add a Telegram bot to a group of their own: a mention there must not
    hand a stranger the assistant. In a group, a known sender (allow_from or paired) is
    answered, or anyone in a group listed in allow_groups; nobody else, and no code."""
    c = conf()
    d = decide(c, home, group("stranger"), mentioned=True, now=T0)
    assert (d.allowed, d.reply) == (False, None) and "unknown sender" in d.reason
    off = conf(telegram={"groups_require_mention": False})
    assert not decide(off, home, group("stranger"), mentioned=False, now=T0).allowed
    assert not (home.root / "pairing" / "pairing.json").exists()  # groups never pair

    known = conf(telegram={"allow_from": ["u1"]})
    assert decide(known, home, group("u1"), mentioned=True, now=T0).allowed
    assert not decide(known, home, group("u2"), mentioned=True, now=T0).allowed

    code = decide(c, home, dm("u3"), mentioned=False, now=T0).reply.rsplit(" ", 1)[1]
    PairingStore(home).approve(code, now=T0 + 1)
    assert decide(c, home, group("u3"), mentioned=True, now=T0 + 2).allowed

    for allow in (["g1"], ["*"]):
        open_group = conf(telegram={"allow_groups": allow})
        assert decide(open_group, home, group("anyone"), mentioned=True, now=T0).allowed
        d = decide(open_group, home, group("anyone"), mentioned=False, now=T0)
        assert not d.allowed and "mention" in d.reason  # the mention rule still holds
    other = conf(telegram={"allow_groups": ["g2"]})
    assert not decide(other, home, group("anyone"), mentioned=True, now=T0).allowed
    in_guild = Inbound(channel="discord", peer="anyone", group="c1", guild="s1")
    assert decide(conf(discord={"allow_groups": ["s1"]}), home, in_guild, mentioned=True).allowed
