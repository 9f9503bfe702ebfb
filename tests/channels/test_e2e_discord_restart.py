"""End to end: a Discord DM sent while the daemon is down is answered once it is back.

Discord replays missed events only to a RESUME of the same gateway session, so the daemon
keeps its session in `<CLAW_HOME>/channels/discord/default.session.json` and a restarted
daemon resumes it. Here a real `claw serve` is SIGKILLed (no close frame: the session
stays open at the fake, as at Discord), a DM arrives while it is down, and the restarted
daemon answers it exactly once; the message answered before the kill is not answered again
even if the saved sequence number lagged behind it (the journal drops the replay).
A clean stop (SIGTERM) must keep the session too: it closes with 4000, not 1000. And when
the session is gone by the time the daemon is back, the DM is fetched over REST
(GET /channels/{id}/messages?after=<last journaled message>) and answered all the same.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.channels.e2e_helpers import Stack, until  # fixtures: tests/channels/conftest.py
from tests.channels.fake_discord import FakeDiscord

pytestmark = pytest.mark.timeout(90)

ALICE = "2000000000000000001"


def saved_session(stack: Stack) -> dict | None:
    path = stack.home.root / "channels" / "discord" / "default.session.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM", "SIGKILL, session lost"])
def test_a_dm_sent_while_the_daemon_is_down_is_answered_once(
    stack: Stack, discord: FakeDiscord, stop: str
) -> None:
    stack.discord(discord, allow_from=[ALICE])
    proc = stack.start("discord")
    discord.push_dm("before the restart", author_id=ALICE)
    assert discord.wait_for_messages(1, timeout=20)[0]["content"] == "before the restart"
    state = until(lambda: saved_session(stack), "the gateway session to be saved")
    assert state["session_id"] in discord.sessions and discord.token not in json.dumps(state)

    if stop.startswith("SIGKILL"):
        stack.kill(proc)
    else:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    discord.wait_for(lambda: discord.live() is None, 10, "the fake to see the daemon gone")
    if stop == "SIGKILL, session lost":  # down longer than Discord keeps a session
        discord.expire_session()  # the DM then reaches only the REST API: fetched from there
    discord.push_dm("sent while the daemon is down", author_id=ALICE)

    stack.start("discord")
    until(lambda: len(discord.messages) >= 2, "the missed DM to be answered", timeout=30)
    discord.push_dm("and a later one", author_id=ALICE)  # answered after anything earlier
    discord.wait_for_messages(3, timeout=20)
    until(stack.settled, "the journal and the queue to be empty")
    assert [(m["channel_id"], m["content"]) for m in discord.messages] == [
        (discord.dm_channel(ALICE), "before the restart"),
        (discord.dm_channel(ALICE), "sent while the daemon is down"),
        (discord.dm_channel(ALICE), "and a later one"),
    ]
    lost = stop == "SIGKILL, session lost"
    assert len(discord.resumes) == 1  # tried; and resumed unless the session was gone
    assert len(discord.identifies) == (2 if lost else 1)
    fetched = [r for r in discord.requests if r[1] == "GET" and r[2].endswith("/messages")]
    assert len(fetched) == (1 if lost else 0)
    if stop == "SIGTERM":
        assert discord.closes[0] == 4000  # a clean stop that keeps the session resumable
    row = stack.channel("discord")
    assert row["state"] == "connected" and row["health"]["resumes"] == (0 if lost else 1), row
