"""Agents in config.toml (`[agents.<id>]`): list, add (with a workspace), remove."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from claw.errors import NotFound, UsageError
from claw.routing.bindings import bindings_for
from claw.state import config as config_mod
from claw.state import config_schema as schema
from claw.state.home import Home
from claw.state.locks import lock_for
from claw.state.names import validate_agent_id
from claw.state.session_keys import DEFAULT_AGENT, DM_SCOPES
from claw.state.workspace import create_workspace, workspace_dir


@dataclass
class AgentInfo:
    id: str
    model: str
    dm_scope: str
    workspace: str
    bindings: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_agents(home: Home, config: Any) -> list[AgentInfo]:
    return [
        AgentInfo(
            id=agent,
            model=config.agent_model(agent),
            dm_scope=config.get(f"agents.{agent}.dm_scope") or "main",
            workspace=str(workspace_dir(home, agent)),
            bindings=len(bindings_for(config, agent)),
        )
        for agent in config.agent_ids()
    ]


def add_agent(
    home: Home, config: Any, agent: str, *, model: str | None = None, dm_scope: str = "main"
) -> Path:
    """Create the agent's workspace and its [agents.<id>] table; returns the workspace."""
    validate_agent_id(agent)
    if agent in config.agent_ids():
        raise UsageError(f"agent {agent!r} already exists")
    if dm_scope not in DM_SCOPES:
        raise UsageError(f"--dm-scope: expected one of {', '.join(DM_SCOPES)}, got {dm_scope!r}")
    if model is not None and not model.strip():
        raise UsageError("--model: give a model, e.g. openai/gpt-4o-mini (or leave it out)")
    path = home.config_file
    config_mod.set_value(path, f"agents.{agent}.dm_scope", dm_scope)
    if model is not None:
        config_mod.set_value(path, f"agents.{agent}.model", model)
    create_workspace(home, agent)
    return workspace_dir(home, agent)


def remove_agent(
    home: Home, agent: str, *, drop_bindings: bool = False, delete_workspace: bool = False
) -> list[int]:
    """Remove [agents.<id>] (and, if told, the bindings naming it); returns their indexes."""
    validate_agent_id(agent)
    if agent == DEFAULT_AGENT:
        raise UsageError("the main agent cannot be removed")
    path = home.config_file
    with lock_for(path):
        data = config_mod.read_file(path)
        agents = data.get("agents") or {}
        if agent not in agents:
            raise NotFound(f"no agent named {agent!r}")
        bindings = data.get("bindings") or []
        doomed = [
            i for i, b in enumerate(bindings) if isinstance(b, dict) and b.get("agent") == agent
        ]
        if doomed and not drop_bindings:
            listed = ", ".join(f"#{i + 1}" for i in doomed)
            raise UsageError(
                f"agent {agent!r} is used by binding {listed}",
                hint="change those bindings first, or pass --remove-bindings",
            )
        del agents[agent]
        if doomed:
            kept = [b for i, b in enumerate(bindings) if i not in doomed]
            if kept:
                data["bindings"] = kept
            else:
                del data["bindings"]
        schema.validate_tree(data, schema.SCHEMA)
        config_mod.write_file(path, data)
    if delete_workspace:
        shutil.rmtree(workspace_dir(home, agent), ignore_errors=True)
    return doomed
