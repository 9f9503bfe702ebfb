"""End to end (issue #6 item 7), Telegram: a real `claw serve` against FakeTelegram.

Each test starts the daemon as a subprocess on a fresh CLAW_HOME, sends messages the way
Telegram would deliver them, and checks what the person gets back, plus what `claw
channels status`, `claw queue stats`, `claw pairing` and the inbound journal say. Waits
are polls with deadlines; each test has a hard time limit, so a hang fails, fast.
Crashes are in test_e2e_crash.py; Discord, a failing channel and bindings in
test_e2e_routing.py.
"""

from __future__ import annotations

import re

import pytest

from tests.channels.e2e_helpers import (
    ADA,
    BOB,
    FakeModel,
    Stack,
    until,
)
from tests.channels.fake_telegram import FakeTelegram, Sent

pytestmark = pytest.mark.timeout(90)


def sentences(count: int, start: int = 0) -> str:
    """`count` sentences, all different (the echo model refuses to repeat a loop)."""
    numbers = range(start, start + count)
    return " ".join(f"Sentence number {i} says something of its own." for i in numbers)


def to_chat(telegram: FakeTelegram, chat: int) -> list[Sent]:
    return [s for s in telegram.sent if s.chat_id == chat]


def test_telegram_message_in_reply_out(stack: Stack, telegram: FakeTelegram) -> None:
    stack.telegram(telegram, allow_from=[str(ADA)])
    stack.start("telegram")
    telegram.push_message(ADA, "hello from telegram", first_name="Ada")

    [reply] = telegram.wait_for_sent(1, timeout=20)
    assert (reply.chat_id, reply.text) == (ADA, "hello from telegram")
    assert reply.reply_to is None  # a direct chat: no quote
    # "typing" goes out when the turn starts, before the reply is even queued.
    [typing, *_] = telegram.wait_for_actions(1, timeout=10)
    assert (typing.chat_id, typing.action) == (ADA, "typing")
    until(stack.settled, "the journal and the queue to be empty")
    assert stack.queue_stats()["depth"] == 0
    [outcome] = stack.outcomes()
    assert outcome.startswith("answered: "), outcome

    row = stack.channel("telegram")
    assert row["state"] == "connected" and row["connected"] is True, row
    assert row["last_inbound_at"] and row["last_send_at"], row
    assert row["received"] == 1 and row["sent"] == 1 and row["restarts"] == 0, row
    assert row["health"]["bot"] == "claw_test_bot" and row["health"]["received"] == 1


def test_a_long_reply_arrives_in_order_in_parts(
    stack: Stack, telegram: FakeTelegram, model: FakeModel
) -> None:
    # Telegram delivers at most 4,096 characters per user message, so the echo model can
    # never answer more than that: a longer echo would need a message the real service
    # cannot deliver. Two honest ways instead: (1) the echo model with a lower part limit
    # (channels.telegram.max_message_chars = 1000) and a 3,900-character message, which
    # exercises the chunker, the queue's part order and the channel end to end; (2) the
    # real 4,096 limit with a model that answers a short question at length (9,000
    # characters): the fake OpenAI-compatible model, as any hosted model could.
    stack.telegram(telegram, allow_from=[str(ADA), str(BOB)], max_message_chars=1000)
    stack.start("telegram")
    text = sentences(85)
    assert 3_500 < len(text) <= 4_096
    telegram.push_message(ADA, text)
    until(lambda: len(to_chat(telegram, ADA)) >= 4, "4+ parts")
    until(stack.settled, "the first reply to be delivered")
    parts = to_chat(telegram, ADA)
    assert all(len(p.text) <= 1000 for p in parts), [len(p.text) for p in parts]
    assert " ".join(p.text for p in parts).split() == text.split()  # in order, nothing lost
    assert [p.message_id for p in parts] == sorted(p.message_id for p in parts)

    stack.kill(stack.procs[-1])  # (2): the real limit, with a long-winded model
    long_answer = sentences(200, start=1000)
    assert len(long_answer) > 9_000
    model.reply = lambda messages: long_answer
    stack.slow_model(model)
    stack.configure({"channels": {"telegram": {"max_message_chars": 4096}}})
    stack.start("telegram")
    telegram.push_message(BOB, "Tell me everything, please.")
    until(lambda: len(to_chat(telegram, BOB)) >= 3, "3 parts to Bob")
    until(stack.settled, "the long reply to be delivered")
    parts = to_chat(telegram, BOB)
    assert len(parts) == 3 and all(len(p.text) <= 4096 for p in parts), [len(p.text) for p in parts]
    assert " ".join(p.text for p in parts).split() == long_answer.split()


def test_a_stranger_pairs_then_gets_answers(stack: Stack, telegram: FakeTelegram) -> None:
    stack.telegram(telegram)  # no allow_from: strangers must pair
    stack.start("telegram")
    telegram.push_message(BOB, "hi, who are you?", first_name="Bob")
    [pairing] = telegram.wait_for_sent(1, timeout=20)
    assert pairing.chat_id == BOB and "claw pairing approve" in pairing.text
    code = re.search(r"claw pairing approve ([A-Z0-9]{8})", pairing.text)
    assert code, pairing.text
    listed = stack.claw_json("pairing", "list")["pending"]
    assert [(p["code"], p["peer"], p["sender_name"]) for p in listed] == [
        (code.group(1), str(BOB), "Bob")
    ]

    # Until approved, further messages are refused without another code or a reply.
    telegram.push_message(BOB, "hello??")
    until(lambda: len(stack.outcomes()) == 2, "the second message to be processed")
    assert stack.outcomes() == [
        "refused: unknown peer: pairing code sent",
        "refused: unknown peer: pairing code already sent",
    ]
    approved = stack.claw("pairing", "approve", code.group(1).lower())
    assert f"approved telegram:{BOB}" in approved.stdout

    telegram.push_message(BOB, "may I talk now?")
    telegram.wait_for_sent(2, timeout=20)
    until(stack.settled, "the journal and the queue to be empty")
    assert [(s.chat_id, s.text) for s in telegram.sent] == [
        (BOB, pairing.text),
        (BOB, "may I talk now?"),
    ]
