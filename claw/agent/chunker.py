"""Split replies into pieces a chat channel accepts (Telegram 4096 chars, Discord 2000).

A chunk is `head + reply[start:end] + tail`: a verbatim slice of the reply, plus a closing
fence (`tail`) when the cut falls inside fenced code, and the opening line again (`head`)
on the next chunk, so each chunk renders as valid markdown; added lines count toward
`max_chars`. Only whitespace is dropped between slices: around the cut outside code (the
next chunk keeps its first line's indentation), the one newline at the cut inside code.

Cuts, best first: a blank line outside code, a newline, a sentence end (. ! ? … before a
space or the line end; 。！？ anywhere, as CJK puts no space after them), whitespace,
anywhere. The latest cut of the best kind wins, unless it leaves the chunk shorter than
`min_chars` and another cut does not. Cuts never fall inside a fence line, nor leave a
line fragment that would read as one.

Fences follow CommonMark: up to 3 spaces, 3+ backticks (info without backticks) or
tildes; closed by the same character, at least as many, then only whitespace. A reopened
fence repeats the opening line if that leaves half the chunk for code, else it is a plain
fence of the same character and length. An opening line that cannot share a chunk with
one character of code and its closing line (`len(line) + length + 3 > max_chars`) opens
no fence here: it is cut within its first two characters, so no chunk holds it whole.
`max_chars` must be at least MIN_MAX_CHARS. Every chunk is balanced unless a closing
fence line is longer than max_chars / 2 (then it is cut; chunks still fit).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

MIN_MAX_CHARS = 16

_SENTENCE = re.compile(r"[.!?…](?=[ \t]|$)|[。！？]")
_INLINE_WS = re.compile(r"[^\S\n]+")
_NON_SPACE = re.compile(r"\S")
_PARAGRAPH, _NEWLINE, _SENTENCE_END, _SPACE, _AWKWARD, _HARD = range(6)  # cut ranks, best first


@dataclass(frozen=True)
class Chunk:
    """One piece to send: `text == head + source[start:end] + tail`."""

    text: str
    start: int
    end: int
    head: str = ""  # a fence reopened from the previous chunk: opening line + "\n"
    tail: str = ""  # a fence closed for this chunk: "\n" + closing line


@dataclass(frozen=True)
class _Fence:
    char: str
    length: int
    opener: str  # the opening line as written, to reopen with


@dataclass(frozen=True)
class _Line:
    start: int
    stop: int  # index of its "\n", or the end of the text
    kind: str  # text | code | opener | closer
    before: _Fence | None  # the fence open at its start
    after: _Fence | None  # the fence open after it
    mark: int  # text: end without trailing whitespace; closer: end of the fence run


def _marker(line: str) -> tuple[str, int, str, int]:
    """(fence character, run length, rest of line, end of the run) of a possible fence."""
    body = line.lstrip(" ")
    indent = len(line) - len(body)
    char = body[:1] if indent <= 3 and body[:1] in ("`", "~") else ""
    run = len(body) - len(body.lstrip(char))
    return char, run, body[run:], indent + run


def _opener(line: str) -> tuple[str, int] | None:
    char, run, rest, _ = _marker(line)
    return (char, run) if run >= 3 and not (char == "`" and "`" in rest) else None


def _closes(line: str, fence: _Fence) -> int | None:
    """The end of the closing run, if this line closes `fence`."""
    char, run, rest, end = _marker(line)
    return end if char == fence.char and run >= fence.length and not rest.strip() else None


def _may_become_fence(partial: str) -> bool:
    """Could more characters turn this unfinished line into a fence line?"""
    _, run, rest, end = _marker(partial)
    return (partial.strip(" ") == "" and end <= 3) or run >= 3 or (run > 0 and not rest)


class _Cutter:
    """One chunk decision: where the chunk starting at `pos` ends, and what it needs."""

    def __init__(self, buf: str, pos: int, fence: _Fence | None, max_chars: int) -> None:
        self.buf, self.pos, self.max = buf, pos, max_chars
        self.head = ""
        if fence is not None:
            fits = len(fence.opener) + fence.length + 2 <= max_chars // 2
            self.head = (fence.opener if fits else fence.char * fence.length) + "\n"
        self.hi = min(len(buf), pos + max_chars - len(self.head))  # the chunk ends by here
        self.lines = lines = list[_Line]()  # from pos, to the first starting after pos + max
        i = pos
        while i < len(buf) and (not lines or lines[-1].start <= pos + max_chars):
            nl = buf.find("\n", i)
            stop = len(buf) if nl < 0 else nl
            line = buf[i:stop]
            if fence is None:
                op = _opener(line)
                if op and len(line) + op[1] + 3 <= max_chars:
                    new = _Fence(op[0], op[1], line.rstrip())
                    lines.append(_Line(i, stop, "opener", None, new, stop))
                    fence = new
                else:
                    lines.append(_Line(i, stop, "text", None, None, i + len(line.rstrip())))
                    if op and i < self.hi:  # an opening line too long to be a fence:
                        self.hi = min(self.hi, i + 2)  # cut it within its first two chars
            elif (mark := _closes(line, fence)) is not None:
                lines.append(_Line(i, stop, "closer", fence, None, i + mark))
                fence = None
            else:
                lines.append(_Line(i, stop, "code", fence, fence, stop))
            i = stop + 1
        self.starts = [ln.start for ln in lines]

    def line_at(self, e: int) -> _Line:
        return self.lines[bisect_right(self.starts, e) - 1]

    def state(self, e: int) -> tuple[_Fence | None, bool]:
        """(fence open after buf[pos:e], whether e falls inside a fence line)."""
        ln = self.line_at(e)
        if e == ln.start:
            return ln.before, False
        if e > ln.stop or ln.kind in ("text", "code"):
            return (ln.after if e > ln.stop else ln.before), False
        if ln.kind == "opener":
            return (ln.after, False) if e == ln.stop else (None, True)
        return (None, False) if e >= ln.mark else (ln.before, True)

    def tail(self, e: int) -> str:
        fence = self.state(e)[0]
        return "" if fence is None else "\n" + fence.char * fence.length

    def size(self, e: int) -> int:
        return len(self.head) + e - self.pos + len(self.tail(e))

    def ok(self, e: int, s: int) -> bool:
        """Can the chunk end at e (next one starting at s)? Fits, and splits no fence."""
        if not self.pos < e <= self.hi or self.state(e)[1] or self.size(e) > self.max:
            return False
        ln = self.line_at(e)
        if ln.kind in ("opener", "closer") or e == ln.start or e >= ln.stop:
            return True
        fence = ln.before  # neither piece of the line may read as a fence line
        pieces = (self.buf[ln.start : e], self.buf[s : ln.stop])
        return all((_closes(p, fence) if fence else _opener(p)) is None for p in pieces)

    def candidates(self, inline: bool = True) -> list[tuple[int, int, int]]:
        """(rank, end, next start) of the cut points in the window (inline: within lines)."""
        buf, out = self.buf, []
        for k, ln in enumerate(self.lines):
            if ln.start > self.hi:
                break
            nxt = self.lines[k + 1] if k + 1 < len(self.lines) else None
            line = buf[ln.start : ln.stop]
            if inline and ln.kind in ("text", "code"):
                for m in _INLINE_WS.finditer(line):  # code keeps its spaces: cut after them
                    if m.start() > 0 and m.end() < len(line):
                        e = ln.start + (m.start() if ln.kind == "text" else m.end())
                        out.append((_SPACE, e, ln.start + m.end()))
            if inline and ln.kind == "text":
                for m in _SENTENCE.finditer(line):
                    e = ln.start + m.end()
                    sp = _INLINE_WS.match(buf, e, ln.stop)
                    out.append((_SENTENCE_END, e, sp.end() if sp and sp.end() < ln.stop else e))
            if ln.stop == len(buf):
                continue
            if ln.kind in ("text", "closer") and ln.mark > ln.start:
                blank = nxt and nxt.kind == "text" and nxt.start == nxt.mark and nxt.stop < len(buf)
                out.append((_PARAGRAPH if blank else _NEWLINE, ln.mark, ln.mark))
            elif ln.kind in ("code", "opener"):
                awkward = ln.kind == "opener" or (nxt is not None and nxt.kind == "closer")
                out.append((_AWKWARD if awkward else _NEWLINE, ln.stop, ln.stop + 1))
        return out

    def forced(self, min_chars: int) -> tuple[int, int]:
        """The best (end, next start) when the chunk cannot take everything."""
        cuts = [c for c in self.candidates() if self.ok(c[1], c[2])]
        hard = next((e for e in range(self.hi, self.pos, -1) if self.ok(e, e)), None)
        if hard is not None:
            cuts.append((_HARD, hard, hard))
        if not cuts:  # only lines made of fence characters, too long to keep whole
            e = next(e for e in range(self.hi, self.pos, -1) if self.size(e) <= self.max)
            return e, e
        pool = [c for c in cuts if self.size(c[1]) >= min_chars] or cuts
        _, e, s = min(pool, key=lambda c: (c[0], -c[1]))
        return e, s

    def chunk(self, e: int) -> Chunk:
        tail = self.tail(e)
        return Chunk(self.head + self.buf[self.pos : e] + tail, self.pos, e, self.head, tail)


def _decide(
    buf: str, pos: int, fence: _Fence | None, max_chars: int, min_chars: int, final: bool
) -> tuple[Chunk, int, _Fence | None] | None:
    """The next chunk from `pos`, the position after it and the fence open there.

    Not final: `buf` may grow, so decide only what more text cannot change: a forced cut
    when the buffer no longer fits, else the latest blank line giving >= min_chars.
    """
    if fence is None:
        if (text := _NON_SPACE.search(buf, pos)) is None:
            return None
        pos = max(pos, buf.rfind("\n", pos, text.start()) + 1)  # keep the first line's indentation
    elif pos >= len(buf):
        return None
    cut = _Cutter(buf, pos, fence, max_chars)
    end = len(buf)
    if final:
        while end > pos and buf[end - 1].isspace() and not cut.state(end - 1)[1]:
            end -= 1
        if end == pos:
            return None
    if end <= cut.hi and cut.size(end) <= max_chars:
        if final:
            return cut.chunk(end), len(buf), None
        cuts = cut.candidates(inline=False)
        paragraphs = [e for r, e, _ in cuts if r == _PARAGRAPH and cut.size(e) >= min_chars]
        if not paragraphs:
            return None
        e = s = max(paragraphs)
    else:
        e, s = cut.forced(min_chars)
    return cut.chunk(e), s, cut.state(e)[0]


def _check(max_chars: int, min_chars: int) -> None:
    if max_chars < MIN_MAX_CHARS or min_chars < 0:
        raise ValueError(
            f"need max_chars >= {MIN_MAX_CHARS}, min_chars >= 0: {max_chars}, {min_chars}"
        )


def chunk_spans(text: str, max_chars: int, min_chars: int = 0) -> list[Chunk]:
    """`chunk_text` with each chunk's span in `text` and the fence lines it added."""
    chunker = BlockChunker(max_chars, min_chars)
    chunker._buf = text
    return chunker.flush_chunks()


def chunk_text(text: str, max_chars: int, min_chars: int = 0) -> list[str]:
    """Non-empty chunks of at most `max_chars`, fences balanced in each (see module doc)."""
    return [c.text for c in chunk_spans(text, max_chars, min_chars)]


class BlockChunker:
    """`chunk_text` for a reply that is still streaming.

    `feed` returns the blocks that are safe to send now: once a blank line outside code
    ends at least `min_chars` (the latest such), or a forced cut once the buffer cannot
    fit in one chunk. A line that might still become a fence line is never decided on
    before it is complete. `flush` returns the rest and resets. Blocks carry the same
    guarantees as `chunk_text`'s chunks; spans count from the start of the stream.
    """

    def __init__(self, max_chars: int, min_chars: int = 0) -> None:
        _check(max_chars, min_chars)
        self.max_chars, self.min_chars = max_chars, min_chars
        self._buf, self._offset = "", 0  # _offset: stream index of _buf[0]
        self._fence: _Fence | None = None

    def feed(self, delta: str) -> list[str]:
        return [c.text for c in self.feed_chunks(delta)]

    def flush(self) -> list[str]:
        return [c.text for c in self.flush_chunks()]

    def feed_chunks(self, delta: str) -> list[Chunk]:
        self._buf += delta
        return self._drain(final=False)

    def flush_chunks(self) -> list[Chunk]:
        out = self._drain(final=True)
        self._buf, self._offset, self._fence = "", 0, None
        return out

    def _drain(self, final: bool) -> list[Chunk]:
        buf, out = self._buf, []
        if not final:  # an unfinished line that may become a fence line is not decided on
            last = buf.rfind("\n") + 1
            buf = buf[:last] if _may_become_fence(buf[last:]) else buf
        pos, args = 0, (self.max_chars, self.min_chars, final)
        while (step := _decide(buf, pos, self._fence, *args)) is not None:
            c, pos, self._fence = step
            out.append(Chunk(c.text, c.start + self._offset, c.end + self._offset, c.head, c.tail))
        self._buf, self._offset = self._buf[pos:], self._offset + pos
        return out
