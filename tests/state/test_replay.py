"""Replay exactness: what the model is given is rebuilt exactly from the transcript."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.state import jsonl, transcript
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.state.transcript import (
    SUMMARY_PREFIX,
    compaction,
    estimate_tokens,
    fit_history,
    message,
    replay,
)

KEY = "agent:main:main"

TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "read_file", "arguments": json.dumps({"path": "a.txt"})},
    },
    {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
]


def conversation() -> list[dict]:
    """Model messages with every shape replay must preserve."""
    return [
        {"role": "user", "content": "what is in a.txt, and the time?"},
        {"role": "assistant", "content": "", "tool_calls": TOOL_CALLS},
        {
            "role": "tool",
            "content": "hello ✓\nworld",
            "tool_call_id": "call_1",
            "name": "read_file",
        },
        {"role": "tool", "content": "12:00", "tool_call_id": "call_2", "name": "clock"},
        {"role": "assistant", "content": "a.txt says hello world; it is noon."},
        {"role": "user", "content": 'thanks\n\n  with "quotes" and \\ backslashes'},
        {"role": "assistant", "content": "any time"},
    ]


def as_records(messages: list[dict], **extra) -> list[dict]:
    out = []
    for m in messages:
        fields = {k: v for k, v in m.items() if k not in ("role", "content")}
        out.append(message(m["role"], m["content"], **fields, **extra))
    return out


def test_messages_in_same_list_out() -> None:
    msgs = conversation()
    recs = [transcript.header(KEY, "main"), *as_records(msgs, model="echo")]
    assert replay(recs) == msgs  # bookkeeping fields (id, ts, model) never reach the model


def test_round_trip_through_the_store(home: Home) -> None:
    store = SessionStore(home)
    msgs = conversation()
    recs = as_records(msgs)
    store.append(KEY, recs[:3])
    store.append(KEY, recs[3:])
    assert replay(store.read(KEY).records) == msgs
    assert store.history(KEY, 10**6) == msgs


def test_failed_turn_drops_both_records() -> None:
    u1 = message("user", "first")
    a1 = message("assistant", "ok")
    u2 = message("user", "this one fails")
    err = message("assistant", "rate limited", status="error", reply_to=u2["id"])
    u3 = message("user", "retry")
    a3 = message("assistant", "done")
    out = replay([u1, a1, u2, err, u3, a3])
    assert out == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "retry"},
        {"role": "assistant", "content": "done"},
    ]


def test_failed_turn_only_drops_its_own_user_message() -> None:
    u1 = message("user", "fine")
    a1 = message("assistant", "reply")
    err = message("assistant", "", status="error", reply_to="m_does_not_exist")
    assert replay([u1, a1, err]) == [
        {"role": "user", "content": "fine"},
        {"role": "assistant", "content": "reply"},
    ]


def test_interrupted_assistant_keeps_partial_text() -> None:
    u = message("user", "tell me a long story")
    a = message("assistant", "Once upon a ti", status="interrupted")
    assert replay([u, a]) == [
        {"role": "user", "content": "tell me a long story"},
        {"role": "assistant", "content": "Once upon a ti"},
    ]


def test_none_content_becomes_empty_string() -> None:
    a = message("assistant", None, tool_calls=TOOL_CALLS)  # type: ignore[arg-type]
    assert replay([a]) == [{"role": "assistant", "content": "", "tool_calls": TOOL_CALLS}]


def test_compaction_replaces_everything_before_first_kept() -> None:
    old = as_records([{"role": "user", "content": f"old {i}"} for i in range(4)])
    kept = as_records(conversation())
    summ = compaction("we talked about old things", first_kept_id=kept[0]["id"])
    after = as_records([{"role": "user", "content": "new"}, {"role": "assistant", "content": "ok"}])
    out = replay([transcript.header(KEY, "main"), *old, *kept, summ, *after])
    assert out[0] == {"role": "system", "content": SUMMARY_PREFIX + "we talked about old things"}
    assert out[1:] == [
        *conversation(),
        {"role": "user", "content": "new"},
        {"role": "assistant", "content": "ok"},
    ]
    # The tool call and both its results survive together, in order.
    roles = [m["role"] for m in out]
    i = roles.index("tool")
    assert out[i - 1]["tool_calls"] == TOOL_CALLS
    assert [m["tool_call_id"] for m in out[i : i + 2]] == ["call_1", "call_2"]


def test_compaction_without_kept_messages_and_repeated_compactions() -> None:
    a = as_records([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    c1 = compaction("first summary", first_kept_id=None)
    b = as_records([{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}])
    c2 = compaction("second summary", first_kept_id=b[0]["id"])
    c = as_records([{"role": "user", "content": "e"}])
    assert replay([*a, c1]) == [{"role": "system", "content": SUMMARY_PREFIX + "first summary"}]
    assert replay([*a, c1, *b, c2, *c]) == [
        {"role": "system", "content": SUMMARY_PREFIX + "second summary"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ]


def test_failed_turn_after_compaction() -> None:
    u = message("user", "q")
    c = compaction("s", first_kept_id=u["id"])
    u2 = message("user", "fails")
    e = message("assistant", "x", status="error", reply_to=u2["id"])
    assert replay([u, c, u2, e]) == [
        {"role": "system", "content": SUMMARY_PREFIX + "s"},
        {"role": "user", "content": "q"},
    ]


def test_unknown_record_types_are_ignored() -> None:
    u = message("user", "q")
    assert replay([{"type": "future-thing", "role": "user"}, u, {"type": "message"}]) == [
        {"role": "user", "content": "q"}
    ]


# -- fit_history ----------------------------------------------------------------------

ROLE = st.sampled_from(["user", "assistant", "tool", "system"])
MSG = st.builds(lambda r, c: {"role": r, "content": c}, ROLE, st.text(max_size=60))


@given(st.lists(MSG, max_size=40), st.integers(min_value=0, max_value=400))
def test_fit_history_properties(messages: list[dict], budget: int) -> None:
    out = fit_history(messages, budget)
    assert out == messages[len(messages) - len(out) :]  # a suffix: the newest messages
    assert sum(estimate_tokens(m) for m in out) <= budget
    if out:
        assert out[0]["role"] in ("user", "system")
    # Maximal: the longest suffix that fits, then cut forward to a clean start.
    n, total = 0, 0
    for m in reversed(messages):
        if total + estimate_tokens(m) > budget:
            break
        total += estimate_tokens(m)
        n += 1
    suffix = messages[len(messages) - n :] if n else []
    while suffix and suffix[0]["role"] not in ("user", "system"):
        suffix = suffix[1:]
    assert out == suffix


def test_fit_history_never_splits_a_tool_call_from_its_result() -> None:
    msgs = conversation()
    for budget in range(0, 400):
        out = fit_history(msgs, budget)
        assert not out or out[0]["role"] == "user"
        ids = {c["id"] for m in out for c in m.get("tool_calls", [])}
        for m in out:
            if m["role"] == "tool":
                assert m["tool_call_id"] in ids


def test_estimate_tokens_counts_tool_calls() -> None:
    plain = {"role": "assistant", "content": ""}
    assert estimate_tokens({**plain, "tool_calls": TOOL_CALLS}) > estimate_tokens(plain) + 20
    assert estimate_tokens({"role": "user", "content": "é" * 30}) == 4 + 20


# -- SessionStore.history -------------------------------------------------------------


def _random_transcript(draw_roles: list[str], with_failures: bool) -> list[dict]:
    recs = []
    for i, r in enumerate(draw_roles):
        recs.append(message(r, f"{r} {i} " + "x" * (i % 50)))
        if with_failures and r == "user" and i % 7 == 3:
            recs.append(message("assistant", "boom", status="error", reply_to=recs[-1]["id"]))
    return recs


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(["user", "assistant", "tool"]), min_size=1, max_size=60), st.booleans()
)
def test_history_with_huge_budget_equals_full_replay(
    tmp_path_factory: pytest.TempPathFactory, roles: list[str], failures: bool
) -> None:
    home = Home(tmp_path_factory.mktemp("h"))
    store = SessionStore(home)
    recs = _random_transcript(["user", *roles], failures)
    store.append(KEY, recs)
    expected = replay(jsonl.read_all(store.path(KEY)).records)
    assert store.history(KEY, 10**9) == expected
    store.close()


def test_history_of_missing_session_is_empty(home: Home) -> None:
    assert SessionStore(home).history("agent:main:nobody", 1000) == []


def test_history_of_long_transcript_returns_newest_only(home: Home, monkeypatch) -> None:
    store = SessionStore(home)
    recs = []
    for i in range(2500):
        recs.append(message("user", f"question {i} " + "q" * 40))
        recs.append(message("assistant", f"answer {i} " + "a" * 80))
    for start in range(0, len(recs), 1000):
        store.append(KEY, recs[start : start + 1000])
    full = replay(jsonl.read_all(store.path(KEY)).records)
    assert len(full) == 5000

    # Reading the newest messages must not read the whole transcript.
    def no_full_read(path):
        raise AssertionError("history() read the whole transcript")

    monkeypatch.setattr(jsonl, "read_all", no_full_read)
    for budget in (0, 30, 100, 1000, 20_000):
        out = store.history(KEY, budget)
        assert out == fit_history(full, budget)
        assert sum(estimate_tokens(m) for m in out) <= budget
        assert len(out) < 5000
        if budget >= 100:
            assert out[-1] == full[-1]
            assert out[0]["role"] == "user"
    monkeypatch.undo()
    assert store.history(KEY, 10**9) == full


def test_history_tail_read_respects_compaction_before_tail(home: Home) -> None:
    """The kept part of a compaction can start before the tail that history() reads.

    Regression: history() replays only the last >=64 KiB; when first_kept_id lies before that
    window, replay() treats the compaction as keeping nothing, so kept messages vanish
    from the model's history (here: the small user message just before the compaction).
    """
    store = SessionStore(home)
    keep = message("user", "start of the kept part")
    middle = []
    for i in range(20):  # ~100 KB of kept messages, more than one tail block
        middle.append(message("assistant", f"long answer {i} " + "a" * 5000))
        middle.append(message("user", f"follow-up {i}"))
    last_kept = message("user", "ok")
    summary = compaction("s" * 9000, first_kept_id=keep["id"])  # ~3000 tokens
    after = [
        message("assistant", "b" * 1500),
        message("user", "c" * 1500),
        message("assistant", "d" * 1500),
    ]
    store.append(KEY, [keep, *middle, last_kept, summary, *after])

    full = replay(jsonl.read_all(store.path(KEY)).records)
    assert full[0]["role"] == "system" and full[1]["content"] == "start of the kept part"
    budget = 1700
    expected = fit_history(full, budget)
    assert {"role": "user", "content": "ok"} in expected
    got = store.history(KEY, budget)
    assert [m["content"][:12] for m in got] == [m["content"][:12] for m in expected]
    assert got == expected


def test_a_retraction_hides_its_range_and_nothing_else() -> None:
    from claw.state import transcript as t

    a = t.message("user", "hello")
    b = t.message("assistant", "hi")
    c = t.message("user", "heartbeat check")
    d = t.message("assistant", "HEARTBEAT_OK")
    e = t.message("user", "later question")
    records = [a, b, c, d, t.retraction(c["id"], d["id"], "heartbeat: HEARTBEAT_OK"), e]
    assert [m["content"] for m in t.replay(records)] == ["hello", "hi", "later question"]
    torn = [a, b, c, t.retraction(c["id"], "missing", "x"), e]  # its end never written
    assert [m["content"] for m in t.replay(torn)] == [
        "hello",
        "hi",
        "heartbeat check",
        "later question",
    ]


def test_history_reads_backwards_without_parsing_a_byte_twice(home: Home, monkeypatch) -> None:
    # A window that needs more than the first read goes on from where that read began: a
    # long session's turn parsed its tail twice (first the budget's bytes, then 4x them).
    store = SessionStore(home)
    recs = [message("user" if i % 2 else "assistant", f"m{i} " + "x" * 300) for i in range(3000)]
    store.append(KEY, [message("user", "a line longer than any first window " + "y" * 300_000)])
    store.append(KEY, recs)
    size = store.path(KEY).stat().st_size
    windows: list[tuple[int, int]] = []
    real = jsonl.read_before

    def spy(f, end, nbytes, **kw):  # type: ignore[no-untyped-def]
        res, start = real(f, end, nbytes, **kw)
        windows.append((start, end))
        return res, start

    monkeypatch.setattr(jsonl, "read_before", spy)
    full = replay(jsonl.read_all(store.path(KEY)).records)
    for budget in (200_000, 10**9):  # within the file, then all of it
        windows.clear()
        assert store.history(KEY, budget) == fit_history(full, budget)
        covered = sorted(w for w in windows if w[0] < w[1])
        assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # adjoining, no overlap
        assert sum(end - start for start, end in covered) <= size
    assert min(start for start, _ in windows) == 0  # all of it, the long first line included
