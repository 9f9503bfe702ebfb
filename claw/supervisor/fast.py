"""Fast mode: one short model call, no tools, a short history window.

For small talk, acknowledgements and simple factual questions. The model is
`[supervisor].fast_model` (default: the agent's own), the history the last
`supervisor.fast_history` text messages. If the model asks for a tool, answers
ESCALATE, says it cannot answer, or fails, `Escalate` is raised before anything reached
the user or the transcript, and the supervisor runs the turn in single mode instead.
The first characters are held back until that is decided (HOLD_CHARS), so a user never
sees the start of an answer that is then replaced.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from claw.agent import completion, env, replies
from claw.agent.events import (
    AgentEnd,
    AgentStart,
    Event,
    MessageDelta,
    MessageEnd,
    MessageStart,
    TurnResult,
)
from claw.agent.lanes import TurnSignal, stopped_waiting
from claw.agent.pump import Stopped
from claw.agent.reasoning import ReasoningSplitter
from claw.agent.rerun import resumable_user
from claw.agent.selection import candidates_for, check_agent, guard_context
from claw.agent.session_lane import turn_lanes
from claw.errors import ModelError, TimedOut
from claw.state import transcript
from claw.state.config import Config
from claw.state.home import Home
from claw.state.names import validate_session_key
from claw.state.session_keys import main_key
from claw.state.sessions import SessionStore
from claw.supervisor.history import text_window
from claw.supervisor.modelcall import failover, no_compaction, pieces

ESCALATE = "ESCALATE"
HOLD_CHARS = 80
FAST_PROMPT = (
    "Fast mode: answer briefly and directly from what you know; you have no tools here. "
    "If the message needs a tool, a file, a reminder, the current time or date, fresh "
    f"information or a long piece of work, reply with exactly {ESCALATE} and nothing else."
)
_CANNOT = re.compile(
    r"^\W*(?:escalate\b|i\s+(?:can(?:no|')t|am\s+unable|'m\s+unable|am\s+not\s+able|"
    r"don'?t\s+have\s+(?:access|the\s+ability))|as\s+an\s+ai\b|sorry,\s+i\s+can(?:no|')t|"
    r"我(?:无法|不能|没办法|没有办法)|抱歉，?我(?:无法|不能)|无法回答)",
    re.IGNORECASE,
)


class Escalate(Exception):
    """Fast mode gave up before showing or storing anything; run single mode."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def gives_up(text: str) -> bool:
    return bool(_CANNOT.match(text))


def run_fast(
    home: Home, config: Config, store: SessionStore, req: Any, route: dict[str, Any]
) -> Iterator[Event]:
    agent_id = check_agent(config, req.agent_id)
    key = validate_session_key(req.session_key or main_key(agent_id))
    own = config.get("supervisor.fast_model")
    model = req.model or own
    candidates = candidates_for(config, agent_id, model)
    guard_context(candidates[0])
    timeout = float(req.timeout_s or config.get("model.timeout_s"))
    signal = TurnSignal(timeout, req.abort)
    with ExitStack() as held:
        try:  # the waits for the lanes end as soon as the turn is aborted
            held.enter_context(turn_lanes(store, key, req.lane, config, signal))
        except Stopped:
            yield stopped_waiting(key, candidates[0].name, signal, timeout)
            return
        fast = _Fast(home, config, store, req, agent_id, key, candidates, signal, route)
        # A failure of the agent's own model chain would only repeat in single mode.
        fast.escalate_on_failure = (
            bool(own) and not req.model and own != config.agent_model(agent_id)
        )
        try:
            yield from fast.run()
        except (completion.Aborted, KeyboardInterrupt, GeneratorExit) as e:
            end = fast.interrupted("timeout" if signal.timed_out else "interrupted")
            if not isinstance(e, completion.Aborted):
                raise
            if signal.timed_out:
                raise TimedOut(
                    f"the turn took longer than {timeout:g}s and was stopped",
                    hint="raise model.timeout_s or pass --timeout",
                ) from None
            yield end


class _Fast:
    def __init__(
        self,
        home: Home,
        config: Config,
        store: SessionStore,
        req: Any,
        agent_id: str,
        key: str,
        candidates: list[Any],
        signal: TurnSignal,
        route: dict[str, Any],
    ) -> None:
        self.config, self.store, self.req, self.route = config, store, req, route
        self.agent_id, self.key, self.signal = agent_id, key, signal
        self.info = candidates[0]
        self.started = time.monotonic()
        where = {"channel": req.channel, "abort": signal, "with_tools": False}
        self.env = env.build(home, config, agent_id, key, self.info, **where)
        self.failover = failover(home, config, candidates, signal)
        earlier = resumable_user(store, key, req.inbound_id)  # a re-run after a crash
        self.reused = earlier is not None
        self.user = earlier or transcript.message("user", req.text, inbound_id=req.inbound_id)
        self.shown = False
        self.done = False  # the reply is stored: a later close changes nothing
        self.escalate_on_failure = False
        self.partial = ""  # the text so far, for an interruption

    def run(self) -> Iterator[Event]:
        new_session = not self.store.exists(self.key)
        window = int(self.config.get("supervisor.fast_history", 6))
        history = text_window(self.store, self.key, window)
        if self.reused and history and history[-1]["role"] == "user":
            history = history[:-1]  # the question itself, asked below
        hooks = self.env.hooks  # before_agent_start may add context (memory, …) as in single
        seen = [*history, {"role": "user", "content": self.req.text}]
        extra = hooks.before_agent_start(self.env.hook_ctx, seen) if hooks.names() else []
        system = env.system_prompt(
            self.config, self.env, self.info, self.agent_id, self.req.channel, [*extra, FAST_PROMPT]
        )
        messages = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": self.req.text},
        ]
        limit = min(
            int(self.config.get("model.max_tokens")),
            int(self.config.get("supervisor.fast_max_tokens", 512)),
        )
        opts = completion.CallOptions(
            max_tokens=limit, timeout=self.signal.remaining(), live=self.req.live
        )
        splitter, held, text, reasoning = ReasoningSplitter(), [], "", ""
        stream = self.failover.call(lambda info: messages, opts, no_compaction)
        done: list[Any] = []
        try:
            for kind, delta in pieces(stream, done):
                for seg in splitter.feed(delta) if kind == "text" else []:
                    if seg.kind == "reasoning":
                        reasoning += seg.text
                        continue
                    text += seg.text
                    self.partial = text
                    held.append(seg.text)
                    if not self.shown and len(text) >= HOLD_CHARS:
                        if gives_up(text):
                            raise Escalate("the fast model said it cannot answer")
                        yield from self._show(held)
                        held = []
                    elif self.shown:
                        yield from self._show(held)
                        held = []
        except ModelError as e:
            if not self.shown and self.escalate_on_failure:
                raise Escalate(f"the fast model failed: {e.reason}") from None
            self._store_end("error", self.partial, error=e.message, reason=e.reason)
            raise
        answer = done[0]
        for seg in splitter.flush():
            if seg.kind == "reasoning":
                reasoning += seg.text
            else:
                text += seg.text
                held.append(seg.text)
        if not self.shown:
            if answer.completion.tool_calls:
                raise Escalate("the fast model asked for a tool")
            if gives_up(text):
                raise Escalate("the fast model said it cannot answer")
        yield from self._show(held)
        self.info = answer.model
        yield MessageEnd(text, 0)
        yield self._finish(text, reasoning, answer.completion.usage, new_session)

    def interrupted(self, status: str) -> AgentEnd:
        """Stopped: what was shown is kept as interrupted (as the single-mode loop does;
        nothing shown: a failed exchange, left out of what the model sees next)."""
        text = self.partial  # shown or still held back: the single-mode loop keeps it too
        if text:
            self._store_end("interrupted", text)
        else:
            self._store_end("error", "", error=f"{status} before any reply", reason=status)
        ms = int((time.monotonic() - self.started) * 1000)
        result = TurnResult(self.key, "", text, self.info.name, {}, ms, status, mode="fast")
        return AgentEnd(result, status)

    def _store_end(self, status: str, text: str, **extra: Any) -> None:
        if self.done:
            return
        record = transcript.message(
            "assistant",
            text,
            model=self.info.name,
            status=status,
            reply_to=self.user["id"],
            **extra,
            **self.route,
        )
        self.store.append(self.key, [*self._new_user(), record], agent=self.agent_id)
        self.done = True

    def _new_user(self) -> list[dict[str, Any]]:
        return [] if self.reused else [self.user]

    def _show(self, pieces: list[str]) -> Iterator[Event]:
        if not self.shown:
            self.shown = True
            uid = self.user["id"]
            yield AgentStart(self.key, self.agent_id, self.info.name, uid, self.req.lane)
            yield MessageStart(self.failover.current.name)
        for p in pieces:
            if p:
                yield MessageDelta(p)

    def _finish(
        self, text: str, reasoning: str, usage: dict[str, int], new_session: bool
    ) -> AgentEnd:
        status = "silent" if replies.is_no_reply(text) else "ok" if text.strip() else "error"
        ms = int((time.monotonic() - self.started) * 1000)
        empty = status == "error"
        record = transcript.message(
            "assistant",
            text,
            model=self.info.name,
            usage=usage or None,
            duration_ms=ms,
            status=status,
            reply_to=self.user["id"],
            reasoning=reasoning or None,
            error=replies.EMPTY_REPLY_TEXT if empty else None,
            reason="empty" if empty else None,
            **self.route,
        )
        self.store.append(self.key, [*self._new_user(), record], agent=self.agent_id)
        self.done = True
        if new_session:
            self.env.hooks.session_start(self.env.hook_ctx)
        result = TurnResult(
            session_key=self.key,
            message_id=record["id"],
            text={"silent": "", "error": replies.EMPTY_REPLY_TEXT}.get(status, text),
            model=self.info.name,
            usage=dict(usage),
            duration_ms=ms,
            status=status,
            reasoning=reasoning,
            mode="fast",
        )
        self.env.hooks.agent_end(self.env.hook_ctx, result.to_dict)
        return AgentEnd(result, status)
