"""`claw tools`: the tools an agent's model can call."""

from __future__ import annotations

import typer

from claw.commands._base import info, print_json, state, sub_app
from claw.commands.tty import echo

app = sub_app("List the tools agents can call.")


@app.command("list")
def list_(
    ctx: typer.Context,
    agent: str = typer.Option("main", "--agent", "-a", metavar="ID", help="Agent whose tools."),
    as_json: bool = typer.Option(False, "--json", help="Print name, description, parameters."),
) -> None:
    """List built-in, skill and MCP tools (MCP servers are started to ask them).

    Models without tool support (local/smollm2, echo) run without tools.
    """
    from claw.agent import env
    from claw.agent.selection import check_agent
    from claw.state.workspace import create_workspace, workspace_dir

    st = state(ctx)
    conf = st.config()
    check_agent(conf, agent)
    workspace = workspace_dir(st.home(), agent)
    if not workspace.exists():
        create_workspace(st.home(), agent)
    try:
        tools = env.tools_for(conf, workspace, env.load_skill_list(workspace))
        for name, problem in env.mcp_servers(conf).status().items():
            if not problem.startswith("running"):
                info(f"MCP server {name}: {problem}")
    finally:
        env.close_mcp()
    if len(tools) > env.MAX_TOOLS:
        info(
            f"{len(tools)} tools: more than the {env.MAX_TOOLS} one model request may carry; "
            "turns with a tool-calling model refuse to start until some are turned off"
        )
    if as_json:
        print_json(
            [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in tools
            ]
        )
        return
    width = max((len(t.name) for t in tools), default=0)
    for t in tools:
        first = (t.description or "").strip().splitlines()[0] if t.description else ""
        echo(f"{t.name:<{width}}  {first}")  # an MCP server names and describes its tools
