"""What counts as content in HEARTBEAT.md, and as an acknowledgement in a reply.

A HEARTBEAT.md of only headings, comments, rules and empty checkboxes has nothing to check,
so no model is called for it. A reply that starts or ends with HEARTBEAT_OK and has at most
`ack_max_chars` of other text is an acknowledgement: nothing is sent.
"""

from __future__ import annotations

import hashlib
import re

ACK = "HEARTBEAT_OK"
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_EMPTY_LINE = re.compile(
    r"""^\s*(?:
        \#{1,6}(?:\s.*)?        # a heading
      | [-*+]\s*\[\s?\]\s*      # an empty checkbox: "- [ ]"
      | [-*+]\s*                # an empty bullet
      | (?:[-*_]\s*){3,}        # a rule
      | >\s*                    # an empty quote
    )$""",
    re.X,
)


def has_real_content(text: str) -> bool:
    """True when HEARTBEAT.md asks for anything (see the module docstring)."""
    text = _COMMENT.sub("", text)
    return any(line.strip() and not _EMPTY_LINE.match(line) for line in text.splitlines())


# The token with its own markup ("**HEARTBEAT_OK**", "HEARTBEAT_OK."), not the text's.
_TOKEN = rf"[^\w\s]*{ACK}[^\w\s]*"


def strip_ack(reply: str) -> tuple[bool, str]:
    """(whether HEARTBEAT_OK opens or closes the reply, the reply without it). Only the
    token and its own markup go: "Disk full. HEARTBEAT_OK." keeps its full stop."""
    text = reply.strip()
    found = False
    for pattern in (rf"^{_TOKEN}\s*", rf"\s*{_TOKEN}$"):
        stripped = re.sub(pattern, "", text, count=1)
        if stripped != text:
            found, text = True, stripped.strip()
    return found, text


def without_ack(reply: str) -> str:
    """The reply as it is sent: a long reply that opens or closes with the token goes
    out without it."""
    return strip_ack(reply)[1]


def is_silent(reply: str, ack_max_chars: int) -> tuple[bool, str]:
    """(nothing to send?, why): an ack with little else, or an empty reply."""
    acked, rest = strip_ack(reply)
    if acked and len(rest) <= ack_max_chars:
        return True, "HEARTBEAT_OK"
    if not rest.strip():
        return True, "empty reply"
    return False, ""


def fingerprint(reply: str) -> str:
    """The same message, however spaced, cased or punctuated, gives the same fingerprint."""
    _, rest = strip_ack(reply)
    normal = " ".join(re.sub(r"[^\w\s]", " ", rest.lower()).split())
    return hashlib.sha256(normal.encode()).hexdigest()[:32]
