"""Channels: where messages arrive (telegram, discord, webhooks, the terminal) and where
replies and notifications leave.

`base` is the interface the delivery queue relies on; `registry.build_channel` turns a
channel name and the config into a ready channel. Each channel lives in its own module,
imported only when it is built, so a command that never sends pays nothing for them.
"""
