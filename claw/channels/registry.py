"""Channel names → constructors, so the daemon and `claw notify` build channels one way.

`CHANNELS` is a plain module-level dict: a new channel (telegram, discord, …) adds one
entry. Each constructor imports its module when called, so importing the registry stays
cheap (the webhook's httpx is only loaded when a webhook is actually built).
"""

from __future__ import annotations

from collections.abc import Callable

from claw.channels.base import Channel
from claw.errors import UsageError
from claw.state.config import Config
from claw.state.home import Home

Factory = Callable[[Home, Config], Channel]


def _webhook(home: Home, config: Config) -> Channel:
    from claw.channels.webhook import WebhookChannel

    return WebhookChannel.from_config(config)


def _mock(home: Home, config: Config) -> Channel:
    from claw.channels.mock import MockChannel

    return MockChannel.from_config(home, config)


def _telegram(home: Home, config: Config) -> Channel:
    from claw.channels.telegram import TelegramChannel

    return TelegramChannel.from_config(home, config)


def _discord(home: Home, config: Config) -> Channel:
    from claw.channels.discord import DiscordChannel

    return DiscordChannel.from_config(home, config)


def _terminal(home: Home, config: Config) -> Channel:
    from claw.channels.terminal import TerminalChannel

    return TerminalChannel(home)


CHANNELS: dict[str, Factory] = {
    "webhook": _webhook,
    "telegram": _telegram,
    "discord": _discord,
    "terminal": _terminal,
    "mock": _mock,
}

# Channels with an inbound side the daemon runs (`start`) when `enabled = true`. The
# webhook receives through the gateway's `/hooks/<name>` instead; the terminal through
# `claw chat`.
RECEIVERS = frozenset({"telegram", "discord"})


def known_channels() -> list[str]:
    return sorted(CHANNELS)


def build_channel(name: str, home: Home, config: Config) -> Channel:
    """A ready channel; an unknown name is a usage error that lists the known ones."""
    factory = CHANNELS.get(name)
    if factory is None:
        raise UsageError(f"unknown channel {name!r}; known channels: {', '.join(known_channels())}")
    return factory(home, config)
