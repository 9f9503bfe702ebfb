"""The Discord gateway session on disk, so a restarted daemon RESUMEs instead of IDENTIFYing.

Discord replays missed events only to a RESUME of the same session; a new session (IDENTIFY)
never sees what was sent while the daemon was down. So the session is kept in
`<CLAW_HOME>/channels/discord/<account>.session.json` (0600, replaced atomically):
session_id, resume_gateway_url, and `seq`: the last event whose handler FINISHED (a message:
journaled). It is never ahead of the journal: it is the gateway's `seq`, which moves only
after the handler returned, copied after that. It may lag behind (writes are batched): then
the RESUME replays a few events again and the journal drops them as duplicates.

Also kept: what READY and GUILD_CREATE taught and a RESUME does not send again (the bot's
own id, for mentions and skipping its own messages; recent threads' parent channels), and
the channels people talked in with their last journaled message (discord_backfill.py: what
a new session fetches over REST when the old one could not be resumed).

Freshness: `saved_at` is refreshed every REFRESH_S while connected, so its age is about the
downtime. Discord does not document how long a session stays resumable; in practice it is
minutes. A session saved longer ago than `resume_window_s` (default 5 minutes) is not tried:
the channel IDENTIFYs and the file is rewritten without it (a broken file is deleted).
Trying a dead session costs one INVALID_SESSION and a 1-5 s wait, so the window errs long
rather than giving up a session that could still have replayed everything. When Discord
refuses it (INVALID_SESSION, or its resume URL is unreachable twice) the session is
forgotten and the file loses it at the next write.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from claw.channels.discord_backfill import Seen
from claw.channels.discord_events import Events
from claw.channels.discord_gateway import GatewaySession
from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir

log = logging.getLogger("claw.channels.discord")

DEFAULT_RESUME_WINDOW_S = 300.0
SAVE_INTERVAL_S = 0.2  # a burst of messages costs one write per this, not one per message
REFRESH_S = 30.0  # while connected, `saved_at` is rewritten this often (the session lives)
MAX_SAVED_THREADS = 500  # the newest thread -> parent pairs kept across a restart
VERSION = 1
_ACCOUNT = re.compile(r"[A-Za-z0-9_-]{1,64}")


def session_path(home: Home, account: str) -> Path:
    """Where an account's session is kept (the account is a plain name, never a path)."""
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"invalid Discord account name {account!r}")
    return home.root / "channels" / "discord" / f"{account}.session.json"


@dataclass
class SavedSession:
    session_id: str | None  # None: no session to resume (what else was learned still counts)
    resume_url: str | None
    seq: int | None
    saved_at: float
    user_id: str | None = None
    username: str | None = None
    threads: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # the bot's managed roles
    channels: dict[str, Any] = field(default_factory=dict)  # discord_backfill.Seen


class SessionFile:
    """Loads, keeps up to date, and deletes one account's saved gateway session."""

    def __init__(
        self,
        path: Path,
        *,
        resume_window_s: float = DEFAULT_RESUME_WINDOW_S,
        save_interval_s: float = SAVE_INTERVAL_S,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.path = path
        self.resume_window_s = resume_window_s
        self.save_interval_s = save_interval_s
        self.refresh_s = refresh_s
        self.writes = 0
        self._written: dict[str, Any] | None = None  # what the file holds, minus saved_at
        self._written_at = 0.0
        self._poked = trio.Event()

    # -- reading -----------------------------------------------------------------------
    def load(self, now: float | None = None) -> SavedSession | None:
        """What was saved; its session only if still worth a RESUME. A broken file goes."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("discord: cannot read the saved session (%s)", type(e).__name__)
            return None
        saved = _parse(raw)
        now = time.time() if now is None else now
        if saved is None:
            log.warning("discord: the saved session is unreadable; identifying anew")
            self.delete()
        elif saved.session_id and not -60 <= now - saved.saved_at <= self.resume_window_s:
            age = now - saved.saved_at
            log.info("discord: the saved session is %.0f s old; identifying anew", age)
            saved.session_id = saved.resume_url = saved.seq = None  # rewritten after READY
        return saved

    # -- writing -----------------------------------------------------------------------
    def poke(self) -> None:
        """The gateway's state changed (an event was handled, a session began or ended)."""
        self._poked.set()

    def snapshot(self, gw: GatewaySession, events: Events, seen: Seen) -> dict[str, Any] | None:
        resumable = gw.session_id is not None and gw.seq is not None
        if not resumable and not seen:
            return None
        threads = list(itertools.islice(reversed(events.threads.items()), MAX_SAVED_THREADS))
        return {
            "version": VERSION,
            "session_id": gw.session_id if resumable else None,
            "resume_url": gw.resume_url if resumable else None,
            "seq": gw.seq if resumable else None,
            "channels": seen.to_json(),
            "user_id": events.user_id,
            "username": events.username,
            "threads": dict(reversed(threads)),
            "roles": dict(events.roles),
        }

    def save(self, state: dict[str, Any] | None, now: float | None = None) -> None:
        """Write `state` (None: delete the file). Synchronous: call it from a thread."""
        now = time.time() if now is None else now
        if state is None:
            self.delete()
        else:
            make_private_dir(self.path.parent.parent)
            make_private_dir(self.path.parent)
            text = json.dumps(state | {"saved_at": now}, separators=(",", ":"))
            atomic_write_text(self.path, text, mode=0o600)
            self.writes += 1
        self._written, self._written_at = state, now

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._written = None

    def _due(self, state: dict[str, Any] | None, connected: bool) -> bool:
        if state != self._written:
            return True
        stale = time.time() - self._written_at >= self.refresh_s
        return state is not None and connected and stale

    async def keep(self, gw: GatewaySession, events: Events, seen: Seen) -> None:
        """Until cancelled: write the file when the session moved on (batched), refresh it
        while connected, and write it a last time on the way out (a clean stop resumes too)."""
        try:
            while True:
                with trio.move_on_after(self.refresh_s):
                    await self._poked.wait()
                self._poked = trio.Event()
                state = self.snapshot(gw, events, seen)
                if self._due(state, gw.connected):
                    try:
                        await trio.to_thread.run_sync(self.save, state)
                    except OSError as e:  # a full disk: the session is lost, not a message
                        log.warning("discord: cannot save the session (%s)", e)
                await trio.sleep(self.save_interval_s)
        finally:
            with trio.CancelScope(shield=True), contextlib.suppress(OSError):
                self.save(self.snapshot(gw, events, seen))


def _parse(raw: str) -> SavedSession | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    session_id, seq, saved_at = data.get("session_id"), data.get("seq"), data.get("saved_at")
    url, threads = data.get("resume_url"), data.get("threads") or {}
    roles = data.get("roles") if isinstance(data.get("roles"), dict) else {}
    if session_id is not None and (not isinstance(session_id, str) or len(session_id) > 200):
        return None
    if session_id is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        return None
    if not isinstance(saved_at, int | float):
        return None
    if url is not None and (not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss")):
        return None
    if not isinstance(threads, dict):
        return None
    user_id, username = data.get("user_id"), data.get("username")
    return SavedSession(
        session_id=session_id or None,
        resume_url=url if session_id else None,
        seq=seq if session_id else None,
        saved_at=float(saved_at),
        user_id=user_id if isinstance(user_id, str) else None,
        username=username if isinstance(username, str) else None,
        threads={str(k): str(v) for k, v in threads.items() if str(k).isdigit()},
        roles={str(k): str(v) for k, v in roles.items() if str(k).isdigit()},
        channels=data.get("channels") if isinstance(data.get("channels"), dict) else {},
    )
