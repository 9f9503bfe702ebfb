"""The tool seam: what a tool is, what it gets, what it returns, and the registry.

Every tool (built-in, skill reader, MCP) implements `Tool`. Arguments are validated
against the tool's JSON schema before the call; a validation error goes back to the
model as the tool result (it can correct itself), never to the user.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

MAX_RESULT_CHARS = 16_000
# OpenAI (and the many APIs that copy it) refuse a request with more tools than this.
MAX_TOOLS = 128
TRUNCATION_MARKER = "\n…[truncated: {omitted} more characters]"

log = logging.getLogger(__name__)


@dataclass
class ToolContext:
    """What a tool may use. `abort` is set when the turn is cancelled or times out."""

    agent_id: str
    workspace: Path
    session_key: str
    settings: dict[str, Any] = field(default_factory=dict)  # [tools] config section
    timezone: str | None = None  # the user's IANA zone, if known
    abort: threading.Event = field(default_factory=threading.Event)
    home_root: Path | None = None  # the state directory (for tools that keep state there)


@dataclass
class ToolResult:
    content: str
    is_error: bool = False


def object_schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A tool's `parameters`: a closed JSON object schema (unknown arguments are refused)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


class Tool(Protocol):
    """A callable tool. One that bounds its own run time (exec kills its process, MCP
    cancels its request) sets a class attribute `own_time_limit = True`; every other call
    is bounded by `tools.timeout_s` (claw.agent.tools.limits)."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult: ...


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def tools(self) -> list[Tool]:
        return [self._tools[n] for n in self.names()]

    def __len__(self) -> int:
        return len(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """The registry in the OpenAI/litellm `tools=` format."""
        return [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in self.tools()
        ]

    def schema_tokens(self) -> int:
        """What the tool definitions cost in the request, estimated like messages are
        (claw.state.transcript.estimate_tokens: 3 UTF-8 bytes a token, plus framing)."""
        if not self._tools:
            return 0
        text = json.dumps(self.schemas(), ensure_ascii=False, separators=(",", ":"))
        return 4 * len(self._tools) + math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3)

    def validate(self, name: str, args: Any) -> str | None:
        """None if `args` fit the tool's schema, else a message for the model."""
        tool = self.get(name)
        if tool is None:
            return f"unknown tool {name!r}; available: {', '.join(self.names()) or 'none'}"
        if not isinstance(args, dict):
            return f"arguments for {name} must be a JSON object"
        import jsonschema

        validator = jsonschema.Draft202012Validator(tool.parameters)
        errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
        if not errors:
            return None
        parts = [f"{'/'.join(map(str, e.path)) or '(arguments)'}: {e.message}" for e in errors[:5]]
        return f"invalid arguments for {name}: " + "; ".join(parts)

    def call(self, name: str, raw_args: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Parse, validate and run one call; never raises for the model's mistakes."""
        if isinstance(raw_args, str):
            try:
                args = json.loads(raw_args or "{}")
            except (ValueError, RecursionError) as e:  # the latter: nested too deep
                return ToolResult(f"arguments for {name} are not valid JSON: {e}", is_error=True)
        else:
            args = raw_args
        problem = self.validate(name, args)
        if problem:
            return ToolResult(problem, is_error=True)
        tool = self._tools[name]
        try:
            if getattr(tool, "own_time_limit", False):  # exec, MCP: they stop themselves
                result = tool.call(args, ctx)
            else:
                result = _call_limited(tool, args, ctx)
        except Exception as e:  # a tool's failure is the model's information
            result = ToolResult(f"{name} failed: {type(e).__name__}: {e}", is_error=True)
        return truncate(result, int(ctx.settings.get("max_result_chars") or MAX_RESULT_CHARS))


def _call_limited(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """The call under `tools.timeout_s` (claw.agent.tools.limits); raises what the tool raised."""
    from claw.agent.tools import limits

    timeout = float(ctx.settings.get("timeout_s") or limits.DEFAULT_TIMEOUT_S)
    outcome, value = limits.run_limited(tool.name, lambda: tool.call(args, ctx), timeout, ctx.abort)
    if outcome == "ok":
        return value
    if outcome == "error":
        raise value
    if outcome == "timeout":
        log.warning("tool %s timed out after %gs; its thread is abandoned", tool.name, timeout)
        return ToolResult(
            f"{tool.name} timed out after {timeout:g}s and was abandoned (tools.timeout_s); "
            "its result, if it ever comes, is dropped. Try another way or tell the user.",
            is_error=True,
        )
    if outcome == "aborted":
        return ToolResult(f"{tool.name} was stopped: the turn was cancelled", is_error=True)
    log.warning(
        "tool %s refused: %d timed-out tool calls still running", tool.name, limits.MAX_STRANDED
    )
    return ToolResult(
        f"{tool.name} not run: {limits.MAX_STRANDED} earlier tool calls timed out and are "
        "still running in this process; try again later (restarting claw clears them)",
        is_error=True,
    )


def truncate(result: ToolResult, limit: int = MAX_RESULT_CHARS) -> ToolResult:
    text = result.content
    if len(text) <= limit:
        return result
    omitted = len(text) - limit
    return ToolResult(text[:limit] + TRUNCATION_MARKER.format(omitted=omitted), result.is_error)
