"""The `[channels.*]` section of config.toml: each channel's credentials, endpoints and
who may talk to the assistant through it."""

from __future__ import annotations

from claw.state.config_field import WILDCARD, Field, Schema

CHANNEL_ACCESS: Schema = {
    "allow_from": Field("list_str", [], "peer ids that may send direct messages ('*': all)"),
    "groups_require_mention": Field(
        "bool", True, "answer group messages only when they mention the bot"
    ),
    "allow_groups": Field(
        "list_str",
        [],
        "group (or Discord guild) ids where anyone may talk to the bot ('*': every group); "
        "elsewhere only senders in allow_from or paired are answered",
    ),
}

CHANNELS: Schema = {
    "telegram": {
        "enabled": Field("bool", False, "receive messages in the daemon (claw serve)"),
        "token_env": Field("str", help="environment variable holding the bot token"),
        "token": Field("str", help="the bot token itself (prefer token_env)", secret=True),
        "api_base": Field(
            "str", "https://api.telegram.org", "Bot API base URL (a local Bot API server)"
        ),
        "poll_timeout_s": Field("int", 30, "long-poll timeout of getUpdates, seconds", minimum=1),
        "stall_grace_s": Field(
            "int", 15, "a poll silent this long past its timeout is stalled", minimum=1
        ),
        "request_timeout_s": Field(
            "int", 15, "time limit of one sendMessage or typing call, seconds", minimum=1
        ),
        "max_message_chars": Field(
            "int", 4096, "longest part; longer replies are split (Telegram's limit)", minimum=1
        ),
        **CHANNEL_ACCESS,
    },
    "discord": {
        "enabled": Field("bool", False, "receive messages in the daemon (claw serve)"),
        "token_env": Field("str", help="environment variable holding the bot token"),
        "token": Field("str", help="the bot token itself (prefer token_env)", secret=True),
        "api_base": Field("str", "https://discord.com/api/v10", "REST API base URL"),
        "gateway_url": Field(
            "str", "wss://gateway.discord.gg/?v=10&encoding=json", "gateway WebSocket URL"
        ),
        "intents": Field(
            "int",
            37377,
            "gateway intents (GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT)",
            minimum=0,
        ),
        "max_message_chars": Field(
            "int", 2000, "longest part; longer replies are split (Discord's limit)", minimum=1
        ),
        "resume_window_s": Field(
            "int",
            300,
            "after a restart, RESUME a gateway session saved at most this long ago "
            "(Discord replays what was missed); older or 0: identify anew",
            minimum=0,
        ),
        "backfill_max_age_s": Field(
            "int",
            3600,
            "when a session could not be resumed, fetch missed messages up to this old "
            "over REST; 0 = off",
            minimum=0,
        ),
        **CHANNEL_ACCESS,
    },
    "webhook": {
        "hooks": {
            WILDCARD: {
                "token_env": Field(
                    "str", help="environment variable holding this hook's bearer token"
                ),
                "token": Field("str", help="the token itself (prefer token_env)", secret=True),
                "reply_target": Field(
                    "str", help="outbound target (channels.webhook.targets) for replies"
                ),
                "rate_per_s": Field(
                    "int",
                    help="messages a second it takes (default 20, bursts of twice that)",
                    minimum=1,
                ),
            }
        },
        "targets": {
            WILDCARD: {
                "url": Field("str", help="http(s) URL the message is POSTed to, as JSON"),
                "secret_env": Field(
                    "str", help="environment variable holding the HMAC signing secret"
                ),
                "secret": Field(
                    "str", help="the signing secret itself (prefer secret_env)", secret=True
                ),
                "timeout_s": Field("int", 10, "per-request time limit, seconds", minimum=1),
            }
        },
    },
    "mock": {
        "fail_to": Field("list_str", [], "peers whose sends fail for good (tests, demos)"),
        "flaky_to": Field("list_str", [], "peers whose sends fail, to be retried"),
        "retry_after_s": Field(
            "int", 0, "retry hint attached to flaky failures, seconds (0: none)", minimum=0
        ),
        "max_message_chars": Field(
            "int", 4096, "longest part; longer replies are split", minimum=1
        ),
        **CHANNEL_ACCESS,
    },
    WILDCARD: {  # any receiving channel: who may talk to the assistant
        **CHANNEL_ACCESS,
        "enabled": Field("bool", help="receive messages in the daemon (claw serve)"),
    },
}
