"""The memory index writer process, and the daemon's watcher starting it again when it dies."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from claw.memory.service import recall
from claw.memory.watcher import Writer, WriterGone
from claw.state import transcript
from claw.state.config import load
from claw.state.home import Home
from claw.state.sessions import SessionStore
from tests.gateway.live import call, run, running, ws_client

KEY = "agent:main:direct:peer7"


def _hits(home: Home, query: str) -> list[str]:
    found = recall(home, load(home.config_file), query, agent="main", sync="none")
    return [r.source for r in found.results]


def test_writer_protocol(home: Home) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw.memory.writer", str(home.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    config = load(home.config_file).data

    def ask(line: str) -> dict:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        assert ask(json.dumps({"config": config, "full": True})) == {
            "ok": True,
            "updated": 0,
            "removed": 0,
        }
        store = SessionStore(home, fsync=False)
        store.append(KEY, [transcript.message("user", "the boat is called Marigold")])
        reply = ask(json.dumps({"config": config, "paths": [str(store.path(KEY))]}))
        assert reply == {"ok": True, "updated": 1, "removed": 0}
        assert any("peer7" in s for s in _hits(home, "boat Marigold"))
        # Bad requests get an error reply; the process goes on.
        assert ask("{nope")["ok"] is False
        assert ask("[1]") == {"ok": False, "error": "not an object"}
        assert ask(json.dumps({"paths": []}))["error"].startswith("KeyError")
        store.path(KEY).unlink()
        reply = ask(json.dumps({"config": config, "paths": [str(store.path(KEY))]}))
        assert reply == {"ok": True, "updated": 0, "removed": 1}
        proc.stdin.close()  # end of input: it exits
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_writer_is_started_again_after_it_dies(home: Home, tmp_path: Path) -> None:
    # A stand-in writer that exits on its first request, then (second process) answers.
    script = tmp_path / "flaky.py"
    script.write_text(
        "import pathlib, sys\n"
        f"mark = pathlib.Path({str(tmp_path / 'started')!r})\n"
        "first = not mark.exists()\n"
        "mark.touch()\n"
        "for line in sys.stdin:\n"
        "    if first:\n"
        "        sys.exit('boom: the first writer gives up')\n"
        '    print(\'{"ok": true, "updated": 1, "removed": 0}\', flush=True)\n'
    )

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            writer = Writer(home, nursery, command=[sys.executable, str(script)])
            try:
                await writer.run({"paths": []})
                raise AssertionError("the first writer should have died")
            except WriterGone as e:
                assert "status 1" in str(e)
            assert await writer.run({"paths": []}) == {"ok": True, "updated": 1, "removed": 0}
            nursery.cancel_scope.cancel()  # stops the running writer too

    logger = logging.getLogger("claw.memory")
    logger.addHandler(handler)
    try:
        run(main, timeout=60)
    finally:
        logger.removeHandler(handler)
    # What the writer printed on stderr reaches the daemon's log (and so `logs/`).
    assert "memory writer: boom: the first writer gives up" in logged


def _writer_pids(home: Home) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"claw.memory.writer" in cmd and str(home.root).encode() in cmd:
            pids.append(int(entry.name))
    return pids


def test_the_daemon_indexes_through_its_writer_and_restarts_it(home: Home) -> None:
    store = SessionStore(home, fsync=False)

    async def recall_until(ws, query: str) -> None:
        with trio.fail_after(20):
            while True:
                r = await call(ws, "memory.recall", {"query": query, "k": 3, "agent": "main"})
                if any("peer7" in x["source"] for x in r["result"]["results"]):
                    return
                await trio.sleep(0.05)

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            store.append(KEY, [transcript.message("user", "the boat is called Marigold")])
            await recall_until(ws, "boat Marigold")
            (pid,) = _writer_pids(home)
            os.kill(pid, signal.SIGKILL)
            store.append(KEY, [transcript.message("user", "the dog is called Pepper")])
            await recall_until(ws, "dog Pepper")  # a new writer indexed it
            assert _writer_pids(home) not in ([], [pid])
        with trio.fail_after(10):  # the daemon's end stops its writer
            while _writer_pids(home):
                await trio.sleep(0.05)

    run(main, timeout=90)
