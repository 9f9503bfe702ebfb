"""Plugins hear that a session ended however it was ended: `claw sessions clear/delete`
and `/new` in chat, or the gateway's chat.clear and sessions.delete."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claw.agent.hooks import clear_cache
from claw.state.config import set_value
from claw.state.home import Home
from tests.gateway.live import call, run, running, ws_client

PLUGIN = """
from claw.agent.hooks import hookimpl
ended = []

@hookimpl
def session_end(ctx):
    ended.append((ctx.agent_id, ctx.session_key))
"""


@pytest.fixture
def plugin(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    clear_cache()
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "endplug.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("endplug", None)
    importlib.invalidate_caches()
    set_value(home.config_file, "plugins", "endplug")
    set_value(home.config_file, "model.default", "echo")
    yield importlib.import_module("endplug")
    sys.modules.pop("endplug", None)
    clear_cache()


def test_chat_clear_and_sessions_delete_tell_plugins_the_session_ended(
    home: Home, plugin: Any
) -> None:
    async def main() -> None:
        async with running(home) as server, ws_client(server) as ws:
            for key in ("agent:main:one", "agent:main:two"):
                sent = await call(ws, "chat.send", {"text": "hi", "session_key": key})
                assert "result" in sent, sent
            assert (await call(ws, "chat.clear", {"session_key": "agent:main:one"}))["result"]
            deleted = await call(ws, "sessions.delete", {"session_key": "agent:main:two"})
            assert deleted["result"]["deleted"]

    run(main)
    assert plugin.ended == [("main", "agent:main:one"), ("main", "agent:main:two")]
