"""Session keys (DESIGN §3), compatible with OpenClaw's formats.

The key decides which conversation a message joins; `dm_scope` decides how finely direct
messages are split: one shared session, one per person, per person and channel, or per
person, channel and account.
"""

from __future__ import annotations

from claw.errors import InvalidName
from claw.state.names import validate_agent_id, validate_session_key, validate_simple_name

DM_SCOPES = ("main", "per-peer", "per-channel-peer", "per-account-channel-peer")
DEFAULT_AGENT = "main"


def main_key(agent: str = DEFAULT_AGENT) -> str:
    return f"agent:{validate_agent_id(agent)}:main"


def session_key(
    agent: str,
    dm_scope: str = "main",
    *,
    channel: str | None = None,
    peer: str | None = None,
    account: str | None = None,
    group: str | None = None,
) -> str:
    """The key for a direct message (or, with `group`, a group message)."""
    agent = validate_agent_id(agent)
    if group is not None:
        return _join("agent", agent, _channel(channel), "group", _part(group, "group id"))
    if dm_scope == "main":
        return main_key(agent)
    if dm_scope == "per-peer":
        return _join("agent", agent, "direct", _part(peer, "peer id"))
    if dm_scope == "per-channel-peer":
        return _join("agent", agent, _channel(channel), "direct", _part(peer, "peer id"))
    if dm_scope == "per-account-channel-peer":
        return _join(
            "agent",
            agent,
            _channel(channel),
            _part(account, "account id"),
            "direct",
            _part(peer, "peer id"),
        )
    raise InvalidName(f"unknown dm_scope {dm_scope!r}: expected one of {', '.join(DM_SCOPES)}")


def cron_key(job: str) -> str:
    return _join("cron", validate_simple_name(job, "job name"))


def agent_of(key: str) -> str:
    """The agent a key belongs to (`agent:<id>:…`); other keys belong to the main agent."""
    return _named_agent(key) or DEFAULT_AGENT


def agent_for(agent: str | None, key: str | None) -> str | None:
    """The agent that answers in session `key`, given the agent asked for (if any).

    A key `agent:<id>:…` names its agent: that agent answers there, an `agent` that
    contradicts it is refused (the turn would run one agent's model and workspace while
    the session is filed under another), and an invalid id in it is refused. Other keys
    (`cron:…`, free-form) leave the choice to `agent`, which may be None (the caller's
    default then applies).
    """
    if key is None:  # "" is a key, refused by validation (a script's unset $KEY)
        return agent
    owner = _named_agent(key)
    if owner is None:
        return agent
    if agent and agent != owner:
        raise InvalidName(
            f"session {key!r} belongs to agent {owner!r}, not {agent!r}",
            hint=f"leave out the agent, or use a session of agent {agent!r} "
            f"(e.g. agent:{agent}:main)",
        )
    return owner


def _named_agent(key: str) -> str | None:
    """The agent id an `agent:<id>:…` key names (validated); None for other keys."""
    parts = validate_session_key(key).split(":")
    if parts[0] == "agent" and len(parts) >= 3:
        return validate_agent_id(parts[1])
    return None


def _channel(channel: str | None) -> str:
    if not channel:
        raise InvalidName("a channel is required for this dm_scope")
    return validate_simple_name(channel, "channel name")


def _part(value: str | None, what: str) -> str:
    if not value:
        raise InvalidName(f"a {what} is required for this dm_scope")
    if ":" in value:
        raise InvalidName(f"invalid {what} {value!r}: ':' separates key parts")
    return value


def _join(*parts: str) -> str:
    return validate_session_key(":".join(parts))
