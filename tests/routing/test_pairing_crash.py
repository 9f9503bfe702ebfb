"""A stranger's pairing code reaches them exactly once, even if the daemon is SIGKILLed
between storing the code and queueing it, or between queueing it and marking the message
done. Before, a kill at the first point left the code stored and never sent: the stranger's
later messages were refused in silence for the code's whole hour."""

from __future__ import annotations

import signal

import pytest

from claw.channels.mock import read_outbox
from claw.delivery.inbox import InboundMessage, Inbox
from claw.routing.access import PairingStore
from claw.state.config import set_value
from claw.state.faults import ENV
from claw.state.home import Home
from tests.test_daemon import Daemons, claw, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("point", ["pairing:stored", "pairing:queued"])
def test_a_pairing_code_survives_a_kill_and_is_sent_once(
    home: Home, daemons: Daemons, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    set_value(home.config_file, "model.default", "echo")
    set_value(home.config_file, "channels.mock.allow_from", "alice")
    Inbox(home).record(InboundMessage(channel="mock", channel_message_id="m1", peer="mallory",
                                      text="hello?"))  # fmt: skip

    monkeypatch.setenv(ENV, point)
    proc = daemons.start()
    assert proc.wait(timeout=60) == -signal.SIGKILL, daemons.stderr(proc)
    monkeypatch.delenv(ENV)
    [code] = PairingStore(home).list_pending()  # stored before the kill
    assert read_outbox(home) == [] and len(Inbox(home).pending()) == 1

    proc = daemons.start()
    daemons.wait_ready(proc)
    wait_for(lambda: Inbox(home).pending() == [] and len(read_outbox(home)) >= 1, timeout=30)
    assert claw(home, "stop").returncode == 0
    assert proc.wait(timeout=20) == 0
    sent = read_outbox(home)
    assert len(sent) == 1 and sent[0]["to"] == "mallory" and code.code in sent[0]["text"]
    assert [p.code for p in PairingStore(home).list_pending()] == [code.code]  # the same code
