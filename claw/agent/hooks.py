"""Plugin hooks of the agent loop, through pluggy (project name "claw").

A plugin is a module (or object) with functions marked `@hookimpl`; it is found through
the "claw" entry-point group or named in config `plugins = ["my_pkg.claw_plugin"]`.

Why claw calls each implementation itself, not `pm.hook.<name>(...)`: pluggy stops at the
first exception, and a broken plugin must never break a turn. So `Hooks` walks
`get_hookimpls()`, passes each function only the arguments it declares (as pluggy does),
logs and skips one that raises, and applies claw's own combination rule per hook. Order
is registration (config) order, not pluggy's newest-first, so chained rewrites read like
the config; tryfirst/trylast still apply. Hook wrappers need pluggy's loop: ignored.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

PROJECT = "claw"
log = logging.getLogger(__name__)

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Messages = list[dict[str, Any]]


@dataclass
class HookContext:
    """Which turn a hook is seeing; the same object for every hook of one turn."""

    agent_id: str
    session_key: str
    model: str
    channel: str | None = None
    turn_id: str = ""
    home_root: Path | None = None  # the state directory (for built-in plugins like memory)


@dataclass
class ToolCallDecision:
    """The combined answer of `before_tool_call`: the (maybe rewritten) args, or a block."""

    args: dict[str, Any]
    blocked: str | None = None  # the reason, sent back to the model as the tool result
    blocked_by: str | None = None  # plugin name, for the log


class HookSpecs:
    """The hooks. None is firstresult: claw combines the results itself (see `Hooks`)."""

    @hookspec
    def before_agent_start(self, ctx: HookContext, messages: Messages) -> str | None:
        """Before a turn's first model call. Return text to prepend as extra context, or
        None; every plugin's text is kept, in order. `messages` is read-only."""

    @hookspec
    def agent_end(self, ctx: HookContext, outcome: dict[str, Any]) -> None:
        """After a turn ends, any way. Runs in a background thread so it never delays the
        reply; return ignored. `outcome` (status, usage, ...) is a copy."""

    @hookspec
    def before_tool_call(
        self, ctx: HookContext, name: str, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Before a tool runs. Return None to allow, {"block": "reason"} to refuse (the
        first block wins, later plugins are not asked) or {"args": {...}} to replace the
        arguments (the next plugin sees them). `args` is a copy: mutating it does nothing."""

    @hookspec
    def after_tool_call(
        self, ctx: HookContext, name: str, args: dict[str, Any], result_text: str, is_error: bool
    ) -> None:
        """After a tool returns (or fails, `is_error`). For observation; return ignored."""

    @hookspec
    def tool_result_persist(self, ctx: HookContext, name: str, result_text: str) -> str | None:
        """Before a tool result is written to the transcript. Return replacement text
        (e.g. redacted) or None to keep it; chained: each plugin sees the previous text."""

    @hookspec
    def before_compaction(self, ctx: HookContext, messages: Messages) -> None:
        """Before old history is summarised away: the last chance to read it (read-only)."""

    @hookspec
    def after_compaction(self, ctx: HookContext, summary: str) -> None:
        """After compaction, with the summary that replaced the old history."""

    @hookspec
    def session_start(self, ctx: HookContext) -> None:
        """When a session is created, before its first turn."""

    @hookspec
    def session_end(self, ctx: HookContext) -> None:
        """When a session ends: reset or deleted."""


def _ignored(impl: pluggy.HookImpl, hook: str, result: object) -> None:
    log.warning("claw plugin %r: %s returned %r, ignored", impl.plugin_name, hook, result)


def _ordered(impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """pluggy keeps [trylast (newest first), normal, tryfirst] and calls that reversed."""
    plain = [(n, i) for n, i in enumerate(impls) if not (i.wrapper or i.hookwrapper)]
    plain.sort(key=lambda p: (2, -p[0]) if p[1].trylast else (0 if p[1].tryfirst else 1, p[0]))
    return [i for _, i in plain]


class Hooks:
    """The agent loop's view of the plugins: one typed method per hook."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(HookSpecs)

    @classmethod
    def empty(cls) -> Hooks:
        return cls()

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; raises if pluggy rejects it (bad argnames)."""
        try:
            registered = self.pm.register(plugin, name=name)
        except Exception:
            if self.pm.is_registered(plugin):  # older pluggy registers before validating
                self.pm.unregister(plugin)
            raise
        if registered is None:
            raise ValueError(f"plugin name {name!r} is blocked")
        self._check(plugin)
        return registered

    def _check(self, plugin: object) -> None:
        """Warn about what registered but will never run: typos, hook wrappers."""
        for caller in self.pm.get_hookcallers(plugin) or []:
            mine = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if caller.spec is None or any(i.wrapper or i.hookwrapper for i in mine):
                why = "unknown hook" if caller.spec is None else "hook wrapper"
                log.warning("claw plugin %r: %s %s ignored", mine[0].plugin_name, why, caller.name)

    def names(self) -> list[str]:
        """Registered plugin names, in registration order (for diagnostics)."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        caller = getattr(self.pm.hook, hook, None)
        return _ordered(caller.get_hookimpls()) if caller is not None else []

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: dict[str, Any]) -> Any:
        """One implementation, isolated: returns None (and logs) if it raises."""
        try:
            return impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as e:
            log.warning("claw plugin %r failed in hook %s: %r", impl.plugin_name, hook, e)
            log.debug("traceback of plugin %r in %s", impl.plugin_name, hook, exc_info=True)
            return None

    def _notify(self, hook: str, **kwargs: Any) -> None:
        for impl in self._impls(hook):
            self._call(impl, hook, kwargs)

    def _strings(self, hook: str, kwargs: dict[str, Any], chain: str = "") -> list[str]:
        """Each impl's str result, in order; with `chain`, it feeds the next impl's kwarg."""
        out: list[str] = []
        for impl in self._impls(hook):
            result = self._call(impl, hook, kwargs)
            if result is not None and not isinstance(result, str):
                _ignored(impl, hook, result)
            elif result is not None:
                out.append(result)
                if chain:
                    kwargs[chain] = result
        return out

    def before_agent_start(self, ctx: HookContext, messages: Messages) -> list[str]:
        """Extra context from every plugin, in order (empty strings dropped)."""
        texts = self._strings("before_agent_start", {"ctx": ctx, "messages": list(messages)})
        return [text for text in texts if text.strip()]

    def agent_end(
        self, ctx: HookContext, outcome: dict[str, Any] | Callable[[], dict[str, Any]]
    ) -> threading.Thread | None:
        """Run the hooks in a daemon thread, with copies, and return at once (None if no
        plugin has this hook). Daemon threads die with the process, so a one-shot
        command may `join(timeout)` the returned thread to give them a grace period.
        `outcome` may be a function that makes it: then it is made only when a plugin
        will see it."""
        if not self._impls("agent_end"):
            return None
        made = outcome() if callable(outcome) else outcome
        kwargs = {"ctx": copy.copy(ctx), "outcome": dict(made)}
        thread = threading.Thread(
            target=self._notify, args=("agent_end",), kwargs=kwargs, name="claw-hooks", daemon=True
        )
        thread.start()
        return thread

    def before_tool_call(
        self, ctx: HookContext, name: str, args: dict[str, Any]
    ) -> ToolCallDecision:
        """Chain argument rewrites in order; stop at the first block."""
        current = copy.deepcopy(args)
        for impl in self._impls("before_tool_call"):
            kwargs = {"ctx": ctx, "name": name, "args": copy.deepcopy(current)}
            result = self._call(impl, "before_tool_call", kwargs)
            if result is None:
                continue
            is_dict = isinstance(result, dict)
            reason = result.get("block") if is_dict else None
            if reason is not None and reason is not False:
                text = str(reason) or f"blocked by plugin {impl.plugin_name}"
                return ToolCallDecision(current, blocked=text, blocked_by=impl.plugin_name)
            if is_dict and isinstance(result.get("args"), dict):
                current = result["args"]
            elif not is_dict or "args" in result:
                _ignored(impl, "before_tool_call", result)
        return ToolCallDecision(current)

    def after_tool_call(
        self, ctx: HookContext, name: str, args: dict[str, Any], result_text: str, is_error: bool
    ) -> None:
        kwargs = {"name": name, "result_text": result_text, "is_error": is_error}
        self._notify("after_tool_call", ctx=ctx, args=copy.deepcopy(args), **kwargs)

    def tool_result_persist(self, ctx: HookContext, name: str, result_text: str) -> str:
        """The text to write to the transcript, after every plugin's rewrite in order."""
        kwargs = {"ctx": ctx, "name": name, "result_text": result_text}
        texts = self._strings("tool_result_persist", kwargs, chain="result_text")
        return texts[-1] if texts else result_text

    def before_compaction(self, ctx: HookContext, messages: Messages) -> None:
        self._notify("before_compaction", ctx=ctx, messages=list(messages))

    def after_compaction(self, ctx: HookContext, summary: str) -> None:
        self._notify("after_compaction", ctx=ctx, summary=summary)

    def session_start(self, ctx: HookContext) -> None:
        self._notify("session_start", ctx=ctx)

    def session_end(self, ctx: HookContext) -> None:
        self._notify("session_end", ctx=ctx)


# -- loading ---------------------------------------------------------------------------

_cache: dict[tuple[tuple[str, ...], bool], Hooks] = {}
_cache_lock = threading.Lock()


def _load_entry_points(hooks: Hooks) -> None:
    # One pluggy call per name, so one broken distribution does not hide the others.
    dists = importlib.metadata.distributions()  # the same scan pluggy does
    names = dict.fromkeys(ep.name for d in dists for ep in d.entry_points if ep.group == PROJECT)
    for name in names:
        try:
            hooks.pm.load_setuptools_entrypoints(PROJECT, name=name)
        except Exception as e:
            log.warning("claw plugin %r (entry point) could not be loaded: %r", name, e)
        else:
            hooks._check(hooks.pm.get_plugin(name))


def load_hooks(plugins: list[str], *, entry_points: bool = True) -> Hooks:
    """Hooks for config `plugins` (dotted module names) plus, optionally, entry points.

    Cached per process by the names: every turn reuses one manager, and each module is
    imported once. A module that fails to import or register is logged and skipped, so
    a bad plugin costs its hooks, never the turn. Editing a plugin needs a restart.
    """
    key = (tuple(plugins), entry_points)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        hooks = Hooks()
        if entry_points:
            _load_entry_points(hooks)
        for module_name in dict.fromkeys(plugins):
            try:
                hooks.register(importlib.import_module(module_name), name=module_name)
            except Exception as e:
                log.warning("claw plugin %r could not be loaded, skipped: %r", module_name, e)
        _cache[key] = hooks
        return hooks


def session_ended(plugins: list[str], key: str) -> None:
    """Tell plugins a session ended (cleared, deleted, /new in chat), whoever ended it:
    the CLI and the gateway both call this."""
    from claw.state.session_keys import agent_of

    hooks = load_hooks(plugins)
    hooks.session_end(HookContext(agent_id=agent_of(key), session_key=key, model=""))


def clear_cache() -> None:
    """Forget loaded managers (tests; a reload command). Imported modules stay imported."""
    with _cache_lock:
        _cache.clear()
