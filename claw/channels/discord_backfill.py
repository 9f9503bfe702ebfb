"""After an outage longer than Discord keeps a session: fetch what was missed over REST.

A RESUME replays everything, but only within the session's short life. Whenever the
channel gets a READY (a new session: the saved one was too old, Discord refused the
RESUME, or it ended while running), messages sent in the gap never come over the gateway.
So for each channel where people talked to the bot recently (`Seen`: the newest
MAX_SEEN_CHANNELS, each with its last JOURNALED message id, kept in the session file),
`GET /channels/{id}/messages?after=<that id>` fetches what followed, oldest first, and each
message goes through the same path as a live MESSAGE_CREATE (the journal drops any it
already has). Messages older than `backfill_max_age_s` (default an hour) are skipped: an
answer to a question from yesterday is more surprising than helpful. 0 turns it off.

Limits: at most MAX_PAGES pages of 100 per channel; a channel that cannot be read (no
access any more, deleted, the API failing) is logged and skipped. REST messages carry no
`guild_id` or `member`: the guild comes from `Seen`, the sender's name from the author.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from claw.channels.base import DeliveryError
from claw.channels.discord_rest import _SNOWFLAKE, _json, classify

if TYPE_CHECKING:
    from claw.channels.discord import DiscordChannel

log = logging.getLogger("claw.channels.discord")

DEFAULT_BACKFILL_MAX_AGE_S = 3600.0
MAX_SEEN_CHANNELS = 50
MAX_PAGES = 5
PAGE = 100
DISCORD_EPOCH_MS = 1_420_070_400_000


def sent_at(message_id: str) -> float:
    """When a message was sent, from its snowflake id (Unix seconds)."""
    return ((int(message_id) >> 22) + DISCORD_EPOCH_MS) / 1000.0


class Seen(OrderedDict[str, tuple[str | None, str]]):
    """channel id -> (guild id or None for a DM, last journaled message id); newest last."""

    def note(self, channel: str, guild: str | None, message_id: str) -> None:
        if not (_SNOWFLAKE.fullmatch(channel) and _SNOWFLAKE.fullmatch(message_id)):
            return
        old = self.get(channel)
        if old is not None and int(old[1]) >= int(message_id):
            return
        self[channel] = (guild, message_id)
        self.move_to_end(channel)
        while len(self) > MAX_SEEN_CHANNELS:
            self.popitem(last=False)

    def to_json(self) -> dict[str, list[str | None]]:
        return {channel: [guild, last] for channel, (guild, last) in self.items()}

    @classmethod
    def from_json(cls, data: Any) -> Seen:
        seen = cls()
        if isinstance(data, dict):
            for channel, value in data.items():
                if isinstance(value, list) and len(value) == 2:
                    guild, last = value
                    ok = guild is None or (isinstance(guild, str) and _SNOWFLAKE.fullmatch(guild))
                    if ok and isinstance(last, str):
                        seen.note(str(channel), guild, last)
        return seen


async def backfill(channel: DiscordChannel, max_age_s: float) -> int:
    """Fetch and hand on what each seen channel received after its last journaled message;
    returns how many messages were handed on. A failing sink raises (nothing is skipped)."""
    cutoff, count = time.time() - max_age_s, 0
    for chat, (guild, last) in list(channel.seen.items()):
        try:
            messages = await _fetch(channel, chat, last)
        except DeliveryError as e:
            log.warning("discord: cannot fetch missed messages of %s (%s)", chat, e.reason)
            continue
        for d in messages:
            if sent_at(d["id"]) < cutoff:
                continue
            d["channel_id"] = chat
            if guild:
                d["guild_id"] = guild
            count += await channel.accept(d)
    if count:
        log.info("discord: %d message(s) sent while disconnected fetched over REST", count)
    return count


async def _fetch(channel: DiscordChannel, chat: str, after: str) -> list[dict[str, Any]]:
    path = f"/channels/{chat}/messages"
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        query = f"?after={after}&limit={PAGE}"
        response = await channel._request("GET", path + query, f"GET {path}")
        if response.status_code >= 300:
            raise classify(response, f"reading channel {chat}")
        try:
            body = response.json()
        except ValueError:
            body = _json(response)
        page = [
            m
            for m in (body if isinstance(body, list) else [])
            if isinstance(m, dict) and _SNOWFLAKE.fullmatch(str(m.get("id", "")))
        ]
        page.sort(key=lambda m: int(m["id"]))
        found += page
        if len(page) < PAGE:
            break
        after = page[-1]["id"]
    return found
