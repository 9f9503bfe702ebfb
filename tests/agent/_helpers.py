"""Helpers shared by the agent tests: run a whole turn, read a session's records."""

from __future__ import annotations

from typing import Any

from claw.agent.turn import TurnRequest, run_turn
from claw.state import config as cfg
from claw.state.home import Home
from claw.state.jsonl import read_all
from claw.state.sessions import SessionStore

MAIN = "agent:main:main"


def turn(home: Home, text: str, **kw: Any) -> list[Any]:
    """Every event of one turn (config read from the home, as the CLI does)."""
    store = SessionStore(home)
    try:
        return list(run_turn(home, cfg.load(home.config_file), store, TurnRequest(text, **kw)))
    finally:
        store.close()


def records(home: Home, key: str = MAIN) -> list[dict[str, Any]]:
    store = SessionStore(home)
    try:
        return read_all(store.path(key)).records
    finally:
        store.close()


def msgs(home: Home, key: str = MAIN) -> list[dict[str, Any]]:
    return [r for r in records(home, key) if r.get("type") == "message"]
