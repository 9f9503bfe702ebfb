"""What Discord's dispatches mean for claw: a MESSAGE_CREATE becomes an InboundMessage.

Mapping one needs state the gateway taught earlier: the bot's own id (READY; its own
messages are skipped, its mentions detected), each thread's parent channel (GUILD_CREATE,
THREAD_*), and for replies each user's DM channel. All of it is bounded.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any

from claw.delivery.inbox import InboundMessage
from claw.errors import InvalidName

log = logging.getLogger("claw.channels.discord")

USER_MESSAGES = {0, 19}  # DEFAULT, REPLY; joins, pins, boosts are not for the agent
THREAD_TYPES = {10, 11, 12}
MAX_REMEMBERED = 10_000  # threads and DM channels remembered, the oldest forgotten first


class _Recent(OrderedDict[str, str]):
    """A map that keeps only its newest MAX_REMEMBERED entries."""

    def put(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > MAX_REMEMBERED:
            self.popitem(last=False)


class Events:
    """What dispatches mean for claw: MESSAGE_CREATE -> InboundMessage, plus what that
    needs to know (the bot's own id, each thread's parent) and what replies need (each
    user's DM channel, so a reply addressed to a user id reaches their DMs)."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.user_id: str | None = None
        self.username: str | None = None
        self.threads = _Recent()  # thread channel id -> parent channel id
        self.dms = _Recent()  # user id -> DM channel id
        # The bot's managed role in each guild: typing @Bot in a server often mentions
        # that role rather than the user, and it must count as a mention.
        self.roles = _Recent()  # role id -> guild id

    def restore(
        self,
        user_id: str | None,
        username: str | None,
        threads: dict[str, str],
        roles: dict[str, str] | None = None,
    ) -> None:
        """What an earlier process learned from READY / GUILD_CREATE, which a RESUME skips."""
        self.user_id, self.username = user_id, username
        for thread, parent in threads.items():
            self.threads.put(thread, parent)
        for role, guild in (roles or {}).items():
            self.roles.put(role, guild)

    def observe(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "READY":
            user = data.get("user") or {}
            self.user_id, self.username = str(user.get("id") or "") or None, user.get("username")
        elif kind in ("GUILD_CREATE", "THREAD_LIST_SYNC"):
            for thread in data.get("threads") or []:
                self.observe("THREAD_CREATE", thread)
            for role in data.get("roles") or []:
                self._role(str(data.get("id") or ""), role)
        elif kind in ("GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE"):
            self._role(str(data.get("guild_id") or ""), data.get("role"))
        elif kind in ("THREAD_CREATE", "THREAD_UPDATE") and data.get("type") in THREAD_TYPES:
            thread, parent = data.get("id"), data.get("parent_id")
            if thread and parent:
                self.threads.put(str(thread), str(parent))

    def _role(self, guild: str, role: object) -> None:
        """Remember `role` if it is this bot's managed role (its tags name the bot)."""
        if not isinstance(role, dict) or self.user_id is None:
            return
        tags = role.get("tags") if isinstance(role.get("tags"), dict) else {}
        if str(tags.get("bot_id") or "") == self.user_id and role.get("id"):
            self.roles.put(str(role["id"]), guild)

    def message(self, d: dict[str, Any]) -> InboundMessage | None:
        """The InboundMessage of a MESSAGE_CREATE; None for bots, system messages, junk."""
        author = d.get("author") or {}
        if author.get("bot") or d.get("webhook_id") or d.get("type", 0) not in USER_MESSAGES:
            return None  # bots (this one too): two bots must not answer each other forever
        sender, chat = str(author.get("id", "")), str(d.get("channel_id", ""))
        if not sender or sender == self.user_id:
            return None
        mentions = {str(m.get("id")) for m in d.get("mentions") or [] if isinstance(m, dict)}
        role_mentioned = any(str(r) in self.roles for r in d.get("mention_roles") or [])
        replied = ((d.get("referenced_message") or {}).get("author") or {}).get("id")
        me = self.user_id
        text = str(d.get("content") or "")
        member = d.get("member") or {}
        msg = InboundMessage(
            channel="discord",
            account=self.account,
            channel_message_id=str(d.get("id", "")),
            peer=sender,
            text=re.sub(rf"<@!?{me}>", "", text).strip() if me else text,
            sender_name=member.get("nick") or author.get("global_name") or author.get("username"),
            reply_to=str(d.get("id", "")),  # a reply quotes the message it answers
            meta={
                "mentioned": me is not None
                and (me in mentions or str(replied) == me or role_mentioned)
            },
        )
        if d.get("guild_id"):
            msg.peer_kind, msg.guild = "group", str(d["guild_id"])
            parent = self.threads.get(chat)
            msg.group, msg.thread = (parent, chat) if parent else (chat, None)
        else:
            msg.meta["chat"] = chat  # replies go to the DM channel, not the user id
            self.dms.put(sender, chat)
        try:
            return msg.validate()
        except InvalidName as e:
            log.warning("discord: skipped a malformed message: %s", e.message)
            return None
