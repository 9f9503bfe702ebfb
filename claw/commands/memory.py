"""`claw memory`: search, index, add and status of the agents' memory."""

from __future__ import annotations

import sys
from typing import Any

import typer

from claw.commands._base import info, print_json, state, sub_app
from claw.commands.tty import echo

app = sub_app("Memory: search notes and conversations, add notes, keep the index.")

_AGENT_ALL = "Only this agent's memory (default: every agent's)."


def _check(ctx: typer.Context) -> tuple[Any, Any]:
    from claw.memory.service import require_enabled
    from claw.memory.settings import MemorySettings

    st = state(ctx)
    home, config = st.home(), st.config()
    require_enabled(MemorySettings.from_config(config))
    return home, config


@app.command("search")
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., metavar="QUERY", help="What to look for."),
    agent: str = typer.Option(None, "--agent", "-a", metavar="ID", help=_AGENT_ALL),
    k: int = typer.Option(None, "-k", min=1, max=100, help="How many results (memory.top_k)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search long-term facts, daily notes and conversations (updates the index first)."""
    from claw.agent.selection import check_agent
    from claw.memory.service import recall

    home, config = _check(ctx)
    found = recall(
        home,
        config,
        query,
        agent=check_agent(config, agent) if agent else None,
        k=k,
        sync="all",
    )
    if as_json:
        print_json(found.to_dict())
        return
    if found.mode != "hybrid":
        info(f"keyword-only search: {found.reason}")
    if not found.results:
        info("no memories match")
        return
    for n, r in enumerate(found.results, 1):
        who = f"  [{r.agent}]" if not agent else ""
        role = f"  {r.role}" if r.role else ""
        echo(f"{n}. {r.where}  {r.date or 'long-term'}{role}  score {r.score:.3f}{who}")
        echo(f"   {r.snippet}")  # remembered words: a channel's, a model's


@app.command("index")
def index(
    ctx: typer.Context,
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the index and build it anew."),
    agent: str = typer.Option(None, "--agent", "-a", metavar="ID", help="Only this agent."),
    as_json: bool = typer.Option(False, "--json", help="Print what changed as JSON."),
) -> None:
    """Bring the index up to date now (only what changed is read; the daemon does this
    on its own as files change). Shows a progress bar on a terminal."""
    from claw.agent.selection import check_agent
    from claw.memory.sync import Indexer

    if rebuild and agent:
        from claw.errors import UsageError

        raise UsageError("--rebuild rebuilds every agent's index; drop --agent")
    home, config = _check(ctx)
    indexer = Indexer(home, config, lock_wait=-1)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = typer.progressbar(length=total, label="indexing", file=sys.stderr)
            bar.__enter__()
        bar.update(1)

    show = sys.stderr.isatty() and not as_json
    try:
        report = indexer.sync(
            check_agent(config, agent) if agent else None,
            rebuild=rebuild,
            progress=progress if show else None,
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        print_json({**report.to_dict(), "mode": indexer.embedder.mode})
        return
    typer.echo(
        f"{report.sources} sources: {len(report.updated)} updated, {len(report.removed)} "
        f"removed; {report.chunks_added} chunks added, {report.chunks_removed} removed, "
        f"{report.embedded} embedded in {report.seconds:.2f}s"
    )
    if indexer.embedder.mode != "hybrid":
        info(f"keyword-only: {indexer.embedder.reason}")


@app.command("add")
def add(
    ctx: typer.Context,
    text: str = typer.Argument(..., metavar="TEXT", help="What to remember."),
    long_term: bool = typer.Option(
        False, "--long-term", help="A lasting fact: MEMORY.md instead of today's note."
    ),
    agent: str = typer.Option("main", "--agent", "-a", metavar="ID", help="Whose memory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Append a note to today's memory/YYYY-MM-DD.md (or MEMORY.md) and index it."""
    from claw.agent.selection import check_agent
    from claw.memory.notes import save

    home, config = _check(ctx)
    saved = save(home, config, check_agent(config, agent), text, long_term=long_term)
    if as_json:
        print_json(saved.to_dict())
        return
    typer.echo(f"saved to {saved.source}")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the search mode (hybrid or keyword-only, and why), what is indexed, and the
    index's size on disk."""
    from claw.memory.service import status as memory_status

    st = state(ctx)
    out = memory_status(st.home(), st.config())
    if as_json:
        print_json(out)
        return
    src = out["sources"]
    rows = [
        ("mode", f"{out['mode']} ({out['embedding']})"),
        ("model", out["embedding_model"]),
        ("index", f"{out['index']} ({_size(out['size_bytes'])})"),
        (
            "sources",
            f"{src['long_term']} MEMORY.md, {src['daily']} daily notes, "
            f"{src['session']} transcripts" + ("" if out["transcripts"] else " (off)"),
        ),
        ("chunks", f"{out['chunks']} ({out['vectors']} with vectors)"),
    ]
    for name, value in rows:
        typer.echo(f"{name + ':':<9}{value}")
    if not out["exists"]:
        info("no index yet: `claw memory index` builds it (searches do too)")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
