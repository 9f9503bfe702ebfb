"""What callers use: recall (sync, then search) and status, for the CLI, the tools, the
gateway and auto-recall alike, so they all see the same index the same way."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from claw.errors import ClawError, UsageError
from claw.memory.index import unreadable
from claw.memory.search import Recall, search
from claw.memory.settings import MemorySettings
from claw.state.config import Config
from claw.state.home import Home

log = logging.getLogger(__name__)
QUICK_LOCK_WAIT_S = 2.0  # a turn does not wait for a long rebuild: it searches what is there


def require_enabled(settings: MemorySettings) -> None:
    if not settings.enabled:
        raise ClawError(
            "memory is turned off", hint="turn it on with `claw config set memory.enabled true`"
        )


def recall(
    home: Home,
    config: Config,
    query: str,
    *,
    agent: str | None = None,
    k: int | None = None,
    sync: str = "notes",
    exclude: frozenset[str] = frozenset(),
    allow: Callable[[str, str], bool] | None = None,
    min_similarity: float = 0.0,
) -> Recall:
    """Search memory after bringing the index up to date.

    sync: "all" (notes and transcripts: the CLI, on demand), "agent" (the agent's notes
    and transcripts, giving up quickly if the index is busy: the memory_search tool, as
    no daemon may be following the transcripts), "notes" (the agent's notes only, cheap:
    what auto-recall uses before every turn; transcripts are followed by the daemon's
    watcher and by CLI commands) or "none".
    """
    from claw.memory.sync import IndexBusy, Indexer
    from claw.tasks.when import user_zone

    if not query.strip():
        raise UsageError("the query is empty")
    settings = MemorySettings.from_config(config)
    require_enabled(settings)
    indexer = Indexer(
        home, config, settings=settings, lock_wait=-1 if sync == "all" else QUICK_LOCK_WAIT_S
    )
    zone = user_zone(config.get("user.timezone"))

    def sync_then_search() -> Recall:
        if sync != "none":
            try:
                indexer.sync(agent, transcripts=None if sync in ("all", "agent") else False)
            except IndexBusy:
                log.info("memory index busy: searching it as it is")
        return search(
            home,
            config,
            query,
            agent=agent,
            k=k,
            settings=settings,
            embedder=indexer.embedder,
            exclude=exclude,
            allow=allow,
            min_similarity=min_similarity,
            zone=zone,
        )

    try:
        return sync_then_search()
    except sqlite3.DatabaseError as e:
        if not unreadable(e):
            raise
        indexer.discard_unreadable(e)
    if sync == "none":
        sync = "notes"  # an empty index answers nothing: refill it from the notes first
    return sync_then_search()


def status(home: Home, config: Config) -> dict[str, Any]:
    """What `claw memory status` shows: mode, model, counts, size on disk."""
    from claw.memory.embed import resolve
    from claw.memory.index import index_path

    settings = MemorySettings.from_config(config)
    emb = resolve(config, settings.embedding_model) if settings.enabled else None
    path = index_path(home)
    out: dict[str, Any] = {
        "enabled": settings.enabled,
        "mode": emb.mode if emb else "off",
        "embedding_model": settings.embedding_model or "none",
        "embedding": emb.reason if emb else "memory is turned off",
        "index": str(path),
        "exists": path.exists(),
        "size_bytes": 0,
        "sources": {"long_term": 0, "daily": 0, "session": 0},
        "chunks": 0,
        "vectors": 0,
        "vectors_model": "",
        "transcripts": settings.transcripts,
    }
    if path.exists():
        out["size_bytes"] = sum(
            p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()
        )
        out.update(_index_stats(home, config, settings))
    return out


def _index_stats(home: Home, config: Config, settings: MemorySettings) -> dict[str, Any]:
    """Counts from the index; one SQLite finds corrupt is rebuilt from the notes first."""
    from claw.memory.index import MemoryIndex
    from claw.memory.sync import Indexer

    def stats() -> dict[str, Any]:
        with MemoryIndex(home) as idx:
            return {**idx.stats(), "vectors_model": idx.meta("embedding_model")}

    try:
        return stats()
    except sqlite3.DatabaseError as e:
        if not unreadable(e):
            raise
        indexer = Indexer(home, config, settings=settings)
        indexer.discard_unreadable(e)
        indexer.sync(transcripts=False)
    return stats()
