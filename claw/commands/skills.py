"""`claw skills`: list an agent's skills and show one, as the model would see them."""

from __future__ import annotations

import typer

from claw.commands._base import info, print_json, state, sub_app
from claw.commands.tty import echo
from claw.errors import NotFound
from claw.state.names import validate_agent_id, validate_simple_name
from claw.state.session_keys import DEFAULT_AGENT
from claw.state.workspace import workspace_dir

app = sub_app("List and read the agent's skills.")

AGENT_OPTION = typer.Option(DEFAULT_AGENT, "--agent", "-a", metavar="ID", help="Whose skills.")


@app.command("list")
def list_(
    ctx: typer.Context,
    agent: str = AGENT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List skills: name, description and file. Skipped skills are reported on stderr."""
    from claw.agent.skills import SKILL_FILE, load_skills, skills_dir  # yaml: only when used

    workspace = workspace_dir(state(ctx).home(), validate_agent_id(agent))
    found = load_skills(workspace)
    for warning in found.warnings:
        info(f"warning: {warning}")
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "description": s.description,
                    "path": str(s.path),
                    "body_chars": s.body_chars,
                    "metadata": s.metadata,
                    "extra": s.extra,
                }
                for s in found.skills
            ]
        )
        return
    if not found.skills:
        info(f"no skills yet (add one as {skills_dir(workspace)}/<name>/{SKILL_FILE})")
        return
    width = max(len(s.name) for s in found.skills)
    for s in found.skills:
        echo(f"{s.name:<{width}}  {s.description}")
        echo(f"{'':<{width}}  {s.path}")


@app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The skill's name (see `claw skills list`)."),
    agent: str = AGENT_OPTION,
) -> None:
    """Print a skill's instructions (the body of its SKILL.md, without the front matter)."""
    from claw.agent.skills import read_skill

    validate_simple_name(name, "skill name")
    workspace = workspace_dir(state(ctx).home(), validate_agent_id(agent))
    try:
        body = read_skill(workspace, name)
    except NotFound as e:
        raise NotFound(e.message, hint="`claw skills list` shows them with their files") from None
    echo(body.rstrip("\n"))  # a skill may come from anywhere: shown, not obeyed
