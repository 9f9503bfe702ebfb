"""Reasoning tags in streamed model output, split from the answer as the text streams.

Models that think out loud wrap it in `<think>`, `<thinking>`, `<thought>` or
`<antthinking>`; some also wrap the answer proper in `<final>`. The user should see the
answer stream live, so `ReasoningSplitter` holds back nothing but a possible tag prefix
("<th" might become "<think>"; "a < b", "<br>" or "<div>" cannot and go out at once).
What to do with the reasoning (drop it, show it after, stream it) is the caller's call.

Rules, chosen to match what users of OpenClaw expect:
- Tags are exact (`<think>`, `</THINK>`: case-insensitive, no attributes or spaces);
  anything else that looks like a tag is text.
- Reasoning blocks do not nest: any reasoning close tag ends the open block, a second
  open tag inside one is dropped, a close tag outside one is dropped.
- `<final>` and `</final>` are dropped and their content is text. Once a `<final>` has
  been seen, only final content is the answer: text outside final blocks is dropped.
  Text streamed before the first `<final>` was already emitted and cannot be recalled
  (buffering it would delay every reply that never uses `<final>`), so it stays text.
- `<final>` ends an open reasoning block (a model that starts answering has stopped
  thinking, even if it forgot `</think>`); an unterminated reasoning block is reasoning.
- Tags are recognised everywhere, including inside code blocks: a reply that quotes
  `<think>` literally loses it. Streaming cannot know it is in code without parsing
  markdown, and models rarely quote these tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "reasoning"]

_REASONING_NAMES = ("think", "thinking", "thought", "antthinking")
# lower-case tag -> (is_reasoning_tag, is_close_tag)
_TAGS: dict[str, tuple[bool, bool]] = {
    **{f"<{n}>": (True, False) for n in _REASONING_NAMES},
    **{f"</{n}>": (True, True) for n in _REASONING_NAMES},
    "<final>": (False, False),
    "</final>": (False, True),
}
_LONGEST = max(len(tag) for tag in _TAGS)
# Every proper prefix of a tag: the only text the splitter may hold back.
_PREFIXES = frozenset(tag[:i] for tag in _TAGS for i in range(1, len(tag)))


@dataclass(frozen=True)
class Segment:
    """A run of output of one kind. Empty segments are never produced."""

    kind: Kind
    text: str


class ReasoningSplitter:
    """Feed model output deltas; get text and reasoning segments back as soon as known.

    Segments of one call are merged when adjacent and of the same kind; across calls they
    are not, so a caller that needs whole blocks concatenates. `flush` ends the stream
    (a held-back partial tag is released as literal text) and resets the splitter.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pending = ""  # a possible tag prefix, never anything else
        self._in_reasoning = False
        self._in_final = False
        self._seen_final = False

    def feed(self, delta: str) -> list[Segment]:
        buf = self._pending + delta
        self._pending = ""
        out: list[Segment] = []
        i = 0
        while i < len(buf):
            lt = buf.find("<", i)
            if lt < 0:
                self._emit(out, buf[i:])
                break
            self._emit(out, buf[i:lt])
            head = buf[lt : lt + _LONGEST].lower()
            tag = next((t for t in _TAGS if head.startswith(t)), None)
            if tag is not None:
                self._apply(tag)
                i = lt + len(tag)
            elif len(buf) - lt < _LONGEST and head in _PREFIXES:
                self._pending = buf[lt:]  # may still become a tag: wait for more
                break
            else:
                self._emit(out, "<")
                i = lt + 1
        return out

    def flush(self) -> list[Segment]:
        out: list[Segment] = []
        self._emit(out, self._pending)
        self._reset()
        return out

    def _apply(self, tag: str) -> None:
        is_reasoning, is_close = _TAGS[tag]
        if is_reasoning:
            self._in_reasoning = not is_close
        elif is_close:
            self._in_final = False
        else:
            self._in_final = self._seen_final = True
            self._in_reasoning = False

    def _emit(self, out: list[Segment], text: str) -> None:
        if not text:
            return
        if self._in_reasoning:
            kind: Kind = "reasoning"
        elif self._seen_final and not self._in_final:
            return  # outside <final> once one was seen: not part of the answer
        else:
            kind = "text"
        if out and out[-1].kind == kind:
            out[-1] = Segment(kind, out[-1].text + text)
        else:
            out.append(Segment(kind, text))


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning) of a whole reply, both stripped of surrounding whitespace.

    Separate reasoning blocks are joined by a blank line so their sentences do not run
    together; answer pieces are joined as they are (they are one text with holes in it).
    Same rules as streaming, so a stored reply matches what the user saw.
    """
    splitter = ReasoningSplitter()
    segments = splitter.feed(text) + splitter.flush()
    answer = "".join(s.text for s in segments if s.kind == "text")
    thoughts = [s.text.strip() for s in segments if s.kind == "reasoning"]
    return answer.strip(), "\n\n".join(t for t in thoughts if t)


def strip_reasoning(text: str) -> str:
    """The answer of a whole reply without its reasoning (see `split_reasoning`)."""
    return split_reasoning(text)[0]
