"""Shared pieces of the supervisor tests: a configured home, a scripted model that
answers by role (planner, subagent, final answer, report-back, fast mode), and running a
supervised turn to its events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw.agent.events import AgentEnd, Event
from claw.agent.turn import TurnRequest
from claw.state import config as cfg
from claw.state.config import Config
from claw.state.home import Home
from claw.state.sessions import SessionStore
from claw.supervisor.dispatch import supervise

LABELLED = Path(__file__).with_name("intents_labelled.tsv")


def labelled() -> list[tuple[str, str]]:
    """(mode, message) pairs of the labelled set."""
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            mode, text = line.split("\t", 1)
            rows.append((mode, text.replace("\\n", "\n")))
    return rows


def configure(home: Home, **settings: str) -> Config:
    """Set config keys (dotted names with '__' for '.') and return the loaded config."""
    for key, value in settings.items():
        cfg.set_value(home.config_file, key.replace("__", "."), value)
    return cfg.load(home.config_file)


def system_of(messages: list[dict[str, Any]]) -> str:
    return str(messages[0]["content"]) if messages and messages[0]["role"] == "system" else ""


def last_user(messages: list[dict[str, Any]]) -> str:
    return next(str(m["content"]) for m in reversed(messages) if m["role"] == "user")


class Roles:
    """A scripted model's reply function that answers by who is asking.

    `plan` is the planner's list of sub-tasks; `sub` maps a sub-task to its answer (a
    float: sleep that long first, then answer "late"); concurrency of subagent calls is
    measured in `peak`.
    """

    def __init__(
        self,
        *,
        plan: list[str] | None = None,
        sub: dict[str, Any] | None = None,
        final: str = "All parts done.",
        fast: Any = "Hello!",
        single: Any = "Done in single mode.",
        report: str = "Your subagent reported back.",
        sub_delay: float = 0.0,
    ) -> None:
        self.plan, self.sub, self.final = plan or [], sub or {}, final
        self.fast, self.single, self.report = fast, single, report
        self.sub_delay = sub_delay
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.seen: list[str] = []  # which role each call was

    def __call__(self, messages: list[dict[str, Any]]) -> Any:
        system, user = system_of(messages), last_user(messages)
        if "supervisor of several assistants" in system:
            return self._note("plan", json.dumps(self.plan))
        if "You are a subagent" in system:
            return self._subagent(user)
        if "subagents have worked on" in system:
            return self._note("final", self.final)
        if user.startswith("[subagent "):
            return self._note("report", self.report)
        if "Fast mode:" in system:
            return self._note("fast", self._value(self.fast, messages))
        return self._note("single", self._value(self.single, messages))

    def _value(self, reply: Any, messages: list[dict[str, Any]]) -> Any:
        return reply(messages) if callable(reply) else reply

    def _note(self, role: str, reply: Any) -> Any:
        with self.lock:
            self.seen.append(role)
        return reply

    def _subagent(self, task: str) -> Any:
        with self.lock:
            self.seen.append("sub")
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            answer = self.sub.get(task, f"result of {task}")
            if isinstance(answer, float):
                time.sleep(answer)
                return "late"
            time.sleep(self.sub_delay)
            return answer
        finally:
            with self.lock:
                self.active -= 1


def replies(fn: Callable[[list[dict[str, Any]]], Any], n: int = 40) -> list[Any]:
    return [fn] * n


def supervised(
    home: Home, config: Config, text: str, **req: Any
) -> tuple[list[Event], AgentEnd | None]:
    """Run one supervised turn to its end; its events and the AgentEnd."""
    store = SessionStore(home)
    events: list[Event] = []
    try:
        for event in supervise(home, config, store, TurnRequest(text, **req)):
            events.append(event)
    finally:
        store.close()
    end = next((e for e in events if isinstance(e, AgentEnd)), None)
    return events, end


def messages_of(home: Home, key: str = "agent:main:main") -> list[dict[str, Any]]:
    store = SessionStore(home)
    try:
        return store.read(key).messages
    finally:
        store.close()
