"""A whole, unstreamed model reply through the failover chain (auth profiles, fallbacks):
what the supervisor's own calls (classification, planning) need, nothing more."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from claw.state.config import Config
from claw.state.home import Home


@dataclass
class Reply:
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


def ask(
    home: Home,
    config: Config,
    candidates: list[Any],
    messages: list[dict[str, Any]],
    *,
    max_tokens: int,
    timeout: float,
    abort: threading.Event | None = None,
) -> Reply:
    """Raises ModelError when no candidate answers, completion.Aborted on abort."""
    from claw.agent.completion import CallOptions
    from claw.agent.failover import Failover
    from claw.state.cooldowns import CooldownStore

    failover = Failover(
        config,
        CooldownStore(home),
        candidates,
        thinking="off",
        budget=int(config.get("model.retry_budget")),
        abort=abort,
    )
    opts = CallOptions(max_tokens=max_tokens, timeout=timeout, live=False)
    gen = failover.call(lambda info: messages, opts, _no_compaction)
    while True:
        try:
            next(gen)  # text pieces and Retry events: the whole reply is what counts
        except StopIteration as stop:
            answer = stop.value
            break
    return Reply(answer.completion.text, answer.model.name, dict(answer.completion.usage))


def _no_compaction(info: Any, opts: Any) -> Generator[Any, None, bool]:
    """These calls send a few short messages: nothing to compact."""
    return False
    yield  # a generator, as Failover expects
