"""A fake channel for tests and demos, observable from any process.

Every send appends one JSON line to `<CLAW_HOME>/channels/mock/<account>.jsonl`, durably,
so a test (or a person running `tail -f`) in another process sees exactly what was sent,
in order. `[channels.mock]` scripts failures: `fail_to` peers fail for good, `flaky_to`
peers fail in a way worth retrying. The settings are re-read when config.toml changes, so
a running daemon can be made to fail and then recover without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from claw.channels.base import DeliveryError, Outbound, Receipt
from claw.errors import ClawError, InvalidName
from claw.state import jsonl
from claw.state.config import Config, load
from claw.state.home import Home, make_private_dir
from claw.state.names import validate_simple_name
from claw.state.transcript import now_iso

log = logging.getLogger("claw.channels.mock")


@dataclass(frozen=True)
class MockSettings:
    fail_to: frozenset[str] = frozenset()
    flaky_to: frozenset[str] = frozenset()
    retry_after_s: int = 0
    max_message_chars: int = 4096

    @classmethod
    def from_config(cls, config: Config) -> MockSettings:
        return cls(
            fail_to=frozenset(config.get("channels.mock.fail_to", [])),
            flaky_to=frozenset(config.get("channels.mock.flaky_to", [])),
            retry_after_s=config.get("channels.mock.retry_after_s", 0),
            max_message_chars=config.get("channels.mock.max_message_chars", 4096),
        )


def outbox_dir(home: Home) -> Path:
    return home.root / "channels" / "mock"


def outbox_file(home: Home, account: str) -> Path:
    return outbox_dir(home) / f"{validate_simple_name(account, 'account name')}.jsonl"


def read_outbox(home: Home, account: str = "default") -> list[dict[str, Any]]:
    """What the mock channel has sent for an account, oldest first ([] when nothing)."""
    path = outbox_file(home, account)
    return jsonl.read_all(path).records if path.exists() else []


class MockChannel:
    name = "mock"

    def __init__(self, home: Home, config: Config) -> None:
        self.home = home
        self._config_path = config.path
        self._config_mtime = _mtime(config.path)
        self.settings = MockSettings.from_config(config)
        self.sent = 0

    @classmethod
    def from_config(cls, home: Home, config: Config) -> MockChannel:
        return cls(home, config)

    @property
    def max_message_chars(self) -> int:
        return self.settings.max_message_chars

    def _refresh(self) -> None:
        """Pick up [channels.mock] changes made since the last send (one stat a send)."""
        mtime = _mtime(self._config_path)
        if mtime == self._config_mtime or self._config_path is None:
            return
        self._config_mtime = mtime
        try:
            self.settings = MockSettings.from_config(load(self._config_path))
        except ClawError as e:  # a half-edited file: keep the last good settings
            log.warning("mock channel: keeping previous settings: %s", e.message)

    async def send(self, message: Outbound) -> Receipt:
        self._refresh()
        s = self.settings
        if message.to in s.fail_to:
            raise DeliveryError(
                f"mock: peer {message.to!r} is blocked (channels.mock.fail_to)",
                permanent=True,
                reason="blocked",
            )
        if message.to in s.flaky_to:
            raise DeliveryError(
                f"mock: peer {message.to!r} is unavailable (channels.mock.flaky_to)",
                permanent=False,
                retry_after=float(s.retry_after_s) if s.retry_after_s > 0 else None,
                reason="unavailable",
            )
        try:
            path = outbox_file(self.home, message.account)
        except InvalidName as e:
            raise DeliveryError(e.message, permanent=True, reason="bad_account") from None
        record = {k: v for k, v in message.fields().items() if k not in ("reply_to", "thread")}
        record["at"] = now_iso()
        await trio.to_thread.run_sync(_append, path, record)
        self.sent += 1
        return Receipt(message_id=f"mock-{message.idempotency_key or self.sent}")

    async def aclose(self) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {"channel": self.name, "dir": str(outbox_dir(self.home)), "sent": self.sent}


def _append(path: Path, record: dict[str, Any]) -> None:
    make_private_dir(path.parent)
    jsonl.append_records(path, [record])


def _mtime(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when config.toml is rewritten (atomically: a new inode)."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)
