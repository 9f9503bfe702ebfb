"""`claw agents`: list, add and remove agents (`[agents.<id>]` in config.toml)."""

from __future__ import annotations

import typer

from claw.commands._base import (
    confirm_or_refuse,
    info,
    print_json,
    print_table,
    state,
    sub_app,
)

app = sub_app("Agents: list, add, remove.")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List agents: model, dm_scope, workspace, and how many bindings route to each."""
    from claw.routing.agents import list_agents

    st = state(ctx)
    agents = list_agents(st.home(), st.config())
    if as_json:
        print_json([a.to_dict() for a in agents])
        return
    rows = [("ID", "MODEL", "DM_SCOPE", "BINDINGS", "WORKSPACE")]
    rows += [(a.id, a.model, a.dm_scope, str(a.bindings), a.workspace) for a in agents]
    print_table(rows)


@app.command("add")
def add(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="ID", help="New agent id, e.g. work."),
    model: str = typer.Option(
        None, "--model", "-m", metavar="MODEL", help="Its model (default: model.default)."
    ),
    dm_scope: str = typer.Option(
        "main",
        "--dm-scope",
        metavar="SCOPE",
        help="main, per-peer, per-channel-peer or per-account-channel-peer.",
    ),
) -> None:
    """Add an agent: write [agents.ID] and create its workspace."""
    from claw.routing.agents import add_agent

    st = state(ctx)
    workspace = add_agent(st.home(), st.config(), agent_id, model=model, dm_scope=dm_scope)
    typer.echo(f"added agent {agent_id} (workspace {workspace})")
    info(f'route messages to it with [[bindings]] agent = "{agent_id}" in config.toml')


@app.command("remove")
def remove(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="ID", help="The agent to remove."),
    remove_bindings: bool = typer.Option(
        False, "--remove-bindings", help="Also remove the bindings that route to it."
    ),
    delete_workspace: bool = typer.Option(
        False, "--delete-workspace", help="Also delete its workspace (kept by default)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove an agent from config.toml (never main). Its workspace is kept unless told."""
    from claw.errors import NotFound
    from claw.routing.agents import remove_agent
    from claw.routing.bindings import bindings_for
    from claw.state.names import validate_agent_id
    from claw.state.workspace import workspace_dir

    st = state(ctx)
    home, config = st.home(), st.config()
    validate_agent_id(agent_id)
    if agent_id != "main" and agent_id not in (config.file_data.get("agents") or {}):
        raise NotFound(f"no agent named {agent_id!r}")
    what = f"Remove agent {agent_id}"
    used = bindings_for(config, agent_id)
    if used and remove_bindings:
        what += f" and its {len(used)} binding(s)"
    if delete_workspace:
        what += f", deleting {workspace_dir(home, agent_id)}"
    if agent_id != "main" and not (used and not remove_bindings):
        confirm_or_refuse(what + "?", yes)
    dropped = remove_agent(
        home, agent_id, drop_bindings=remove_bindings, delete_workspace=delete_workspace
    )
    typer.echo(f"removed agent {agent_id}")
    if dropped:
        info("removed binding " + ", ".join(f"#{i + 1}" for i in dropped))
    if not delete_workspace:
        info(f"kept its workspace {workspace_dir(home, agent_id)}")
