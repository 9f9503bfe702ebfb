"""`claw bindings`: the `[[bindings]]` that decide which agent answers whom."""

from __future__ import annotations

import typer

from claw.commands._base import info, print_json, state, sub_app

app = sub_app("Message routing: which agent answers whom.")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List bindings in file order (the first one wins within a tier)."""
    from claw.routing.bindings import parse_bindings
    from claw.routing.route import TIER_LABELS, binding_rank_tier

    bindings = parse_bindings(state(ctx).config())
    if as_json:
        print_json([{**b.to_dict(), "tier": binding_rank_tier(b)} for b in bindings])
        return
    if not bindings:
        info("no bindings: every message goes to the main agent")
        return
    for b in bindings:
        tier = TIER_LABELS[binding_rank_tier(b)]
        typer.echo(f"#{b.number}  {b.agent:<12} {tier:<12} {b.describe()}")
