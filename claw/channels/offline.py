"""`claw channels status` without a daemon: what is configured, optionally probed live.

Nothing receives while no daemon runs, so every row says "stopped"; a probe still tells
whether each channel's credentials and endpoint work, which is what one wants to know
before starting the daemon.
"""

from __future__ import annotations

from typing import Any

import trio

from claw.state.config import Config
from claw.state.home import Home


def configured_channels(config: Config) -> list[str]:
    """Channels set up in config.toml: a receiver that is enabled or has a token, the
    webhook with targets or hooks, the mock with its table."""
    from claw.channels.registry import CHANNELS, RECEIVERS

    tables = config.get("channels", {}) or {}
    names = []
    for name in sorted(CHANNELS):
        table = tables.get(name)
        if not isinstance(table, dict) or not table:
            continue
        if name in RECEIVERS:
            keys = ("enabled", "token", "token_env")
        elif name == "webhook":
            keys = ("targets", "hooks")
        else:
            keys = tuple(table)
        if any(table.get(k) for k in keys):
            names.append(name)
    return names


def offline_status(home: Home, config: Config, *, probe: bool) -> list[dict[str, Any]]:
    from claw.channels.registry import RECEIVERS

    rows: list[dict[str, Any]] = []
    for name in configured_channels(config):
        enabled = name in RECEIVERS and config.get(f"channels.{name}.enabled", False) is True
        rows.append({"name": name, "receiving": enabled, "state": "stopped", "connected": False})
    if probe and rows:
        trio.run(_probe_all, home, config, rows)
    return rows


async def _probe_all(home: Home, config: Config, rows: list[dict[str, Any]]) -> None:
    from claw.channels.runtime import probe_rows
    from claw.delivery.service import Channels

    channels = Channels(home, config)
    try:
        await probe_rows(channels, rows)
    finally:
        await channels.aclose()
