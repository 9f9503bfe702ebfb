"""What becomes of a model's final text: silent, sent, or an error in its place.

- `NO_REPLY` (alone, any case, optional punctuation) makes the turn silent on purpose;
- an empty reply is never delivered as a message: an error text, marked as an error, is;
- text a messaging tool already sent in this turn is not repeated (normalised compare);
- a verbose mode appends a one-line summary of the tools used.
"""

from __future__ import annotations

import re
from collections import Counter

NO_REPLY = "NO_REPLY"
EMPTY_REPLY_TEXT = "(no reply: the model returned an empty reply)"
_PUNCT = re.compile(r"[\s\"'`*_.,!?;:()\[\]{}<>…。！？、，]+")


def normalise(text: str) -> str:
    return _PUNCT.sub(" ", text.casefold()).strip()


_NO_REPLY = re.compile(r"\W*no_reply\W*", re.IGNORECASE)


def is_no_reply(text: str) -> bool:
    """The whole reply is the NO_REPLY token (punctuation or markup around it allowed)."""
    return bool(_NO_REPLY.fullmatch(text.strip()))


def already_sent(text: str, sent: list[str]) -> bool:
    n = normalise(text)
    return bool(n) and any(normalise(s) == n for s in sent)


def tool_summary(names: list[str]) -> str:
    """'Tools: read_file (×3), exec' in first-use order."""
    if not names:
        return ""
    counts = Counter(names)
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    parts = [f"{n} (×{counts[n]})" if counts[n] > 1 else n for n in seen]
    return "Tools: " + ", ".join(parts)
