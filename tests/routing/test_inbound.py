"""Inbound messages end to end: journal -> access -> route -> turn -> queued reply."""

from __future__ import annotations

import pytest
import trio

from claw.agent.models import litellm
from claw.channels.mock import read_outbox
from claw.delivery.inbox import InboundMessage, Inbox, process_pending
from claw.delivery.service import run_flush
from claw.heartbeat.last_target import last_target
from claw.routing.access import PairingStore
from claw.routing.inbound import handle, process_forever
from claw.state import config as cfg
from claw.state.config import Config
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests import scripted


def setup(home: Home, allow: list[str] | None = None) -> Config:
    cfg.set_value(home.config_file, "model.default", "scripted/test")
    if allow is not None:
        cfg.set_value(home.config_file, "channels.mock.allow_from", ",".join(allow))
    return cfg.load(home.config_file)


def message(n: int, peer: str = "alice", text: str = "hello", **kw: object) -> InboundMessage:
    return InboundMessage(channel="mock", channel_message_id=f"m{n}", peer=peer, text=text, **kw)  # type: ignore[arg-type]


def record(home: Home, msg: InboundMessage) -> InboundMessage:
    Inbox(home).record(msg)
    return msg


def test_an_allowed_peer_gets_the_reply(home: Home) -> None:
    config = setup(home, ["alice"])
    script = scripted.install(["Hi Alice!"])
    msg = record(home, message(1))
    outcome = handle(home, config, msg)
    assert outcome.startswith("answered: ")
    assert len(script.calls) == 1 and script.calls[0][-1]["content"] == "hello"
    run_flush(home, config)
    assert [(s["to"], s["text"]) for s in read_outbox(home)] == [("alice", "Hi Alice!")]
    assert last_target(home, "main") is not None
    assert SessionStore(home).list()  # the turn landed in a session


def test_a_group_reply_goes_to_the_group(home: Home) -> None:
    config = setup(home)
    scripted.install(["hello group"])
    msg = record(home, message(1, peer="bob", group="g1", peer_kind="group"))
    msg.meta["mentioned"] = True
    assert handle(home, config, msg).startswith("answered: ")
    run_flush(home, config)
    assert [(s["to"], s["text"]) for s in read_outbox(home)] == [("g1", "hello group")]
    # a group message without a mention is refused silently
    quiet = record(home, message(2, peer="bob", group="g1", peer_kind="group"))
    assert handle(home, config, quiet) == "refused: group message without a mention"


def test_a_stranger_gets_a_pairing_code_and_no_model_call(home: Home) -> None:
    config = setup(home, ["alice"])
    script = scripted.install([])
    outcome = handle(home, config, record(home, message(1, peer="mallory")))
    assert outcome == "refused: unknown peer: pairing code sent"
    assert script.calls == []
    run_flush(home, config)
    sent = read_outbox(home)
    assert len(sent) == 1 and sent[0]["to"] == "mallory"
    code = PairingStore(home).list_pending()[0].code
    assert code in sent[0]["text"]
    # a second message: refused without another code
    outcome = handle(home, config, record(home, message(2, peer="mallory")))
    assert outcome == "refused: unknown peer: pairing code already sent"
    run_flush(home, config)
    assert len(read_outbox(home)) == 1


def test_journal_replay_answers_each_message_once(home: Home) -> None:
    config = setup(home, ["alice"])
    script = scripted.install(["one", "two", "three"])
    inbox = Inbox(home)
    for n in range(3):
        inbox.record(message(n, text=f"message {n}"))
    assert process_pending(inbox, lambda m: handle(home, config, m)) == 3
    assert inbox.pending() == [] and len(script.calls) == 3
    assert process_pending(Inbox(home), lambda m: handle(home, config, m)) == 0
    run_flush(home, config)
    assert [s["text"] for s in read_outbox(home)] == ["one", "two", "three"]
    outcomes = [r.get("outcome", "") for r in _journal(home) if r["type"] == "done"]
    assert len(outcomes) == 3 and all(o.startswith("answered: ") for o in outcomes)


def test_a_model_error_marks_the_message_failed(home: Home) -> None:
    config = setup(home, ["alice"])
    scripted.install([litellm().AuthenticationError("bad key", "scripted", "test")] * 5)
    inbox = Inbox(home)
    inbox.record(message(1))
    assert process_pending(inbox, lambda m: handle(home, config, m)) == 1
    assert inbox.pending() == []
    (outcome,) = [r["outcome"] for r in _journal(home) if r["type"] == "done"]
    assert outcome.startswith("failed: ")
    run_flush(home, config)
    assert read_outbox(home) == []


def test_a_message_too_long_for_the_model_is_marked_failed_not_retried(home: Home) -> None:
    """Refused before it is stored, like a model failure: done, no reply, no session."""
    config = setup(home, ["alice"])
    script = scripted.install(["never called"], context_window=2048)
    inbox = Inbox(home)
    inbox.record(message(1, text="word " * 3000))
    assert process_pending(inbox, lambda m: handle(home, config, m)) == 1
    assert inbox.pending() == [] and script.calls == []
    (outcome,) = [r["outcome"] for r in _journal(home) if r["type"] == "done"]
    assert outcome.startswith("failed: the message is too long")
    store = SessionStore(home)
    try:
        assert store.list() == []
    finally:
        store.close()


def test_a_silent_reply_sends_nothing(home: Home) -> None:
    config = setup(home, ["alice"])
    scripted.install(["NO_REPLY"])
    assert handle(home, config, record(home, message(1))) == "silent"
    run_flush(home, config)
    assert read_outbox(home) == []


def test_an_empty_message_is_ignored(home: Home) -> None:
    config = setup(home, ["alice"])
    script = scripted.install([])
    assert handle(home, config, record(home, message(1, text="  "))) == "ignored: empty message"
    assert script.calls == []


def test_process_forever_processes_the_backlog_then_new_records(home: Home) -> None:
    config = setup(home, ["alice"])
    scripted.install(["first", "second"])
    inbox = Inbox(home)
    inbox.record(message(1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: process_forever(
                    home, config, poll_s=0.05, task_status=task_status
                )
            )
            with trio.fail_after(10):  # the backlog is processed after started()
                while inbox.pending():
                    await trio.sleep(0.05)
            inbox.record(message(2))
            with trio.fail_after(10):
                while inbox.pending():
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()

    trio.run(main)
    run_flush(home, config)
    assert [s["text"] for s in read_outbox(home)] == ["first", "second"]


def _journal(home: Home) -> list[dict]:
    from claw.state import jsonl

    return jsonl.read_all(Inbox(home).path).records


def test_a_rerun_after_the_reply_was_queued_does_not_answer_twice(home: Home) -> None:
    """The daemon died after queueing the reply but before marking the message done."""
    config = setup(home, ["alice"])
    script = scripted.install(["only once"])
    msg = record(home, message(1))
    first = handle(home, config, msg)  # not marked done: as if killed right here
    assert Inbox(home).pending() != []
    again = handle(home, config, Inbox(home).pending()[0])
    assert again == first and len(script.calls) == 1
    run_flush(home, config)
    assert [s["text"] for s in read_outbox(home)] == ["only once"]


def test_a_delivered_reply_marks_its_message_done(home: Home) -> None:
    """Delivered before `done` was written: the delivery wrote it, so no re-run happens."""
    config = setup(home, ["alice"])
    scripted.install(["hi"])
    msg = record(home, message(1))
    handle(home, config, msg)
    run_flush(home, config)
    assert Inbox(home).pending() == []
    assert [s["text"] for s in read_outbox(home)] == ["hi"]


def test_a_reserved_reply_that_was_never_queued_is_queued_on_rerun(home: Home) -> None:
    config = setup(home, ["alice"])
    script = scripted.install(["answer"])
    msg = record(home, message(1))
    reserved = Inbox(home).reserve_reply(msg.id)  # died after reserving, before the turn
    Inbox(home).compact()  # a restart compacts: the reservation survives it
    assert handle(home, config, Inbox(home).pending()[0]) == f"answered: {reserved}"
    assert len(script.calls) == 1


def test_one_session_in_order_different_sessions_concurrently(home: Home) -> None:
    cfg.set_value(home.config_file, "agents.main.dm_scope", "per-peer")
    config = setup(home, ["alice", "bob"])
    started: list[str] = []
    import threading

    gate = threading.Event()

    def fake_handle(home_, config_, msg, *, inbox=None, on_turn_start=None) -> str:
        started.append(msg.channel_message_id)
        if msg.channel_message_id == "m1":
            assert gate.wait(5)  # alice's first message is slow
        return "silent"

    import claw.routing.inbound as inbound_mod

    inbox = Inbox(home)
    for n, peer in ((1, "alice"), (2, "alice"), (3, "bob")):
        inbox.record(message(n, peer=peer))

    async def main() -> None:
        real = inbound_mod.handle
        inbound_mod.handle = fake_handle  # type: ignore[assignment]
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: process_forever(
                        home, config, poll_s=0.05, task_status=task_status
                    )
                )
                with trio.fail_after(10):
                    while "m3" not in started:  # bob is not held up by alice
                        await trio.sleep(0.02)
                assert "m2" not in started  # alice's second waits for her first
                gate.set()
                while inbox.pending():
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()
        finally:
            inbound_mod.handle = real  # type: ignore[assignment]

    trio.run(main)
    assert started.index("m1") < started.index("m2")


@pytest.mark.parametrize(
    ("text", "mode"),
    [("hello there!", "fast"), ("rename the file notes.txt to todo.txt", "single")],
)
def test_a_rerun_after_a_crash_mid_turn_asks_the_question_once(
    home: Home, text: str, mode: str
) -> None:
    """The daemon died after the turn stored the question, before the answer: the re-run
    answers that question (whichever mode the supervisor picks), it does not ask again."""
    from claw.routing.inbound import to_inbound
    from claw.routing.route import route
    from claw.state import transcript

    config = setup(home, ["alice"])
    msg = record(home, message(1, text=text))
    key = route(config, to_inbound(msg)).session_key
    store = SessionStore(home)
    store.append(key, [transcript.message("user", msg.text, inbound_id=msg.id)], agent="main")
    script = scripted.install(["Done."])
    assert handle(home, config, msg).startswith("answered: ")
    assert [m["content"] for m in script.calls[0] if m["role"] == "user"] == [text]
    records = [m for m in store.tail(key, 10).messages]
    assert [m["role"] for m in records] == ["user", "assistant"]
    assert records[1].get("mode") == mode
