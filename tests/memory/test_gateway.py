"""memory.recall on the real gateway, and the daemon's watcher keeping the index current."""

from __future__ import annotations

import trio

from claw.state import transcript
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests.gateway.live import call, run, running, ws_client
from tests.memory import labelled

KEY = "agent:main:direct:peer42"


def test_memory_recall_and_the_watcher(home: Home) -> None:
    labelled.write(home)

    async def recall_until(ws, query: str, want, timeout: float = 10) -> dict:
        with trio.fail_after(timeout):
            while True:
                r = await call(ws, "memory.recall", {"query": query, "k": 3, "agent": "main"})
                if want(r["result"]):
                    return r["result"]
                await trio.sleep(0.05)

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            out = await recall_until(ws, "guest wifi password", lambda res: res["results"])
            assert out["mode"] in ("hybrid", "keyword-only") and out["agent"] == "main"
            best = out["results"][0]
            assert best["source"] == "agents/main/memory/2026-10-20.md"
            assert best["date"] == "2026-10-20" and "tangerine-otter-42" in best["snippet"]
            assert len(out["results"]) <= 3

            # A conversation written while the daemon runs is indexed by its watcher
            # (recall itself only refreshes notes).
            store = SessionStore(home, fsync=False)
            store.append(KEY, [transcript.message("user", "The garage door code is 7391")])
            mine = labelled.session_source("peer42")

            def has_garage(res: dict) -> bool:
                return any(x["source"] == mine for x in res["results"])

            await recall_until(ws, "garage door code", has_garage)
            store.append(KEY, [transcript.message("assistant", "Noted: zebra crossing repaint")])
            await recall_until(ws, "zebra crossing repaint", has_garage)

            r = await call(ws, "sessions.delete", {"session_key": KEY})
            assert r["result"]["deleted"] is True
            out = await recall_until(ws, "garage door code", lambda res: not has_garage(res))

            r = await call(ws, "memory.recall", {"query": "  "})
            assert r["error"]["code"] == -32602 and r["error"]["data"]["param"] == "query"
            r = await call(ws, "memory.recall", {"query": "x", "k": 0})
            assert r["error"]["code"] == -32602 and r["error"]["data"]["param"] == "k"
            r = await call(ws, "memory.recall", {"query": "x", "agent": "ghost"})
            assert r["error"]["code"] == -32004

    run(main, timeout=60)
