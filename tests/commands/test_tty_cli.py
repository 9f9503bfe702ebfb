"""Real commands on a real pseudo-terminal: a reply, a transcript, a skill that carry
escape sequences reach the terminal as visible text; piped, they come out exact."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading

import pytest

from claw.state.config import set_value
from claw.state.home import Home

# The echo model says this back word by word, so the title's OSC is split across deltas
# and the CR ends a delta.
NASTY = "hi \x1b]52;c;ZWNobyBwd25lZA==\x07 \x1b[2J\x1b]0;evil title\x07 ok\rFAKE \x9b31m \u202eevil"
SHOWN = "hi ␛]52;c;ZWNobyBwd25lZA==␇ ␛[2J␛]0;evil title␇ ok␍FAKE <U+009B>31m <U+202E>evil"


def on_terminal(*args: str, timeout: float = 90) -> tuple[int, str]:
    """Run `python -m claw ARGS` with stdout and stderr on one pseudo-terminal; the exit
    status and everything the terminal received (its CRLF line ends made LF)."""
    main, sub = pty.openpty()
    received: list[bytes] = []

    def drain() -> None:  # read as it comes, so a full terminal buffer never blocks claw
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # every writer is gone
                return
            if not data:
                return
            received.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "claw", *args],
            stdin=subprocess.DEVNULL,
            stdout=sub,
            stderr=sub,
            timeout=timeout,
        )
    finally:
        os.close(sub)
    reader.join(10)
    os.close(main)
    return proc.returncode, b"".join(received).decode().replace("\r\n", "\n")


def piped(*args: str, timeout: float = 90) -> bytes:
    """What `python -m claw ARGS` writes to a pipe, as bytes (text mode would turn CRs
    into newlines)."""
    proc = subprocess.run(
        [sys.executable, "-m", "claw", *args], capture_output=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_inert(shown: str) -> None:
    """Nothing a terminal would act on: no C0 control but LF and tab, no DEL, no C1, no
    bidi override (NO_COLOR is set, so claw's own colours are off too)."""
    bad = [c for c in shown if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, (bad, shown)
    assert "\u202e" not in shown


def test_send_in_process_streams_the_reply_inert(home: Home) -> None:
    code, shown = on_terminal("send", "--local", "--model", "echo", NASTY)
    assert code == 0, shown
    assert_inert(shown)
    assert shown == SHOWN + "\n"


def test_send_through_the_daemon_streams_the_reply_inert(home: Home, daemons) -> None:
    set_value(home.config_file, "model.default", "echo")
    daemons.wait_ready(daemons.start())
    code, shown = on_terminal("send", "--daemon", NASTY)
    assert code == 0, shown
    assert shown == SHOWN + "\n"
    code, shown = on_terminal("send", "--daemon", "--verbose", NASTY)
    assert code == 0, shown
    assert_inert(shown)
    assert SHOWN in shown


@pytest.mark.parametrize("local", [True, False])
def test_piped_reply_is_byte_exact(home: Home, daemons, local: bool) -> None:
    if not local:
        set_value(home.config_file, "model.default", "echo")
        daemons.wait_ready(daemons.start())
    args = ["--local", "--model", "echo"] if local else ["--daemon"]
    # click's echo strips what looks like a colour code from piped output: not from this
    assert piped("send", *args, NASTY) == (NASTY + "\n").encode()


def test_transcript_on_a_terminal_and_piped(home: Home) -> None:
    piped("send", "--local", "--model", "echo", NASTY)
    code, shown = on_terminal("sessions", "show", "agent:main:main")
    assert code == 0, shown
    assert_inert(shown)
    assert shown.count(SHOWN) == 2  # the user's message and the echo
    assert piped("sessions", "show", "agent:main:main").count((NASTY + "\n").encode()) == 2
    code, shown = on_terminal("sessions", "show", "--json", "agent:main:main")
    assert code == 0, shown
    assert_inert(shown)
    records = json.loads(shown)["records"]
    assert [r.get("content") for r in records if r.get("role")] == [NASTY, NASTY]
    code, shown = on_terminal("sessions", "list")
    assert code == 0 and "agent:main:main" in shown
    assert_inert(shown)


def test_skill_on_a_terminal_and_piped(home: Home) -> None:
    body = NASTY.replace("\r", " ")  # the skill loader reads text with universal newlines
    skill = home.root / "agents" / "main" / "skills" / "trap" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text(f"---\nname: trap\ndescription: a trap \u202ehidden\n---\n{body}\n")
    code, shown = on_terminal("skills", "show", "trap")
    assert code == 0, shown
    assert shown == SHOWN.replace("␍", " ") + "\n"
    code, shown = on_terminal("skills", "list")
    assert code == 0, shown
    assert "a trap <U+202E>hidden" in shown
    assert_inert(shown)
    assert piped("skills", "show", "trap") == (body + "\n").encode()
