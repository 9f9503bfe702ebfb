"""The daemon's receiving channels: started, watched, restarted with backoff.

Each enabled receiving channel (`[channels.<name>] enabled = true`) runs its `start`
under a supervisor task. Whatever it raises (a bad token, a dropped network, a bug) is
logged, shown by `channels.status`, announced to subscribed clients (`channels.error`)
and followed by a restart after a backoff that doubles from 1 s to 5 min (reset once the
channel has stayed up for a minute). A channel never takes the daemon down.

Every received message goes through `sink`: journaled durably (claw.delivery.inbox)
before the channel acknowledges it upstream, then the inbound processor is woken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from claw.channels.status import StatusBoard
from claw.delivery.inbox import InboundMessage, Inbox
from claw.delivery.service import Channels
from claw.routing.inbound import Wakeup
from claw.state.config import Config
from claw.state.home import Home

log = logging.getLogger("claw.channels")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
HEALTHY_AFTER_S = 60.0  # up this long: the next failure starts the backoff afresh
PROBE_TIMEOUT_S = 10.0
RECONCILE_S = 2.0  # how often the enabled set is compared with the running one


def receiving_channels(config: Config) -> list[str]:
    """The channels the daemon starts: known receivers with `enabled = true`."""
    from claw.channels.registry import RECEIVERS

    return [n for n in sorted(RECEIVERS) if config.get(f"channels.{n}.enabled", False) is True]


def describe(error: BaseException) -> str:
    """One line for a log or a status: the innermost error of a trio exception group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{type(error).__name__}: {message}"


class ChannelRuntime:
    def __init__(
        self,
        home: Home,
        config: Config,
        channels: Channels,
        wakeup: Wakeup,
        *,
        on_error: Callable[[str, dict[str, Any]], None] | None = None,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.home, self.config, self.channels, self.wakeup = home, config, channels, wakeup
        self.on_error = on_error
        self.backoff_start_s, self.backoff_max_s = backoff_start_s, backoff_max_s
        self.inbox = Inbox(home)

    @property
    def board(self) -> StatusBoard:
        return self.channels.board

    async def record(self, channel: str, msg: InboundMessage) -> tuple[str, bool]:
        """Journal one message (durable on return) and wake the processor if it is new."""
        if msg.channel != channel:  # an adapter can only speak for itself
            raise ValueError(f"channel {channel!r} journaled a message of {msg.channel!r}")
        entry_id, new = await trio.to_thread.run_sync(self.inbox.record, msg)
        self.board.inbound(channel)
        if new:
            self.wakeup.set()
        return entry_id, new

    async def run(self) -> None:
        """Supervise every enabled receiving channel until cancelled.

        The config object is the daemon's live one (a SIGHUP or an edit of config.toml
        updates it in place), so every RECONCILE_S the set of enabled channels is
        compared with the running one: a newly enabled channel starts, a disabled one
        stops, without a restart."""
        running: dict[str, trio.CancelScope] = {}
        async with trio.open_nursery() as nursery:
            while True:
                wanted = set(receiving_channels(self.config))
                for name in sorted(wanted - running.keys()):
                    log.info("starting channel %s", name)
                    self.board[name].receiving = True
                    running[name] = await nursery.start(self._scoped, name)
                for name in sorted(running.keys() - wanted):
                    log.info("stopping channel %s (disabled)", name)
                    running.pop(name).cancel()
                    status = self.board[name]
                    status.receiving, status.connected, status.state = False, False, "idle"
                    await self.channels.rebuild(name)  # closes its connections
                await trio.sleep(RECONCILE_S)

    async def _scoped(
        self,
        name: str,
        *,
        task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await self._supervise(name)

    async def _supervise(self, name: str) -> None:
        status = self.board[name]
        backoff = self.backoff_start_s
        first = True
        while True:
            status.state, status.next_restart_at = "starting", None
            began = time.monotonic()
            try:
                channel = self.channels.raw(name) if first else await self.channels.rebuild(name)
                first = False
                sink = partial(self.record, name)
                async with trio.open_nursery() as nursery:
                    await nursery.start(partial(channel.start, sink))  # type: ignore[attr-defined]
                    status.state, status.connected = "connected", True
                    status.connected_since = time.time()
                    log.info("channel %s connected", name)
                reason = "stopped on its own"
            except Exception as e:  # whatever it was, the daemon carries on
                reason = describe(e)
                log.debug("channel %s failed", name, exc_info=True)
            if time.monotonic() - began >= HEALTHY_AFTER_S:
                backoff = self.backoff_start_s
            status.connected, status.connected_since = False, None
            status.error(reason)
            status.restarts += 1
            status.state, status.next_restart_at = "backoff", time.time() + backoff
            log.warning("channel %s: %s; restarting in %gs", name, reason, backoff)
            if self.on_error is not None:
                self.on_error(name, {"channel": name, "error": reason, "retry_in_s": backoff})
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def status(self) -> list[dict[str, Any]]:
        """Every channel the daemon knows of: receiving ones and any that sent."""
        names = set(self.board.names()) | set(receiving_channels(self.config))
        if self.config.get("channels.webhook.hooks"):  # received by the gateway itself
            hooks = self.board["webhook"]
            hooks.receiving = True
            if hooks.state == "idle":
                hooks.state, hooks.connected = "listening", True
            names.add("webhook")
        return [self.board[n].to_dict() | self._health(n) for n in sorted(names)]

    def _health(self, name: str) -> dict[str, Any]:
        try:
            return {"health": self.channels.raw(name).health()}
        except Exception as e:
            return {"health": {"error": describe(e)}}


async def probe_rows(channels: Channels, rows: list[dict[str, Any]]) -> None:
    """Set each status row's `probe`, all channels checked at once (`channels.status`
    in the daemon, `claw channels status --probe` without one)."""

    async def one(row: dict[str, Any]) -> None:
        try:
            channel = channels.raw(row["name"])
        except Exception as e:  # the channel cannot even be built (no token, …)
            row["probe"] = {"ok": False, "error": describe(e)}
            return
        row["probe"] = await probe_channel(channel)

    async with trio.open_nursery() as nursery:
        for row in rows:
            nursery.start_soon(one, row)


async def probe_channel(channel: Any) -> dict[str, Any]:
    """A live check of the channel's credentials and reachability, time-limited."""
    probe = getattr(channel, "probe", None)
    if probe is None:
        return {"ok": None, "detail": "this channel has no live check"}
    try:
        with trio.fail_after(PROBE_TIMEOUT_S):
            result = await probe()
    except Exception as e:
        return {"ok": False, "error": describe(e)}
    return {"ok": True, **(result or {})}
