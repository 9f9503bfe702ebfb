"""Everything a turn needs besides the conversation: prompt, tools, hooks, settings.

Built per turn from the config and the agent's workspace (files are cached by mtime, so
this is cheap and picks up edits without a restart). MCP servers are started once per
process, lazily, only when a model that can call tools runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claw.agent.hooks import HookContext, Hooks, load_hooks
from claw.agent.models import ModelInfo
from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.memory.settings import RECALL_PLUGIN, auto_recall_on
from claw.state.config import Config
from claw.state.home import Home
from claw.state.workspace import create_workspace, workspace_dir

log = logging.getLogger(__name__)

_mcp_lock = threading.Lock()
_mcp: dict[str, Any] = {}  # config fingerprint -> McpServers


@dataclass
class TurnEnv:
    workspace: Path
    registry: ToolRegistry
    hooks: Hooks
    hook_ctx: HookContext
    tool_ctx: ToolContext
    skills: list[Any] = field(default_factory=list)


def build(
    home: Home,
    config: Config,
    agent_id: str,
    session_key: str,
    info: ModelInfo,
    *,
    channel: str | None,
    abort: threading.Event,
    with_tools: bool = True,
    deny: tuple[str, ...] = (),
) -> TurnEnv:
    workspace = workspace_dir(home, agent_id)
    if not workspace.exists():
        create_workspace(home, agent_id)
    skills = _skills(workspace)
    registry = ToolRegistry()
    settings = dict(config.get("tools") or {})
    if with_tools and info.supports_tools:
        for tool in tools_for(config, workspace, skills):
            if tool.name not in deny:
                registry.register(tool)
    plugins = list(config.get("plugins") or [])
    if auto_recall_on(config, agent_id):
        plugins.append(RECALL_PLUGIN)  # memory's before_agent_start hook
    hooks = load_hooks(plugins)
    return TurnEnv(
        workspace=workspace,
        registry=registry,
        hooks=hooks,
        hook_ctx=HookContext(
            agent_id=agent_id,
            session_key=session_key,
            model=info.name,
            channel=channel,
            home_root=home.root,
        ),
        tool_ctx=ToolContext(
            agent_id=agent_id,
            workspace=workspace,
            session_key=session_key,
            settings=settings,
            timezone=config.get("user.timezone"),
            abort=abort,
            home_root=home.root,
        ),
        skills=skills,
    )


def tools_for(config: Config, workspace: Path, skills: list[Any]) -> list[Any]:
    """Built-in tools, the task and memory tools, spawn, skill_read (when there are skills), MCP
    servers' tools."""
    from claw.agent.skills import SkillReadTool
    from claw.agent.tools.builtin import builtin_tools
    from claw.supervisor.spawn import spawn_tools
    from claw.tasks.tools import task_tools

    tools: list[Any] = list(builtin_tools(dict(config.get("tools") or {})))
    tools.extend(task_tools())
    if config.get("memory.enabled", True):
        from claw.memory.tools import memory_tools

        tools.extend(memory_tools())
    tools.extend(spawn_tools(config))
    if skills:
        tools.append(SkillReadTool(workspace))
    tools.extend(mcp_servers(config).tools())
    return tools


def mcp_servers(config: Config) -> Any:
    """This process's MCP servers for the configured set (restarted if the config changes)."""
    from claw.agent.tools.mcp import McpServers

    servers = dict((config.get("mcp") or {}).get("servers") or {})
    key = repr(sorted(servers.items()))
    with _mcp_lock:
        current = _mcp.get("servers")
        if current is None or _mcp.get("key") != key:
            if current is not None:
                current.close()
            current = McpServers(servers)
            _mcp.update(servers=current, key=key)
        return current


def close_mcp() -> None:
    """Stop this process's MCP servers (one-shot commands call it before exiting)."""
    with _mcp_lock:
        current = _mcp.pop("servers", None)
        _mcp.pop("key", None)
    if current is not None:
        current.close()


def load_skill_list(workspace: Path) -> list[Any]:
    return _skills(workspace)


def _skills(workspace: Path) -> list[Any]:
    from claw.agent.skills import load_skills, log_warnings

    found = load_skills(workspace)
    log_warnings(found, log)
    return list(found.skills)


def system_prompt(
    config: Config,
    env: TurnEnv,
    info: ModelInfo,
    agent_id: str,
    channel: str | None,
    extra: list[str],
) -> str:
    from claw.agent.prompt import build_system_prompt
    from claw.agent.tools.builtin import local_now
    from claw.agent.tools.paths import ToolError

    try:
        now, zone = local_now(config.get("user.timezone"))
    except ToolError as e:
        log.warning("user.timezone: %s; using the system zone", e)
        now, zone = local_now(None)
    facts = {
        "agent": agent_id,
        "channel": channel or "cli",
        "model": info.name,
        "user local time": f"{now:%Y-%m-%d %H:%M} ({now:%A}, {zone})",
    }
    text = build_system_prompt(
        env.workspace,
        skills=env.skills if env.registry.get("skill_read") else [],
        facts=facts,
        max_file_chars=int(config.get("prompt.max_file_chars")),
        max_total_chars=int(config.get("prompt.max_total_chars")),
    )
    return "\n\n".join([text, *extra]) if extra else text
