"""The text of a message a person sends, checked the same way at every entry point
(`claw send`, `claw chat`, the gateway, the supervisor) before anything is written.

Kept apart from `selection` so `claw send` can check its input on the light path to a
running daemon without importing config or model code.
"""

from __future__ import annotations

from claw.errors import UsageError

NOT_UTF8 = "the message is not valid UTF-8 text"
NOT_UTF8_HINT = "convert it first, e.g. `iconv -f latin1 -t utf-8 FILE | claw send -`"


def check_text(text: str) -> str:
    """Not empty, not only white space, and encodable as UTF-8: a Latin-1 file piped in
    arrives as lone surrogates, which no transcript line or JSON reply can hold."""
    if not text.strip():
        raise UsageError("nothing to send: the message is empty")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(NOT_UTF8, hint=NOT_UTF8_HINT) from None
    return text
