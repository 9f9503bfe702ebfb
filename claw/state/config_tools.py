"""The `[tools]` and `[mcp]` sections of config.toml: what the agent may call, and how long.

Every tool call has a time limit: `exec` and MCP servers keep their own (`exec_timeout_s`,
`mcp.servers.<name>.timeout_s`, enforced by killing the process or cancelling the call);
every other tool gets `tools.timeout_s` (claw.agent.tools.limits).
"""

from __future__ import annotations

from claw.state.config_field import WILDCARD, Field, Schema

TOOLS: Schema = {
    "max_iterations": Field("int", 8, "most tool rounds in one turn", minimum=1),
    "max_result_chars": Field("int", 16_000, "longer tool results are truncated", minimum=100),
    "timeout_s": Field(
        "int", 60, "time limit of one call of any tool but exec and MCP, seconds", minimum=1
    ),
    "exec_enabled": Field("bool", False, "allow the exec tool (runs shell commands)"),
    "exec_timeout_s": Field("int", 30, "exec time limit, seconds", minimum=1),
    "exec_max_output": Field("int", 8_000, "exec output kept, characters", minimum=100),
}

MCP: Schema = {
    "servers": {
        WILDCARD: {
            "command": Field("str", help="stdio server: the program to start"),
            "args": Field("list_str", [], "stdio server: its arguments"),
            "env": Field("dict_str", {}, "stdio server: extra environment variables", secret=True),
            "url": Field("str", help="streamable HTTP server: its URL"),
            "headers": Field("dict_str", {}, "HTTP server: extra headers", secret=True),
            "timeout_s": Field("int", 30, "start-up and per-call time limit", minimum=1),
            "enabled": Field("bool", True, "set false to keep the server off"),
        }
    }
}
