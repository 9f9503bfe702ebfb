"""One agent turn, whoever runs it: user text in, events out, transcript consistent.

`run_turn` yields the typed events of claw.agent.events. It takes the session lane (a
cross-process lock: turns on one session never interleave), then a global lane slot, and
runs the model ↔ tools loop with failover (claw.agent.failover). However the turn ends,
the transcript replays cleanly:
- success: user message, [assistant tool calls, tool results]*, assistant reply;
- failure: an assistant record with status "error" (replay leaves the failed exchange out);
- abort, Ctrl-C or timeout: partial text kept with status "interrupted", and every tool
  call left without a result gets one saying so (no orphaned tool call).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from claw.agent import compaction, completion, env, models, replies
from claw.agent.events import (
    AgentEnd,
    AgentStart,
    Event,
    MessageDelta,
    MessageEnd,
    MessageStart,
    ReasoningDelta,
    ReasoningReset,
    TurnResult,
)
from claw.agent.failover import Failover
from claw.agent.lanes import TurnSignal, TurnTimeout, stopped_waiting
from claw.agent.pump import Stopped
from claw.agent.reasoning import ReasoningSplitter
from claw.agent.rerun import resumable_user
from claw.agent.selection import (
    candidates_for,
    check_agent,
    check_fits,
    check_text,
    guard_context,
)
from claw.agent.session_lane import turn_lanes
from claw.agent.tool_round import run_tools
from claw.errors import ClawError, ModelError
from claw.state import transcript
from claw.state.config import Config
from claw.state.cooldowns import CooldownStore
from claw.state.home import Home
from claw.state.names import validate_session_key
from claw.state.session_keys import agent_for, main_key
from claw.state.sessions import SessionStore

log = logging.getLogger(__name__)


@dataclass
class TurnRequest:
    text: str
    agent_id: str = "main"
    session_key: str | None = None
    model: str | None = None
    thinking: str | None = None  # off | low | medium | high (default: config)
    timeout_s: float | None = None  # default: model.timeout_s
    lane: str = "main"
    channel: str | None = None
    verbose: bool = False  # append "Tools: …" to the reply
    abort: threading.Event | None = None  # set it to cancel the turn
    sent: list[str] = field(default_factory=list)  # texts a messaging tool already sent
    live: bool = True  # someone shows deltas as they come (False: only the whole reply counts)
    # claw.supervisor: the mode (auto | fast | single | multi; run_turn is always single),
    # and for its own turns (subagents, the multi-mode answer) what differs from the loop.
    mode: str = "auto"
    tools: bool = True  # False: no tools offered
    deny_tools: tuple[str, ...] = ()  # tool names left out (subagents: no spawn, no messaging)
    context: list[str] = field(default_factory=list)  # extra system-prompt parts
    footer: str = ""  # appended to the reply (stored and shown), e.g. failed sub-tasks
    record: dict[str, Any] = field(default_factory=dict)  # extra fields on the reply record
    inbound_id: str | None = None  # the journaled channel message this turn answers


def run_turn(home: Home, config: Config, store: SessionStore, req: TurnRequest) -> Iterator[Event]:
    check_text(req.text)
    agent_id = check_agent(config, agent_for(req.agent_id, req.session_key) or "main")
    key = validate_session_key(req.session_key or main_key(agent_id))
    candidates = candidates_for(config, agent_id, req.model)
    guard_context(candidates[0])
    thinking = req.thinking or config.get("model.thinking") or "off"
    timeout = float(req.timeout_s or config.get("model.timeout_s"))
    abort = TurnSignal(timeout, req.abort)

    with ExitStack() as held:
        try:  # waiting for the session or a lane slot ends as soon as the turn is aborted
            held.enter_context(turn_lanes(store, key, req.lane, config, abort))
        except Stopped:
            yield stopped_waiting(key, candidates[0].name, abort, timeout)
            return
        turn = _Turn(home, config, store, req, agent_id, key, candidates, thinking, abort)
        try:
            yield from turn.run()
        except (completion.Aborted, KeyboardInterrupt, GeneratorExit) as e:
            if turn.ended:  # closed after AgentEnd: the turn is complete and recorded
                raise
            status = "timeout" if abort.timed_out else "interrupted"
            turn.interrupted(status)
            if isinstance(e, completion.Aborted) and not abort.timed_out:
                yield turn.end(status)
                return
            turn.end(status)  # agent_end hooks hear about every ending
            if isinstance(e, completion.Aborted):  # the deadline passed
                raise TurnTimeout(
                    f"the turn took longer than {timeout:g}s and was stopped",
                    hint="raise model.timeout_s or pass --timeout",
                ) from None
            raise
        except Exception as e:  # a model failure, or anything else (a config error...)
            message = e.message if isinstance(e, ClawError) else f"{type(e).__name__}: {e}"
            try:
                turn.failed(message, getattr(e, "reason", None) or type(e).__name__)
            except Exception:  # e.g. the disk that failed the turn: report the first error
                log.exception("could not record the failed turn in %s", key)
            turn.end("error", message)  # agent_end hooks hear about every ending
            raise


class _Turn:
    def __init__(
        self,
        home: Home,
        config: Config,
        store: SessionStore,
        req: TurnRequest,
        agent_id: str,
        key: str,
        candidates: list[models.ModelInfo],
        thinking: str,
        abort: TurnSignal,
    ) -> None:
        self.config, self.store, self.req = config, store, req
        self.agent_id, self.key = agent_id, key
        self.started = time.monotonic()
        self.info = candidates[0]
        where = {"channel": req.channel, "abort": abort, "deny": req.deny_tools}
        self.env = env.build(home, config, agent_id, key, self.info, with_tools=req.tools, **where)
        self.failover = Failover(
            config,
            CooldownStore(home),
            candidates,
            thinking=thinking,
            budget=int(config.get("model.retry_budget")),
            abort=abort,
        )
        self.max_tokens = int(config.get("model.max_tokens"))
        self.signal = abort
        self.user: dict[str, Any] = {}
        self.text = ""  # visible text of the current model message
        self.reasoning = ""
        self.usage: dict[str, int] = {}
        self.tools_used: list[str] = []
        self.pending: list[completion.ToolCall] = []  # calls recorded, results not yet
        self.system = ""
        self.last_id = ""
        self.ended = False  # AgentEnd made: nothing more may be recorded

    # -- the loop -------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        new_session = not self.store.exists(self.key)
        earlier = resumable_user(self.store, self.key, self.req.inbound_id)
        base = env.system_prompt(
            self.config, self.env, self.info, self.agent_id, self.req.channel, []
        )
        if earlier is not None:
            self.user = earlier  # a re-run after a crash: the question is already there
        else:
            room = self._budget(self.info, "\n\n".join([base, *self.req.context]))
            check_fits(self.info, self.req.text, room, self.max_tokens)
            self.user = transcript.message("user", self.req.text, inbound_id=self.req.inbound_id)
            self.store.append(self.key, [self.user], agent=self.agent_id)
        if new_session:
            self.env.hooks.session_start(self.env.hook_ctx)
        extra = (
            self.env.hooks.before_agent_start(self.env.hook_ctx, self._history(self.info))
            if self.env.hooks.names()
            else []
        )
        extra = extra + self.req.context
        self.system = "\n\n".join([base, *extra])
        yield AgentStart(self.key, self.agent_id, self.info.name, self.user["id"], self.req.lane)
        max_rounds = int(self.config.get("tools.max_iterations"))
        for round_no in range(max_rounds + 1):
            if self.env.tool_ctx.abort.is_set():
                raise completion.Aborted()
            with_tools = len(self.env.registry) > 0 and round_no < max_rounds
            answer = yield from self._call(with_tools)
            calls = answer.completion.tool_calls if with_tools else []
            if not calls and self.req.footer and not replies.is_no_reply(self.text):
                self.text += self.req.footer
                yield MessageDelta(self.req.footer)
            yield MessageEnd(self.text, len(calls))
            if not calls:
                yield self._finish(answer)
                return
            yield from run_tools(self, calls)

    def _call(self, with_tools: bool) -> Iterator[Event]:
        base = completion.CallOptions(
            max_tokens=self.max_tokens,
            timeout=self.signal.remaining(),
            tools=self.env.registry.schemas() if with_tools else None,
            live=self.req.live,
        )
        splitter = ReasoningSplitter()
        self.text, started = "", False
        mark = len(self.reasoning)  # reasoning of earlier rounds stays whatever happens
        gen = self.failover.call(self._messages, base, self._compact)
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                answer = stop.value
                break
            if not isinstance(item, tuple):
                # Failover only says something (retry, compaction) when an attempt failed
                # before any text: what that attempt thought is void, the retry thinks anew.
                if len(self.reasoning) > mark:
                    yield ReasoningReset(len(self.reasoning) - mark)
                    self.reasoning = self.reasoning[:mark]
                    splitter = ReasoningSplitter()
                yield item
                continue
            if not started:
                started = True
                yield MessageStart(self.failover.current.name)
            kind, delta = item
            segments = splitter.feed(delta) if kind == "text" else [("reasoning", delta)]
            yield from self._segments(segments)
        yield from self._segments(splitter.flush())
        if not started:
            yield MessageStart(answer.model.name)
        self.info = answer.model
        for k, v in answer.completion.usage.items():
            self.usage[k] = self.usage.get(k, 0) + v
        return answer

    def _segments(self, segments: list[Any]) -> Iterator[Event]:
        for seg in segments:
            kind, text = (seg.kind, seg.text) if hasattr(seg, "kind") else seg
            if not text:
                continue
            if kind == "reasoning":
                self.reasoning += text
                yield ReasoningDelta(text)
            else:
                self.text += text
                yield MessageDelta(text)

    def _messages(self, info: models.ModelInfo) -> list[dict[str, Any]]:
        history = self._history(info)
        lead = []
        while history and history[0]["role"] == "system":
            lead.append(str(history[0]["content"]))
            history = history[1:]
        system = "\n\n".join(p for p in [self.system, *lead] if p)
        if not any(m.get("role") == "user" for m in history):
            raise ModelError(
                f"the message does not fit in {info.name}'s context window "
                f"({info.context_window} tokens, {self.max_tokens} kept for the reply)",
                reason="overflow_hard",
                hint="a shorter message, lower model.max_tokens, fewer tools, or a larger model",
            )
        return [{"role": "system", "content": system}, *history] if system else history

    def _budget(self, info: models.ModelInfo, system: str | None = None) -> int:
        fixed = transcript.estimate_tokens({"content": self.system if system is None else system})
        fixed += self.env.tool_tokens if info.supports_tools else 0  # sent with the messages
        budget = info.context_window - self.max_tokens - fixed
        cap = int(self.config.get("sessions.history_tokens") or 0)
        return max(0, min(budget, cap) if cap else budget)

    def _history(self, info: models.ModelInfo) -> list[dict[str, Any]]:
        return self.store.history(self.key, self._budget(info))

    def _compact(self, info: models.ModelInfo, opts: completion.CallOptions) -> Iterator[Event]:
        return compaction.compact_turn(self, info, opts)

    # -- tools ------------------------------------------------------------------------
    def _finish(self, answer: Any) -> AgentEnd:
        text = self.text
        status = "ok"
        if replies.is_no_reply(text) or replies.already_sent(text, self.req.sent):
            status = "silent"
        elif not text.strip():
            status = "error"
        record = transcript.message(
            "assistant",
            text,
            model=self.info.name,
            usage=self.usage or None,
            duration_ms=self._ms(),
            status=status,
            reply_to=self.user["id"],
            reasoning=self.reasoning or None,
            error=replies.EMPTY_REPLY_TEXT if status == "error" else None,
            reason="empty" if status == "error" else None,
            **self.req.record,
        )
        self.store.append(self.key, [record], agent=self.agent_id)
        self.last_id = record["id"]
        if status == "silent":
            text = ""
        elif status == "error":
            text = replies.EMPTY_REPLY_TEXT
        elif self.req.verbose and self.tools_used:
            text = f"{text}\n\n{replies.tool_summary(self.tools_used)}"
        return self.end(status, text)

    def end(self, status: str, text: str | None = None) -> AgentEnd:
        result = TurnResult(
            session_key=self.key,
            message_id=self.last_id,
            text=self.text if text is None else text,
            model=self.info.name,
            usage=self.usage,
            duration_ms=self._ms(),
            status=status,
            tools=list(self.tools_used),
            reasoning=self.reasoning,
        )
        self.ended = True
        self.env.hooks.agent_end(self.env.hook_ctx, result.to_dict)
        return AgentEnd(result, status)

    def _close_pending(self, why: str) -> list[dict[str, Any]]:
        """A result record for every tool call still open: no orphaned tool call."""
        records = [
            transcript.message("tool", why, tool_call_id=c.id, name=c.name, is_error=True)
            for c in self.pending
        ]
        self.pending = []
        return records

    def interrupted(self, status: str) -> None:
        """Record what exists of the turn so the transcript stays replayable."""
        if not self.user:
            return
        had_open_calls = bool(self.pending)
        records = self._close_pending("interrupted before this tool ran")
        if self.text:
            records.append(
                transcript.message(
                    "assistant",
                    self.text,
                    model=self.info.name,
                    status="interrupted",
                    duration_ms=self._ms(),
                    reply_to=self.user["id"],
                )
            )
        elif not self.tools_used and not had_open_calls:
            records.append(
                transcript.message(
                    "assistant",
                    "",
                    model=self.info.name,
                    status="error",
                    reason=status,
                    error=f"{status} before any reply",
                    reply_to=self.user["id"],
                )
            )
        if records:
            self.store.append(self.key, records, agent=self.agent_id)
            self.last_id = records[-1]["id"]

    def failed(self, message: str, reason: str) -> None:
        """Record the failure, so replay leaves the whole exchange out."""
        if not self.user:
            return
        records = self._close_pending("not run: the turn failed")
        records.append(
            transcript.message(
                "assistant",
                self.text,
                model=self.info.name,
                status="error",
                error=message,
                reason=reason,
                reply_to=self.user["id"],
            )
        )
        self.store.append(self.key, records, agent=self.agent_id)

    def _ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
