"""End to end (issue #6 item 7): the daemon SIGKILLed between receiving and replying.

After a restart the message is answered exactly once, whether the daemon died with the
reply queued but not delivered (the send hanging, or failed and waiting for its retry)
or in the middle of the turn (the fake model holding its answer). Exactly once is
checked with a barrier, not a sleep (see `answered_once`).
"""

from __future__ import annotations

import pytest

from tests.channels.e2e_helpers import (
    ADA,
    FakeModel,
    Stack,
    until,
)
from tests.channels.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(90)


def answered_once(
    stack: Stack, telegram: FakeTelegram, reply: str, later: str, prefix: str = ""
) -> None:
    """The first reply arrives; then a later message of the same session is answered,
    which happens only after anything the first one could still cause (one session is
    processed in order), and then nothing is left to send: so exactly one first reply."""
    first = telegram.wait_for_sent(1, timeout=30)[0]
    assert (first.chat_id, first.text) == (ADA, reply)
    telegram.push_message(ADA, later)
    telegram.wait_for_sent(2, timeout=20)
    until(stack.settled, "the journal and the queue to be empty")
    assert [(s.chat_id, s.text) for s in telegram.sent] == [(ADA, reply), (ADA, prefix + later)]
    assert stack.pending() == []


@pytest.mark.parametrize("how", ["send hangs", "send fails"])
def test_killed_with_the_reply_queued_answers_once(
    stack: Stack, telegram: FakeTelegram, how: str
) -> None:
    # request_timeout_s: the hanging send must still be in flight when the kill comes.
    stack.telegram(telegram, allow_from=[str(ADA)], request_timeout_s=60)
    proc = stack.start("telegram")
    if how == "send hangs":
        telegram.delay("sendMessage", 120)  # in flight when killed; never reaches the chat
    else:
        telegram.fail_chat(ADA, "server_error", times=None)  # 500: retried in ~5 s
    telegram.push_message(ADA, "please answer me once")
    if how == "send hangs":
        until(lambda: stack.queue_stats()["sending"] == 1, "the reply to be in flight")
    else:
        until(
            lambda: any(e["last_error"] for e in stack.claw_json("queue", "list")),
            "a failed delivery attempt",
        )
    assert stack.queue_stats()["depth"] == 1
    stack.kill(proc)
    assert telegram.sent == []
    telegram.delay("sendMessage", 0)
    telegram.clear_failures()

    stack.start("telegram")
    answered_once(stack, telegram, "please answer me once", "and now this one")


def test_killed_mid_turn_answers_once_after_restart(
    stack: Stack, telegram: FakeTelegram, model: FakeModel
) -> None:
    # The fake model holds its answer: the turn is running when the daemon dies.
    stack.slow_model(model)
    stack.telegram(telegram, allow_from=[str(ADA)])
    proc = stack.start("telegram")
    model.hold()
    telegram.push_message(ADA, "think hard about this")
    model.wait_for_requests(1)
    telegram.wait_for_actions(1)  # "typing" while the turn runs
    assert telegram.actions[0].chat_id == ADA
    assert stack.pending() == ["think hard about this"]
    stack.kill(proc)

    model.release()
    stack.start("telegram")
    answered_once(
        stack, telegram, "model says: think hard about this", "second question", "model says: "
    )
    assert len(model.requests) == 3  # the killed turn, its re-run, the second question
    rerun = [m.get("content") for m in model.requests[1]["messages"] if m.get("role") == "user"]
    assert rerun == ["think hard about this"]  # answered, not asked twice
