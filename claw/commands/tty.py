"""Untrusted text on a terminal: shown, never obeyed.

A model's reply, a transcript, a skill, a tool's output, a task the agent wrote, a channel
message: any of them can carry escape sequences (ESC [ 2J clears the screen, ESC ] 52
writes the clipboard, ESC ] 0 sets the window title, a bare CR or backspaces overwrite
what was printed, U+202E reverses how text reads). Printed raw, such text drives the
user's terminal. So, on a terminal only, every control character in it is replaced by a
visible stand-in and the rest of the text is kept:

- C0 controls and DEL become their Unicode control pictures (ESC → ␛, BEL → ␇, CR → ␍,
  DEL → ␡), so `ESC [ 2 J` shows as `␛[2J`: harmless, and the user sees that something
  tried. Newline and tab are kept; a CR right before a newline (CRLF) is dropped, so
  Windows line ends still read as line ends.
- C1 controls (U+0080-U+009F: the 8-bit CSI U+009B, OSC U+009D, ...) and the bidi
  embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) become `<U+XXXX>`.

Nothing is dropped and nothing has to be parsed, so an escape sequence split across two
streamed deltas cannot slip through (only a CR at the end of a delta waits for the next one,
to tell CRLF from a bare CR). When the stream is not a terminal (piped, redirected), the
text is written exactly as it came: scripts get what the model said.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import typer

_BIDI = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: f"<U+{c:04X}>" for c in (*range(0x80, 0xA0), *_BIDI)})


def neutralise(text: str) -> str:
    """`text` with every terminal control made visible (see the module's docstring)."""
    return text.replace("\r\n", "\n").translate(_TABLE)


_JSON_TABLE = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), *_BIDI)}


def json_for_terminal(text: str, *, err: bool = False) -> str:
    """JSON text (from json.dumps, which escapes C0 controls) with DEL, C1 and bidi
    controls escaped as well if the stream is a terminal: the same JSON value, nothing
    for the terminal to obey. Such characters can only occur inside JSON strings."""
    return text.translate(_JSON_TABLE) if is_terminal(sys.stderr if err else sys.stdout) else text


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def for_terminal(text: str, *, err: bool = False) -> str:
    """`text` made safe for stdout (stderr with `err`) if that is a terminal, else as is."""
    return neutralise(text) if is_terminal(sys.stderr if err else sys.stdout) else text


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line that holds untrusted text: neutralised on a terminal, byte-exact when
    piped (`color=True` stops click from stripping what looks like a colour code there)."""
    typer.echo(for_terminal(text, err=err), err=err, nl=nl, color=True)


class StreamFilter:
    """`for_terminal` for a reply that arrives in pieces (streamed deltas) on one stream.

    Write each piece with `write`, then `close` once at the end. A CR that ends a piece is
    held back until the next piece shows whether a newline follows it.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.active = is_terminal(stream)
        self._cr = False  # a CR held back from the previous piece

    def feed(self, text: str) -> str:
        """What to write for `text` (the held-back CR included)."""
        if not self.active:
            return text
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        return neutralise(text[:-1] if self._cr else text)

    def finish(self) -> str:
        """What is still held back (a CR that turned out to be bare)."""
        held, self._cr = self._cr, False
        return neutralise("\r") if held else ""

    def write(self, text: str) -> None:
        out = self.feed(text)
        if out:
            self.stream.write(out)
            self.stream.flush()

    def close(self) -> None:
        out = self.finish()
        if out:
            self.stream.write(out)
            self.stream.flush()
