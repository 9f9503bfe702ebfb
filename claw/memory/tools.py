"""The agent's memory tools: memory_search and memory_save.

memory_search returns numbered snippets, each with its source (file and line) and date,
so the model can quote where a fact came from; memory_save appends to today's note (or
to MEMORY.md with long_term=true). Failures come back as error results for the model.
"""

from __future__ import annotations

from typing import Any

from claw.agent.tools.base import Tool, ToolContext, ToolResult, object_schema
from claw.errors import ClawError
from claw.state.home import Home


def memory_tools() -> list[Tool]:
    return [MemorySearchTool(), MemorySaveTool()]


def _config(ctx: ToolContext) -> tuple[Home, Any]:
    from claw.state.config import load

    if ctx.home_root is None:
        raise ClawError("memory is not available here (no state directory)")
    home = Home(ctx.home_root)
    return home, load(home.config_file)


def format_results(recall: Any) -> str:
    """Numbered snippets with source and date; the mode line says keyword-only if so."""
    lines = []
    if recall.mode != "hybrid":
        lines.append(f"(keyword-only search: {recall.reason})")
    for n, r in enumerate(recall.results, 1):
        when = r.date or "long-term"
        who = f" {r.role}" if r.role else ""
        lines.append(f"{n}. [{r.where} | {when}{who}] {r.snippet}")
    return "\n".join(lines)


class MemorySearchTool:
    name = "memory_search"
    description = (
        "Search what you remember: long-term facts (MEMORY.md), daily notes and past "
        "conversations. Returns snippets with their source and date. Use it before "
        "answering questions about the user, earlier decisions, or past events."
    )
    parameters = object_schema(
        {
            "query": {"type": "string", "minLength": 1, "description": "What to look for."},
            "k": {"type": "integer", "minimum": 1, "maximum": 20, "description": "How many."},
        },
        ("query",),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        from claw.memory.scope import scope_of
        from claw.memory.service import recall

        try:
            home, config = _config(ctx)
            scope = scope_of(home, ctx.session_key)
            found = recall(
                home,
                config,
                args["query"],
                agent=ctx.agent_id,
                k=args.get("k"),
                sync="agent",  # a conversation of a moment ago too, daemon or not
                allow=scope.allows,
            )
        except ClawError as e:
            return ToolResult(str(e), is_error=True)
        text = format_results(found)
        if not found.results:
            text = (text + "\n" if text else "") + "no memories match"
        return ToolResult(text)


class MemorySaveTool:
    name = "memory_save"
    description = (
        "Remember something for later: appended to today's note, or with long_term=true to "
        "MEMORY.md (lasting facts about the user: names, preferences, decisions)."
    )
    parameters = object_schema(
        {
            "text": {"type": "string", "minLength": 1, "maxLength": 4000},
            "long_term": {"type": "boolean", "description": "A lasting fact (MEMORY.md)."},
        },
        ("text",),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        from claw.memory.notes import save
        from claw.memory.scope import scope_of

        try:
            home, config = _config(ctx)
            if not scope_of(home, ctx.session_key).may_save:
                return ToolResult(
                    "memory_save is not available in a group or to a webhook caller: what is "
                    "said here is not saved to the owner's notes",
                    is_error=True,
                )
            saved = save(
                home, config, ctx.agent_id, args["text"], long_term=bool(args.get("long_term"))
            )
        except ClawError as e:
            return ToolResult(str(e), is_error=True)
        return ToolResult(f"saved to {saved.source}")
