"""Reply chunking: limits, break preference, fenced code kept valid, streaming."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.agent.chunker import MIN_MAX_CHARS, BlockChunker, Chunk, chunk_spans, chunk_text

FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


def open_fence_after(text: str) -> tuple[str, int] | None:
    """An independent CommonMark-style reading: the fence still open at the end of text."""
    fence: tuple[str, int] | None = None
    for line in text.split("\n"):
        m = FENCE_RE.fullmatch(line)
        if m is None:
            continue
        char, n, rest = m[1][0], len(m[1]), m[2]
        if fence is None:
            if not (char == "`" and "`" in rest):
                fence = (char, n)
        elif char == fence[0] and n >= fence[1] and not rest.strip():
            fence = None
    return fence


def reassemble(text: str, chunks: list[Chunk]) -> str:
    """Chunks without the fence lines the chunker added, rejoined with the dropped gaps."""
    out, pos = [], 0
    for c in chunks:
        verbatim = c.text[len(c.head) : len(c.text) - len(c.tail)]
        assert c.text == c.head + verbatim + c.tail
        assert verbatim == text[c.start : c.end]
        gap = text[pos : c.start]
        assert pos <= c.start and not gap.strip(), f"dropped non-whitespace {gap!r}"
        out += [gap, verbatim]
        pos = c.end
    assert not text[pos:].strip(), "lost the end of the text"
    return "".join(out) + text[pos:]


def check(text: str, chunks: list[Chunk], max_chars: int) -> None:
    assert reassemble(text, chunks) == text
    for i, c in enumerate(chunks):
        assert 0 < len(c.text) <= max_chars, (len(c.text), c.text)
        assert open_fence_after(c.text) is None, f"unbalanced fence in chunk {i}: {c.text!r}"
        if c.head:
            assert FENCE_RE.fullmatch(c.head[:-1]) and c.head.endswith("\n")
            assert chunks[i - 1].tail, "reopened a fence nobody closed"
        if c.tail:
            assert c.tail.startswith("\n") and FENCE_RE.fullmatch(c.tail[1:])
            assert i + 1 == len(chunks) or chunks[i + 1].head or not text[c.end :].strip()


def stream(text: str, cuts: list[int], max_chars: int, min_chars: int = 0) -> list[Chunk]:
    chunker = BlockChunker(max_chars, min_chars)
    out: list[Chunk] = []
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        out += chunker.feed_chunks(text[a:b])
    return out + chunker.flush_chunks()


# --- generated markdown-ish replies ------------------------------------------------------

plain_word = st.one_of(
    st.text(alphabet="abcdefghij,;:'\"()-", min_size=1, max_size=9),
    st.text(alphabet="xyz", min_size=20, max_size=70),  # longer than a small max_chars
    st.text(alphabet="你好世界中文测试", min_size=1, max_size=12),
    st.sampled_from(["`x`", "a.b", "…", "<br>"]),
)
# "```inline" is a fence line when it starts a line, and a trap for cuts when it does not
word = st.one_of(plain_word, st.sampled_from(["```inline", "~~~", "``"]))


def paragraphs(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    sentence = st.builds(
        lambda ws, end: " ".join(ws) + end,
        st.lists(words, min_size=1, max_size=8),
        st.sampled_from([".", "!", "?", "…", "。", "！", "？", "", ":"]),
    )
    line = st.builds(
        lambda indent, ss: indent + " ".join(ss),
        st.sampled_from(["", "", "  ", "    ", "- "]),
        st.lists(sentence, min_size=1, max_size=4),
    )
    return st.lists(line, min_size=1, max_size=4).map("\n".join)


paragraph = paragraphs(word)
code_line = st.one_of(
    st.text(alphabet="abc xyz()=:_+", max_size=50),
    st.sampled_from(["", "    return x", "```", "```py", "~~~", "``", "  ```  "]),
)


@st.composite
def fenced(draw: st.DrawFn) -> str:
    char = draw(st.sampled_from("`~"))
    n = draw(st.integers(3, 5))
    info = draw(st.sampled_from(["", "python", "js", "c++", " sh", "text title=x"]))
    body = draw(st.lists(code_line, max_size=12))
    closer = draw(st.sampled_from([char * n, char * (n + 1), char * n + "  ", ""]))
    return "\n".join([char * n + info, *body, *([closer] if closer else [])])


block = st.one_of(paragraph, paragraph, fenced())
separator = st.sampled_from(["\n\n", "\n\n", "\n", "\n\n\n", "\n \n"])


@st.composite
def replies(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(block, min_size=1, max_size=7))
    text = blocks[0]
    for b in blocks[1:]:
        text += draw(separator) + b
    return text


prose = st.lists(paragraphs(plain_word), min_size=1, max_size=6).map("\n\n".join)


@settings(max_examples=250, deadline=None)
@given(replies(), st.integers(24, 160), st.integers(0, 100))
def test_chunks_fit_balance_and_reassemble(text: str, max_chars: int, min_chars: int) -> None:
    spans = chunk_spans(text, max_chars, min_chars)
    check(text, spans, max_chars)
    assert chunk_text(text, max_chars, min_chars) == [c.text for c in spans]


@settings(max_examples=150, deadline=None)
@given(st.data(), replies(), st.integers(24, 160), st.integers(0, 100))
def test_streaming_chunks_have_the_same_guarantees(
    data: st.DataObject, text: str, max_chars: int, min_chars: int
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=20)))
    check(text, stream(text, cuts, max_chars, min_chars), max_chars)


@settings(max_examples=100, deadline=None)
@given(st.data(), prose, st.integers(24, 160))
def test_no_chunk_but_the_last_is_below_min_chars_in_prose(
    data: st.DataObject, text: str, max_chars: int
) -> None:
    min_chars = max_chars // 2
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    for chunks in (
        chunk_spans(text, max_chars, min_chars),
        stream(text, cuts, max_chars, min_chars),
    ):
        check(text, chunks, max_chars)
        assert all(len(c.text) >= min_chars for c in chunks[:-1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just("`" * 30), st.just("~~~~~~ " + "i" * 25), st.just("```" + "p" * 40), plain_word
        ),
        max_size=8,
    ).map("\n".join),
    st.integers(MIN_MAX_CHARS, 30),
)
def test_fence_lines_too_long_for_the_chunk_still_terminate_and_balance(
    text: str, max_chars: int
) -> None:
    check(text, chunk_spans(text, max_chars), max_chars)
    check(text, stream(text, list(range(0, len(text), 3)), max_chars), max_chars)


# --- examples ----------------------------------------------------------------------------


def test_a_long_reply_at_the_telegram_limit() -> None:
    para = ("This sentence is about chunking replies. " * 12).strip()
    text = "\n\n".join(f"{i}. {para}" for i in range(20))
    assert 9_000 < len(text) < 11_000
    chunks = chunk_text(text, 4096)
    assert len(chunks) == 3
    assert all(len(c) <= 4096 for c in chunks)
    assert "\n\n".join(chunks) == text  # every cut fell on a paragraph boundary


def test_a_code_block_longer_than_max_chars_is_closed_and_reopened() -> None:
    code = "\n".join(f"print({i})  # line {i}" for i in range(40))
    text = f"Here is the script:\n\n```python\n{code}\n```\n\nRun it."
    spans = chunk_spans(text, 200)
    check(text, spans, 200)
    chunks = [c.text for c in spans]
    assert chunks[0] == "Here is the script:"
    for c in chunks[1:-1]:
        assert c.startswith("```python\n") and c.endswith("\n```")
    assert chunks[-1].startswith("```python\n") and chunks[-1].endswith("```\n\nRun it.")


def test_a_fence_opening_line_too_long_to_repeat_reopens_plain() -> None:
    text = "~~~~ a-very-long-info-string\n" + "\n".join(["code line here"] * 12) + "\n~~~~"
    chunks = chunk_text(text, 60)
    assert chunks[0].startswith("~~~~ a-very-long-info-string\n")
    assert all(c.startswith("~~~~\ncode") for c in chunks[1:])
    check(text, chunk_spans(text, 60), 60)


def test_unclosed_fence_is_closed() -> None:
    assert chunk_text("see:\n```sh\nls -l\n", 100) == ["see:\n```sh\nls -l\n```"]


def test_breaks_prefer_paragraph_then_newline_then_sentence_then_space() -> None:
    assert chunk_text("aa bb. cc\ndd ee\n\nff gg. hh", 24) == ["aa bb. cc\ndd ee", "ff gg. hh"]
    assert chunk_text("aa bb. cc dd\nee ff. gg hh", 24) == ["aa bb. cc dd", "ee ff. gg hh"]
    assert chunk_text("aa bb. cc dd ee ff gg hh ii", 24) == ["aa bb.", "cc dd ee ff gg hh ii"]
    assert chunk_text("aaa bbb ccc ddd eee fff ggg", 16) == ["aaa bbb ccc ddd", "eee fff ggg"]
    assert chunk_text("x" * 40, 16) == ["x" * 16, "x" * 16, "x" * 8]


def test_cjk_sentences_end_without_a_space() -> None:
    text = "你好世界。" * 5 + "测试文本测试文本"
    assert chunk_text(text, 16) == ["你好世界。" * 3, "你好世界。" * 2, "测试文本测试文本"]


def test_min_chars_defers_breaks() -> None:
    text = "one.\n\ntwo.\n\nthree three three three three."
    assert chunk_text(text, 30) == ["one.\n\ntwo.", "three three three three three."]
    assert chunk_text(text, 30, min_chars=20)[0] == "one.\n\ntwo.\n\nthree three three"


def test_never_cuts_before_an_inline_fence_marker() -> None:
    text = "word " * 3 + "```python is inline here"
    for chunk in chunk_text(text, 20):
        assert not chunk.startswith("```"), chunk


def test_a_longer_fence_keeps_shorter_fence_lines_as_code() -> None:
    text = "````md\n" + "```\nnested\n```\n" * 6 + "````"
    spans = chunk_spans(text, 40)
    check(text, spans, 40)
    assert all(c.text.startswith("````") for c in spans)


@pytest.mark.parametrize("text", ["", "   ", "\n\n \n"])
def test_nothing_to_send(text: str) -> None:
    assert chunk_text(text, 100) == []
    assert BlockChunker(100).feed(text) == [] and BlockChunker(100).flush() == []


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        chunk_text("x", MIN_MAX_CHARS - 1)
    with pytest.raises(ValueError):
        BlockChunker(100, min_chars=-1)


def test_block_chunker_sends_paragraphs_as_they_complete() -> None:
    chunker = BlockChunker(100)
    assert chunker.feed("First para") == []
    assert chunker.feed("graph.\n") == []
    assert chunker.feed("\nSecond") == ["First paragraph."]
    assert chunker.feed(" one.\n\n") == ["Second one."]
    assert chunker.feed("```py\nx = 1\n\n") == []  # a blank line inside code is no boundary
    assert chunker.feed("```\n\ntail") == ["```py\nx = 1\n\n```"]
    assert chunker.flush() == ["tail"]
    assert chunker.feed("again") == [] and chunker.flush() == ["again"]


def test_block_chunker_waits_for_min_chars() -> None:
    chunker = BlockChunker(100, min_chars=15)
    assert chunker.feed("Short.\n\nAlso short.\n\n") == ["Short.\n\nAlso short."]


def test_block_chunker_forces_a_cut_when_full() -> None:
    chunker = BlockChunker(20)
    assert chunker.feed("aaaa bbbb cccc dddd") == []
    assert chunker.feed(" eeee") == ["aaaa bbbb cccc dddd"]
    assert chunker.flush() == ["eeee"]


def test_block_chunker_waits_for_a_possible_fence_line() -> None:
    chunker = BlockChunker(20)
    out = chunker.feed("para one\n\n``")  # "``" may become "```": the line is undecided
    assert out == ["para one"]
    out += chunker.feed("`\ncode code code code code\n```\n")
    out += chunker.flush()
    assert all(len(c) <= 20 and open_fence_after(c) is None for c in out)


def test_a_closing_fence_longer_than_half_the_chunk_still_fits() -> None:
    text = "```\ncode\n" + "`" * 40 + "\nafter the block"
    spans = chunk_spans(text, 20)
    assert reassemble(text, spans) == text
    assert all(0 < len(c.text) <= 20 for c in spans)
