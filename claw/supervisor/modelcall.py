"""A whole, unstreamed model reply through the failover chain (auth profiles, fallbacks):
what the supervisor's own calls (classification, planning) need, nothing more."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from claw.state.config import Config
from claw.state.home import Home


@dataclass
class Reply:
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)


def failover(home: Home, config: Config, candidates: list[Any], abort: Any) -> Any:
    """The failover chain for the supervisor's own calls (no reasoning level)."""
    from claw.agent.failover import Failover
    from claw.state.cooldowns import CooldownStore

    budget = int(config.get("model.retry_budget"))
    return Failover(
        config, CooldownStore(home), candidates, thinking="off", budget=budget, abort=abort
    )


def pieces(stream: Generator[Any, None, Any], answer: list[Any]) -> Iterator[tuple[str, str]]:
    """The (kind, delta) pieces of a `Failover.call` stream, its Retry events dropped; the
    final Answer is appended to `answer`."""
    while True:
        try:
            item = next(stream)
        except StopIteration as stop:
            answer.append(stop.value)
            return
        if isinstance(item, tuple):
            yield item


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

    opts = CallOptions(max_tokens=max_tokens, timeout=timeout, live=False)
    stream = failover(home, config, candidates, abort).call(
        lambda info: messages, opts, no_compaction
    )
    done: list[Any] = []
    for _ in pieces(stream, done):
        pass
    return Reply(done[0].completion.text, done[0].model.name, dict(done[0].completion.usage))


def no_compaction(info: Any, opts: Any) -> Generator[Any, None, bool]:
    """These calls send a few short messages: nothing to compact."""
    return False
    yield  # a generator, as Failover expects
