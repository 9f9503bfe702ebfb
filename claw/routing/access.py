"""Who may talk to the assistant: allow lists, pairing codes, and mentions in groups.

Direct messages from unknown peers are refused. The first one gets a one-time pairing code
back; the owner approves it with `claw pairing approve CODE` (or lists the peer in
`channels.<channel>.allow_from`). A stranger cannot make the bot spam: at most one code
per peer per expiry window (while it lives, further messages are refused silently) and at
most MAX_PENDING live codes in all. Group messages are answered only when they mention
the bot, unless `channels.<channel>.groups_require_mention = false`, and only from a known
sender (allow_from, or paired) or in a group listed in `channels.<channel>.allow_groups`;
they never create codes.

State: `<home>/pairing/pairing.json`, rewritten atomically under `locks/pairing.lock`;
readers take no lock (they see the old file or the new one).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from claw.errors import ClawError, InvalidName, NotFound
from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir
from claw.state.locks import FileLock, file_lock
from claw.state.names import validate_simple_name

if TYPE_CHECKING:
    from claw.routing.route import Inbound
    from claw.state.config import Config

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
CODE_TTL_S = 3600.0
MAX_PENDING = 20
REPLY = "Hi! I don't know you yet. Ask my owner to run: claw pairing approve {code}"


@dataclass(frozen=True)
class PendingCode:
    code: str
    channel: str
    account: str
    peer: str
    created_at: float
    expires_at: float
    sender_name: str | None = None
    message_id: str | None = None  # the journaled message it answers (sent again after a crash)

    def live(self, now: float) -> bool:
        return now < self.expires_at

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        d = asdict(self)
        if now is not None:
            d["age_s"] = max(0.0, now - self.created_at)
            d["expires_in_s"] = max(0.0, self.expires_at - now)
        return d


@dataclass(frozen=True)
class ApprovedPeer:
    channel: str
    account: str
    peer: str
    approved_at: float
    sender_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    reply: str | None = None  # text to send back to the sender (a new pairing code)


def normalise_code(code: str) -> str:
    """What the owner typed, as stored: upper case, without spaces or dashes."""
    return "".join(c for c in code.upper() if c not in " -\t")


def checked_code(code: str) -> str:
    """The normalised code, or InvalidName when what was typed cannot be a code at all."""
    wanted = normalise_code(code)
    if len(wanted) != CODE_LENGTH or not (wanted.isascii() and wanted.isalnum()):
        raise InvalidName(
            f"{code!r} is not a pairing code: {CODE_LENGTH} letters and digits, "
            "as the person was sent"
        )
    return wanted


def new_code(taken: set[str] | None = None) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in (taken or set()):
            return code


class PairingStore:
    def __init__(self, home: Home, *, ttl_s: float = CODE_TTL_S, max_pending: int = MAX_PENDING):
        self.home = home
        self.dir = home.root / "pairing"
        self.path = self.dir / "pairing.json"
        self.ttl_s = ttl_s
        self.max_pending = max_pending

    # -- file ---------------------------------------------------------------------------

    def _lock(self) -> FileLock:
        make_private_dir(self.home.locks_dir)
        return file_lock(self.home.locks_dir / "pairing.lock")

    def _read(self) -> tuple[list[PendingCode], list[ApprovedPeer]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [], []
        except (ValueError, UnicodeDecodeError) as e:
            raise ClawError(
                f"{self.path}: unreadable ({e})", hint="fix or delete it (pairings are lost)"
            ) from None
        pending = [PendingCode(**p) for p in raw.get("pending", [])]
        approved = [ApprovedPeer(**a) for a in raw.get("approved", [])]
        return pending, approved

    def _write(self, pending: list[PendingCode], approved: list[ApprovedPeer]) -> None:
        make_private_dir(self.dir)
        doc = {
            "version": 1,
            "pending": [asdict(p) for p in pending],
            "approved": [asdict(a) for a in approved],
        }
        atomic_write_text(self.path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")

    # -- queries ------------------------------------------------------------------------

    def list_pending(self, now: float | None = None) -> list[PendingCode]:
        """Live codes, oldest first."""
        now = time.time() if now is None else now
        pending, _ = self._read()
        return sorted((p for p in pending if p.live(now)), key=lambda p: p.created_at)

    def approved(self) -> list[ApprovedPeer]:
        return self._read()[1]

    def is_approved(self, channel: str, peer: str, account: str = "default") -> bool:
        return any(
            (a.channel, a.account, a.peer) == (channel, account, peer) for a in self.approved()
        )

    # -- changes ------------------------------------------------------------------------

    def request(
        self,
        channel: str,
        peer: str,
        account: str = "default",
        *,
        sender_name: str | None = None,
        message_id: str | None = None,
        now: float | None = None,
    ) -> tuple[PendingCode | None, str]:
        """A code for an unknown peer: (new code, "created"); the live code again when
        `message_id` is the message it was made for ("again": that message is processed
        anew after a crash, and its reply may never have been queued); or (None, why not):
        "approved", "pending" (a live code exists) or "full" (too many pending)."""
        now = time.time() if now is None else now
        with self._lock():
            pending, approved = self._read()
            if any((a.channel, a.account, a.peer) == (channel, account, peer) for a in approved):
                return None, "approved"
            live = [p for p in pending if p.live(now)]
            mine = [p for p in live if (p.channel, p.account, p.peer) == (channel, account, peer)]
            if mine:
                again = message_id is not None and mine[0].message_id == message_id
                return (mine[0], "again") if again else (None, "pending")
            if len(live) >= self.max_pending:
                return None, "full"
            code = PendingCode(
                code=new_code({p.code for p in live}),
                channel=channel,
                account=account,
                peer=peer,
                created_at=now,
                expires_at=now + self.ttl_s,
                sender_name=sender_name,
                message_id=message_id,
            )
            self._write([*live, code], approved)
            return code, "created"

    def approve(self, code: str, now: float | None = None) -> ApprovedPeer:
        """Approve the peer that got `code`; the code is used up."""
        now = time.time() if now is None else now
        wanted = checked_code(code)
        with self._lock():
            pending, approved = self._read()
            found = next((p for p in pending if p.code == wanted), None)
            if found is None or not found.live(now):
                if found is not None:  # expired: drop it (and every other dead code)
                    self._write([p for p in pending if p.live(now)], approved)
                    raise NotFound(
                        f"pairing code {wanted} has expired",
                        hint="ask them to write again: they get a new code",
                    )
                raise NotFound(f"no pending pairing code {wanted}", hint="see `claw pairing list`")
            peer = ApprovedPeer(
                channel=found.channel,
                account=found.account,
                peer=found.peer,
                approved_at=now,
                sender_name=found.sender_name,
            )
            same = (found.channel, found.account, found.peer)
            rest = [p for p in pending if p.live(now) and (p.channel, p.account, p.peer) != same]
            kept = [a for a in approved if (a.channel, a.account, a.peer) != same]
            self._write(rest, [*kept, peer])
            return peer

    def revoke(self, channel: str, peer: str, account: str = "default") -> ApprovedPeer:
        validate_simple_name(channel, "channel name")
        validate_simple_name(account, "account")
        if not peer.strip():
            raise InvalidName("a peer id is required (see `claw pairing list --all`)")
        with self._lock():
            pending, approved = self._read()
            key = (channel, account, peer)
            gone = [a for a in approved if (a.channel, a.account, a.peer) == key]
            if not gone:
                where = f"{channel}:{peer}" + ("" if account == "default" else f" ({account})")
                raise NotFound(
                    f"{where} is not an approved peer", hint="see `claw pairing list --all`"
                )
            self._write(pending, [a for a in approved if (a.channel, a.account, a.peer) != key])
            return gone[0]


def channel_settings(config: Config, channel: str) -> dict[str, Any]:
    section = (config.get("channels") or {}).get(channel)
    return section if isinstance(section, dict) else {}


# Channels whose transport already proved who is talking: an inbound webhook carries its
# hook's token, the terminal is the local user. Pairing would only get in the way.
AUTHENTICATED = frozenset({"webhook", "terminal"})


def decide(
    config: Config,
    home: Home,
    inbound: Inbound,
    *,
    mentioned: bool,
    now: float | None = None,
    sender_name: str | None = None,
    message_id: str | None = None,
    store: PairingStore | None = None,
) -> Decision:
    """May this message reach an agent? Refused direct messages may carry a `reply`
    (`message_id`: the journaled message, so that a re-run gets its code back)."""
    now = time.time() if now is None else now
    if inbound.channel in AUTHENTICATED:
        return Decision(True, "the channel authenticated the sender")
    settings = channel_settings(config, inbound.channel)
    allow_from = [str(p) for p in settings.get("allow_from") or []]
    store = store or PairingStore(home)
    if inbound.peer_kind == "group":
        return _decide_group(settings, inbound, allow_from, store, mentioned=mentioned)
    known = _known_sender(inbound, allow_from, store)
    if known is not None:
        return Decision(True, known)
    code, why = store.request(
        inbound.channel,
        inbound.peer,
        inbound.account,
        sender_name=sender_name,
        message_id=message_id,
        now=now,
    )
    if code is not None:
        return Decision(False, "unknown peer: pairing code sent", REPLY.format(code=code.code))
    if why == "approved":  # approved between our two reads
        return Decision(True, "approved by pairing")
    if why == "pending":
        return Decision(False, "unknown peer: pairing code already sent")
    return Decision(False, "unknown peer: too many pending pairing codes")


def _decide_group(
    settings: dict[str, Any],
    inbound: Inbound,
    allow_from: list[str],
    store: PairingStore,
    *,
    mentioned: bool,
) -> Decision:
    """A group message: it must mention the bot (unless mentions are not required), and
    come from a known sender or from a group (or Discord guild) in `allow_groups`.
    Anyone can add a Telegram bot to a group of their own, so a mention alone must not let
    a stranger in. Groups never create pairing codes (a code posted in a group is public)."""
    if not mentioned and settings.get("groups_require_mention", True):
        return Decision(False, "group message without a mention")
    allow_groups = [str(g) for g in settings.get("allow_groups") or []]
    if "*" in allow_groups or inbound.group in allow_groups or inbound.guild in allow_groups:
        return Decision(True, f"group in channels.{inbound.channel}.allow_groups")
    known = _known_sender(inbound, allow_from, store)
    if known is not None:
        return Decision(True, f"group message from a sender {known}")
    return Decision(False, "group message from an unknown sender (group not in allow_groups)")


def _known_sender(inbound: Inbound, allow_from: list[str], store: PairingStore) -> str | None:
    """Why the sender is trusted (listed in allow_from, or paired); None for a stranger."""
    if inbound.peer in allow_from or "*" in allow_from:
        return f"in channels.{inbound.channel}.allow_from"
    if store.is_approved(inbound.channel, inbound.peer, inbound.account):
        return "approved by pairing"
    return None


__all__ = [
    "CODE_ALPHABET",
    "CODE_TTL_S",
    "MAX_PENDING",
    "ApprovedPeer",
    "Decision",
    "PairingStore",
    "PendingCode",
    "decide",
    "normalise_code",
]
