"""claw.commands.tty: untrusted text is shown on a terminal, never obeyed, and exact when piped."""

from __future__ import annotations

import io
import json

import pytest

from claw.commands.tty import StreamFilter, for_terminal, json_for_terminal, neutralise

# What a hostile page could get a model to say: clipboard write, clear screen, title,
# cursor moves, a bell, a bare CR and backspaces to overwrite, 8-bit CSI, a bidi override.
NASTY = (
    "hi \x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b[2J\x1b[H \x1b]0;evil title\x1b\\ "
    "\x1b[1A\x1b[2K ok\rFAKE\b\b\x7f \x9b31m \u202eevil\u202c \u2066x\u2069\x00"
)


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_escape_sequences_become_visible_text() -> None:
    assert neutralise("a\x1b]52;c;SGk=\x07b") == "a\u241b]52;c;SGk=\u2407b"
    assert neutralise("\x1b[2J\x1b[H") == "\u241b[2J\u241b[H"
    assert neutralise("\x1b]0;title\x1b\\") == "\u241b]0;title\u241b\\"
    assert neutralise("\x1bc") == "\u241bc"  # ESC x: full reset


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x00", "\u2400"),
        ("\x07", "\u2407"),
        ("\x08", "\u2408"),
        ("\x0b", "\u240b"),
        ("\x0c", "\u240c"),
        ("\x1f", "\u241f"),
        ("\x7f", "\u2421"),
        ("a\rb", "a\u240db"),  # a bare CR would overwrite the line
        ("\x9b", "<U+009B>"),  # the 8-bit CSI
        ("\x9d", "<U+009D>"),  # the 8-bit OSC
        ("\x80", "<U+0080>"),
        ("\x9f", "<U+009F>"),
        ("\u202a", "<U+202A>"),
        ("\u202e", "<U+202E>"),
        ("\u2066", "<U+2066>"),
        ("\u2069", "<U+2069>"),
    ],
)
def test_each_control_is_replaced_by_a_visible_stand_in(raw: str, shown: str) -> None:
    assert neutralise(raw) == shown


def test_newlines_tabs_and_crlf_line_ends_still_work() -> None:
    assert neutralise("a\tb\nc\r\nd\r\n") == "a\tb\nc\nd\n"
    assert neutralise("a\r\r\n") == "a\u240d\n"


def test_clean_text_is_unchanged() -> None:
    clean = "Hello, wörld! 日本語 🙂 \u00a0 «ok» — done.\n\tindented\n"
    assert neutralise(clean) == clean


def test_nothing_is_left_for_a_terminal_to_obey() -> None:
    shown = neutralise(NASTY)
    assert not any(ord(c) < 0x20 and c not in "\n\t" for c in shown)
    assert not any(0x7F <= ord(c) <= 0x9F for c in shown)
    assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "ZWNobyBwd25lZA==" in shown and "evil title" in shown  # nothing printable dropped


def test_a_stream_split_anywhere_shows_the_same_as_whole() -> None:
    whole = neutralise(NASTY)
    for cut in range(len(NASTY) + 1):
        out = Stream(tty=True)
        f = StreamFilter(out)
        f.write(NASTY[:cut])
        f.write(NASTY[cut:])
        f.close()
        assert out.getvalue() == whole, cut


def test_crlf_split_between_deltas_stays_a_line_end() -> None:
    out = Stream(tty=True)
    f = StreamFilter(out)
    for piece in ["line one\r", "\nline two\r", "", "\r", "\n", "end\r"]:
        f.write(piece)
    f.close()
    assert out.getvalue() == "line one\nline two\u240d\nend\u240d"


def test_a_stream_that_is_not_a_terminal_gets_every_byte() -> None:
    out = Stream(tty=False)
    f = StreamFilter(out)
    for piece in NASTY.split(" "):
        f.write(piece + " ")
    f.close()
    assert out.getvalue() == "".join(p + " " for p in NASTY.split(" "))


def test_for_terminal_looks_at_the_stream_it_is_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", Stream(tty=False))
    monkeypatch.setattr("sys.stderr", Stream(tty=True))
    assert for_terminal(NASTY) == NASTY
    assert for_terminal(NASTY, err=True) == neutralise(NASTY)


def test_json_on_a_terminal_escapes_what_json_dumps_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    text = json.dumps({"text": NASTY}, ensure_ascii=False)
    monkeypatch.setattr("sys.stdout", Stream(tty=True))
    shown = json_for_terminal(text)
    assert json.loads(shown) == {"text": NASTY}  # the same value
    assert not any(0x7F <= ord(c) <= 0x9F or c in "\u202e\u2066" for c in shown)
    monkeypatch.setattr("sys.stdout", Stream(tty=False))
    assert json_for_terminal(text) == text


def test_an_error_quoting_untrusted_text_is_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ClawError goes through one printer; a model's or a channel's words in it
    reach the terminal inert."""
    from claw.cli import report
    from claw.errors import ClawError

    err = Stream(tty=True)
    monkeypatch.setattr("sys.stderr", err)
    report(ClawError(f"the model said {NASTY}", hint=NASTY))
    shown = neutralise(NASTY)
    assert err.getvalue() == f"error: the model said {shown}\n  hint: {shown}\n"
