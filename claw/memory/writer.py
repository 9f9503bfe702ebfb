"""The daemon's memory index writer: a child process that runs the watcher's index rounds.

Indexing is CPU work in Python (chunking, embedding, SQLite). In a thread of the daemon it
took turns on the GIL with every chat and the event loop: at 100 chats a second it added
~1.4 ms of the daemon's CPU to each (8.8 -> 7.3 ms) and most of the p99 latency's excess
over memory off. In its own process it runs on another core, and a crash or a stuck
embedder cannot take the daemon with it.

Protocol, one JSON object per line each way (stdin to stdout), until stdin ends:

    {"config": {...}, "full": true}             catch up with every source
    {"config": {...}, "paths": ["/abs/path"]}   update these sources (changed or gone)
    -> {"ok": true, "updated": 2, "removed": 0} | {"ok": false, "error": "..."}

`config` is the daemon's effective configuration (`Config.data`), sent with each round
so a reload (SIGHUP) reaches the writer without a restart. Writers of the index take
`locks/memory.lock`, so this process and `claw memory` commands never write at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from claw.state.config import Config
from claw.state.home import Home


def handle(home: Home, request: dict[str, Any]) -> dict[str, Any]:
    """One index round; errors become the reply (the next round may well succeed)."""
    from claw.memory.sync import Indexer

    try:
        config = Config(data=request["config"])
        indexer = Indexer(home, config, lock_wait=-1)  # wait: the round must happen
        if request.get("full"):
            report = indexer.sync()
        else:
            report = indexer.sync_paths(Path(p) for p in request["paths"])
    except Exception as e:  # a broken file, a failing embedder, a malformed request
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": True, "updated": len(report.updated), "removed": len(report.removed)}


def serve(home: Home, requests: Iterable[str], replies: IO[str]) -> None:
    for line in requests:
        try:
            request = json.loads(line)
        except json.JSONDecodeError as e:
            reply = {"ok": False, "error": f"not JSON: {e}"}
        else:
            ok = isinstance(request, dict)
            reply = handle(home, request) if ok else {"ok": False, "error": "not an object"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m claw.memory.writer STATE_DIR")
    serve(Home(Path(argv[0])), sys.stdin, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
