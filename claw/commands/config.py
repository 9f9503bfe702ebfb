"""`claw config`: read and change config.toml with typed, validated values."""

from __future__ import annotations

import json

import typer

from claw.commands._base import print_json, state, sub_app
from claw.state import config as cfg
from claw.state import config_schema
from claw.state.config_secrets import is_secret, mask_value

app = sub_app("Read and change settings (config.toml).")


def _render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@app.command("get")
def get(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. model.default or agents.main.model."),
    as_json: bool = typer.Option(False, "--json", help="Print the value as JSON."),
) -> None:
    """Print the effective value of KEY (environment, else file, else default).

    Exits 1, printing nothing, when KEY has no value. A secret (a token, API key or
    signing secret) is printed only when KEY names it; getting a table masks the
    secrets in it as ********.
    """
    config_schema.lookup(key)
    conf = state(ctx).config()
    value = conf.get(key)
    if not is_secret(key):
        value = mask_value(key, value)
    if as_json:
        print_json(value)
    elif value is None:
        raise typer.Exit(1)  # like `git config --get`: unset prints nothing, exits 1
    elif isinstance(value, dict):
        for k, v in cfg.flatten(value, key + "."):
            typer.echo(f"{k} = {_render(v)}")
    else:
        typer.echo(_render(value))


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key, e.g. model.default."),
    value: str = typer.Argument(
        ..., help="Value; lists as a,b,c or JSON; durations as 30m, 2h; booleans true/false."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print {key, value} as JSON."),
) -> None:
    """Set KEY to VALUE in config.toml (validated against the key's type).

    A secret is not echoed back. Prefer the *_env keys (e.g. channels.telegram.token_env)
    to keep secrets out of the file.
    """
    from claw.gateway.hooks import refuse_gateway_token

    st = state(ctx)
    refuse_gateway_token(st.home(), key, value)
    stored = cfg.set_value(st.home().config_file, key, value)
    shown = mask_value(key, stored)
    if as_json:
        print_json({"key": key, "value": shown})
        return
    typer.echo(f"{key} = {_render(shown)}")


@app.command("unset")
def unset(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Dotted key."),
    as_json: bool = typer.Option(False, "--json", help="Print {key, removed} as JSON."),
) -> None:
    """Remove KEY from config.toml (it goes back to its default)."""
    removed = cfg.unset_value(state(ctx).home().config_file, key)
    if as_json:
        print_json({"key": key, "removed": removed})
        return
    typer.echo(f"unset {key}" if removed else f"{key} was not set in config.toml")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print [{key, value, source}] as JSON."),
) -> None:
    """List every effective setting and where it comes from (default, file, env).

    Secrets (tokens, API keys, signing secrets) are masked as ********; `claw config
    get KEY` prints one.
    """
    conf = state(ctx).config()
    rows = [(k, mask_value(k, v), conf.source(k)) for k, v in cfg.flatten(conf.data)]
    if as_json:
        print_json([{"key": k, "value": v, "source": s} for k, v, s in rows])
        return
    for k, v, s in rows:
        typer.echo(f"{k} = {_render(v)}  # {s}")


@app.command("path")
def path(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print {path} as JSON."),
) -> None:
    """Print the path of config.toml."""
    where = str(state(ctx).home().config_file)
    if as_json:
        print_json({"path": where})
        return
    typer.echo(where)
