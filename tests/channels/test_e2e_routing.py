"""End to end (issue #6 item 7): Discord, a channel that keeps failing, bindings.

A real `claw serve` against FakeDiscord / FakeTelegram, as in test_e2e.py. Binding
precedence itself is table-tested in tests/routing/test_route.py (every tier: exact
peer, parent peer, guild, account, channel, default; first match within a tier); here
one peer binding is followed through the whole daemon to the session it answers in.
"""

from __future__ import annotations

import pytest

from tests.channels.e2e_helpers import (
    ADA,
    BOB,
    Stack,
    until,
)
from tests.channels.fake_discord import FakeDiscord
from tests.channels.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(90)

ALICE = "2000000000000000001"  # a Discord user
GUILD, CHANNEL = "900", "901"  # FakeDiscord(guilds={"900": []}) in the fixture


def test_discord_dm_and_guild_mentions(stack: Stack, discord: FakeDiscord) -> None:
    stack.discord(discord, allow_from=[ALICE], allow_groups=[GUILD])
    stack.start("discord")
    discord.push_dm("hello over discord", author_id=ALICE)
    [dm] = discord.wait_for_messages(1, timeout=20)
    assert (dm["channel_id"], dm["content"]) == (discord.dm_channel(ALICE), "hello over discord")

    asked = discord.push_message(
        f"<@{discord.bot_id}> what is new?",
        channel_id=CHANNEL,
        guild_id=GUILD,
        author_id="2000000000000000002",  # not in allow_from: the guild is allowed
        mention_bot=True,
    )
    reply = discord.wait_for_messages(2, timeout=20)[1]
    assert reply["channel_id"] == CHANNEL and "what is new?" in reply["content"]
    assert (reply["message_reference"] or {}).get("message_id") == asked  # quotes it

    discord.push_message("just chatting among ourselves", channel_id=CHANNEL, guild_id=GUILD)
    until(lambda: len(stack.outcomes()) == 3, "the unmentioned message to be processed")
    assert stack.outcomes()[2] == "refused: group message without a mention"
    until(stack.settled, "the journal and the queue to be empty")
    assert len(discord.messages) == 2

    row = stack.channel("discord")
    assert row["state"] == "connected" and row["received"] == 3 and row["sent"] == 2, row
    assert row["last_inbound_at"] and row["last_send_at"], row


def test_a_failing_channel_backs_off_while_the_rest_works(
    stack: Stack, telegram: FakeTelegram, discord: FakeDiscord
) -> None:
    secret = "987654321:NEVER-LOG-this-rejected-token"
    stack.telegram(telegram, token=secret)  # the fake answers 401 to it
    stack.discord(discord, allow_from=[ALICE])
    stack.start("discord")

    def backing_off() -> dict | None:
        row = stack.channel("telegram")
        return row if row.get("state") == "backoff" and row.get("restarts", 0) >= 2 else None

    row = until(backing_off, "telegram to fail twice and back off")
    assert row["connected"] is False and row["receiving"] is True, row
    assert "the bot token was rejected (401" in row["last_error"], row
    # The wait doubles from 1 s: restart n waits 2**(n-1) s (both times set together).
    waited = row["next_restart_at"] - row["last_error_at"]
    assert abs(waited - 2 ** (row["restarts"] - 1)) < 0.5, row

    # The human table says so too. A loaded machine can take longer to start the CLI than
    # an early backoff lasts; the waits double, so a later look catches one.
    def shown_backing_off() -> str | None:
        text = stack.claw("channels", "status").stdout
        return text if "backoff" in text else None

    text = until(shown_backing_off, "`claw channels status` to show the backoff", timeout=40)
    assert "token was rejected" in text, text

    status = stack.claw_json("status")
    assert status["running"] is True
    discord.push_dm("are you still there?", author_id=ALICE)
    assert discord.wait_for_messages(1, timeout=20)[0]["content"] == "are you still there?"
    assert stack.channel("discord")["state"] == "connected"

    outputs = [stack.stderr(), stack.log(), stack.claw("channels", "status", "--json").stdout]
    assert "token was rejected" in stack.log()
    for output in outputs:
        assert secret not in output and secret.split(":")[1] not in output
        assert discord.token not in output


def test_a_peer_binding_answers_with_its_agent(stack: Stack, telegram: FakeTelegram) -> None:
    stack.claw("agents", "add", "helper", "--dm-scope", "per-peer")
    stack.configure(
        {
            "agents": {"main": {"dm_scope": "per-peer"}},
            "bindings": [{"agent": "helper", "match": {"channel": "telegram", "peer": str(ADA)}}],
        }
    )
    stack.telegram(telegram, allow_from=[str(ADA), str(BOB)])
    stack.start("telegram")
    telegram.push_message(ADA, "Ada asks the helper")
    telegram.push_message(BOB, "Bob asks whoever")
    telegram.wait_for_sent(2, timeout=20)
    until(stack.settled, "the journal and the queue to be empty")
    assert {(s.chat_id, s.text) for s in telegram.sent} == {
        (ADA, "Ada asks the helper"),
        (BOB, "Bob asks whoever"),
    }
    assert stack.session_keys() == {f"agent:helper:direct:{ADA}", f"agent:main:direct:{BOB}"}
    why = stack.claw_json("route", "--channel", "telegram", "--peer", str(ADA))
    assert (why["agent"], why["tier"]) == ("helper", "peer")
