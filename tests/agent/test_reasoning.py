"""Reasoning tags: every tag and case, tags split anywhere, no delay for plain "<", <final>."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw.agent.reasoning import ReasoningSplitter, Segment, split_reasoning, strip_reasoning

NAMES = ["think", "thinking", "thought", "antthinking"]
TAG_RE = re.compile(r"(</?(?:think|thinking|thought|antthinking|final)>)", re.IGNORECASE)
ALL_TAGS = [f"<{n}>" for n in [*NAMES, "final"]] + [f"</{n}>" for n in [*NAMES, "final"]]


def merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        assert seg.text, "empty segment"
        if out and out[-1].kind == seg.kind:
            out[-1] = Segment(seg.kind, out[-1].text + seg.text)
        else:
            out.append(seg)
    return out


def run(*chunks: str) -> list[Segment]:
    splitter = ReasoningSplitter()
    segments: list[Segment] = []
    for chunk in chunks:
        segments += splitter.feed(chunk)
    return merge(segments + splitter.flush())


def reference(text: str) -> list[Segment]:
    """An independent whole-text model of the rules: regex split, then a state machine."""
    out: list[Segment] = []
    thinking = in_final = seen_final = False
    for i, piece in enumerate(TAG_RE.split(text)):
        if i % 2:
            tag = piece.lower()
            if "final" in tag:
                in_final = not tag.startswith("</")
                seen_final = seen_final or in_final
                thinking = thinking and not in_final
            else:
                thinking = not tag.startswith("</")
        elif piece and (thinking or not seen_final or in_final):
            out.append(Segment("reasoning" if thinking else "text", piece))
    return merge(out)


def T(text: str) -> Segment:
    return Segment("text", text)


def R(text: str) -> Segment:
    return Segment("reasoning", text)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_every_reasoning_tag_in_any_case(name: str, case: object) -> None:
    tag = case(name)  # type: ignore[operator]
    reply = f"Hi <{tag}>plan it</{tag}>done"
    assert run(reply) == [T("Hi "), R("plan it"), T("done")]


def test_segment_is_frozen() -> None:
    seg = Segment("text", "x")
    with pytest.raises(AttributeError):
        seg.text = "y"  # type: ignore[misc]


def test_sequences_of_blocks_without_nesting() -> None:
    reply = "<think>a</think>b<thought>c</thought>d<antthinking>e</antthinking>f"
    assert run(reply) == [R("a"), T("b"), R("c"), T("d"), R("e"), T("f")]
    # a mismatched close still closes; a second open inside a block is dropped
    assert run("<think>a<thinking>b</thought>c") == [R("ab"), T("c")]
    # a stray close outside any block is dropped
    assert run("a</think>b") == [T("ab")]


def test_adjacent_blocks_merge_within_one_call() -> None:
    assert ReasoningSplitter().feed("<think>a</think><think>b</think>") == [R("ab")]


def test_unterminated_block_is_reasoning() -> None:
    assert run("answer <think>still thinking") == [T("answer "), R("still thinking")]
    splitter = ReasoningSplitter()
    assert splitter.feed("<think>abc</thi") == [R("abc")]
    assert splitter.flush() == [R("</thi")]  # the held-back partial tag is literal


def test_flush_resets_the_splitter() -> None:
    splitter = ReasoningSplitter()
    splitter.feed("<final>x</final>junk<think>")
    splitter.flush()
    assert splitter.feed("plain") == [T("plain")]


@pytest.mark.parametrize(
    "text", ["a < b", "<br>", "<div>x</div>", "x<3", "<thinker>", "</th>", "<final >", "<<x"]
)
def test_non_tags_stream_immediately(text: str) -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed(text) == [T(text)]
    assert splitter.flush() == []


def test_only_a_possible_tag_prefix_is_held_back() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("x <") == [T("x ")]
    assert splitter.feed("3") == [T("<3")]
    assert splitter.feed("a </anttHINKin") == [T("a ")]
    assert splitter.feed("g>b") == [T("b")]
    assert splitter.feed("<thinking") == []
    assert splitter.feed("!") == [T("<thinking!")]
    assert splitter.feed("<") == []
    assert splitter.flush() == [T("<")]


def test_final_block_is_the_answer() -> None:
    assert run("<final>The answer.</final>") == [T("The answer.")]
    assert run("<think>hmm</think><final>42</final> trailing noise") == [R("hmm"), T("42")]
    # text before the first <final> has streamed already and stays text
    assert run("Sure! <final>42</final>") == [T("Sure! 42")]
    # after a <final>, text outside final blocks is dropped; reasoning is still reasoning
    assert run("<final>a</final> x <think>r</think> y <FINAL>b</Final>") == [
        T("a"),
        R("r"),
        T("b"),
    ]
    # <final> ends a reasoning block the model forgot to close; reasoning may sit inside final
    assert run("<think>plan<final>ans<think>r2</think>wer</final>") == [
        R("plan"),
        T("ans"),
        R("r2"),
        T("wer"),
    ]
    assert run("<final>unterminated") == [T("unterminated")]


SAMPLE = "Hi <THINK>deep <b> thought</think> a < b <Final>yes</fInal>!<antthinking>x"


def test_every_single_split_point() -> None:
    whole = run(SAMPLE)
    assert whole == reference(SAMPLE)
    for i in range(len(SAMPLE) + 1):
        assert run(SAMPLE[:i], SAMPLE[i:]) == whole, i


def test_every_pair_of_split_points() -> None:
    sample = "a<think>b</THINKING></think>c<final>d</final>"
    whole = run(sample)
    for i in range(len(sample) + 1):
        for j in range(i, len(sample) + 1):
            assert run(sample[:i], sample[i:j], sample[j:]) == whole, (i, j)


def test_one_character_at_a_time() -> None:
    assert run(*SAMPLE) == run(SAMPLE)


def test_split_and_strip_whole_replies() -> None:
    reply = "<think>\nfirst\n</think>\n\nThe answer.\n<thought>second</thought>"
    assert split_reasoning(reply) == ("The answer.", "first\n\nsecond")
    assert strip_reasoning(reply) == "The answer."
    assert split_reasoning("no tags at all") == ("no tags at all", "")
    assert split_reasoning("<think>only thoughts") == ("", "only thoughts")
    assert strip_reasoning("pre <final>ans</final> post") == "pre ans"


# --- properties -------------------------------------------------------------------------

piece = st.one_of(
    st.sampled_from(ALL_TAGS).map(lambda t: "".join(c.upper() if c in "tikf" else c for c in t)),
    st.sampled_from(ALL_TAGS),
    st.sampled_from(["<", ">", "/", "<th", "</", "<fin", " ", "\n", "a < b", "<br>"]),
    st.text(alphabet="abcTHINK <>/\n", max_size=8),
)
replies = st.lists(piece, max_size=14).map("".join)


def chunkings(text: str) -> st.SearchStrategy[list[str]]:
    cuts = st.lists(st.integers(0, len(text)), max_size=8).map(sorted)
    return cuts.map(lambda cs: [text[a:b] for a, b in zip([0, *cs], [*cs, len(text)], strict=True)])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_chunking_matches_whole_and_reference(data: st.DataObject) -> None:
    text = data.draw(replies)
    chunks = data.draw(chunkings(text))
    assert run(*chunks) == run(text) == reference(text)


def held_back(fed: str) -> str:
    """What the splitter may still hold: the suffix from the last "<" if it is a tag prefix."""
    lt = fed.rfind("<")
    rest = fed[lt:].lower() if lt >= 0 else ""
    return rest if any(t.startswith(rest) and t != rest for t in ALL_TAGS) else ""


@settings(max_examples=200, deadline=None)
@given(replies)
def test_nothing_but_a_tag_prefix_is_delayed(text: str) -> None:
    """After every character, the output so far is everything decidable so far."""
    splitter = ReasoningSplitter()
    so_far: list[Segment] = []
    for i, char in enumerate(text):
        so_far += splitter.feed(char)
        fed = text[: i + 1]
        decided = fed[: len(fed) - len(held_back(fed))]
        assert merge(list(so_far)) == reference(decided)
