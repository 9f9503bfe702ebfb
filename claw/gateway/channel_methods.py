"""Gateway method `channels.status`: each channel's health as the daemon sees it.

Per channel: whether the daemon receives on it, its state (connected, backing off after
a failure, send-only), when it last received a message and last sent one successfully,
its last error, restarts, counters and the adapter's own `health()`. With `probe: true`
each configured channel is also checked live (Telegram getMe, Discord's /users/@me, …),
in parallel, each within 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claw.channels.runtime import probe_rows
from claw.gateway import rpc_errors as codes
from claw.gateway.methods import METHODS, Caller, Gateway
from claw.gateway.rpc_errors import RpcError


@dataclass
class ChannelsStatusParams:
    probe: bool = False


@METHODS.method("channels.status", params=ChannelsStatusParams)
async def channels_status(gw: Gateway, caller: Caller, p: ChannelsStatusParams) -> dict[str, Any]:
    runtime = gw.channels
    if runtime is None:
        raise RpcError(codes.FAILED, "the daemon's channels are not running")
    rows = runtime.status()
    if p.probe:
        await probe_rows(runtime.channels, rows)
    return {"channels": rows}
