"""Plugin hooks: each hook's combination rule, isolation of broken plugins, loading."""

from __future__ import annotations

import logging
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from claw.agent import hooks as hooks_mod
from claw.agent.hooks import HookContext, Hooks, hookimpl, load_hooks

CTX = HookContext(agent_id="main", session_key="agent:main:main", model="echo")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # The CLI's setup_logging stops "claw" propagating; caplog listens on the root.
    monkeypatch.setattr(logging.getLogger("claw"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="claw.agent.hooks")
    hooks_mod.clear_cache()
    yield
    hooks_mod.clear_cache()


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """Write a module into tmp_path (on sys.path); forget it from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def hooks_with(*plugins: object) -> Hooks:
    h = Hooks.empty()
    for p in plugins:
        h.register(p)
    return h


class Says:
    def __init__(self, text: str | None) -> None:
        self.text = text

    @hookimpl
    def before_agent_start(self, ctx, messages):
        return self.text


class Boom:
    """Raises in every hook it implements."""

    @hookimpl
    def before_agent_start(self, ctx, messages):
        raise RuntimeError("boom")

    @hookimpl
    def tool_result_persist(self, result_text):
        raise RuntimeError("boom")

    @hookimpl
    def before_tool_call(self, args):
        raise RuntimeError("boom")

    @hookimpl
    def session_start(self):
        raise RuntimeError("boom")


# -- combination rules -----------------------------------------------------------------


def test_markers_use_the_claw_project() -> None:
    assert hooks_mod.hookspec.project_name == "claw"
    assert hooks_mod.hookimpl.project_name == "claw"


def test_empty_hooks_are_neutral() -> None:
    h = Hooks.empty()
    assert h.names() == []
    assert h.before_agent_start(CTX, []) == []
    assert h.agent_end(CTX, {"status": "ok"}) is None
    decision = h.before_tool_call(CTX, "read", {"path": "a"})
    assert decision.args == {"path": "a"} and decision.blocked is None
    assert h.tool_result_persist(CTX, "read", "text") == "text"
    h.after_tool_call(CTX, "read", {}, "text", False)
    h.before_compaction(CTX, [])
    h.after_compaction(CTX, "summary")
    h.session_start(CTX)
    h.session_end(CTX)


def test_before_agent_start_collects_all_in_registration_order(caplog) -> None:
    h = hooks_with(Says("first"), Says(None), Says(""), Says(42), Says("second"))  # type: ignore[arg-type]
    assert h.before_agent_start(CTX, [{"role": "user", "content": "hi"}]) == ["first", "second"]
    assert any("returned 42" in m for m in warnings(caplog))


def test_names_lists_registered_plugins_in_order() -> None:
    h = Hooks.empty()
    h.register(Says("a"), name="alpha")
    h.register(Says("b"), name="beta")
    assert h.names() == ["alpha", "beta"]


def test_implementation_gets_only_the_arguments_it_declares() -> None:
    seen: list[tuple] = []

    class OnlyCtx:
        @hookimpl
        def after_tool_call(self, ctx):
            seen.append((ctx,))

    class NameAndError:
        @hookimpl
        def after_tool_call(self, is_error, name):
            seen.append((name, is_error))

    hooks_with(OnlyCtx(), NameAndError()).after_tool_call(CTX, "exec", {"cmd": "ls"}, "out", True)
    assert seen == [(CTX,), ("exec", True)]


def test_raising_hook_is_logged_and_others_still_run(caplog) -> None:
    h = Hooks.empty()
    h.register(Says("before"), name="good-1")
    h.register(Boom(), name="broken")
    h.register(Says("after"), name="good-2")
    assert h.before_agent_start(CTX, []) == ["before", "after"]
    h.session_start(CTX)  # only Boom implements it: still no exception
    messages = warnings(caplog)
    assert any("'broken'" in m and "before_agent_start" in m and "boom" in m for m in messages)
    assert any("'broken'" in m and "session_start" in m for m in messages)


def test_before_tool_call_args_chain_in_order() -> None:
    class AddLimit:
        @hookimpl
        def before_tool_call(self, name, args):
            args["ignored"] = "in-place changes do nothing"
            return {"args": {"path": args["path"], "limit": 10}}

    class SeesLimit:
        def __init__(self) -> None:
            self.seen: dict | None = None

        @hookimpl
        def before_tool_call(self, args):
            self.seen = dict(args)
            return {"args": {**args, "limit": args["limit"] * 2}}

    second = SeesLimit()
    original = {"path": "notes.md"}
    decision = hooks_with(AddLimit(), Boom(), second).before_tool_call(CTX, "read", original)
    assert second.seen == {"path": "notes.md", "limit": 10}
    assert decision.args == {"path": "notes.md", "limit": 20}
    assert decision.blocked is None
    assert original == {"path": "notes.md"}


def test_before_tool_call_first_block_wins_and_stops_the_chain() -> None:
    calls: list[str] = []

    class Rewrite:
        @hookimpl
        def before_tool_call(self, args):
            calls.append("rewrite")
            return {"args": {**args, "safe": True}}

    class Block:
        def __init__(self, reason: object) -> None:
            self.reason = reason

        @hookimpl
        def before_tool_call(self):
            calls.append(f"block {self.reason}")
            return {"block": self.reason}

    h = Hooks.empty()
    h.register(Rewrite(), name="rewrite")
    h.register(Block("no shell today"), name="guard")
    h.register(Block("later"), name="late-guard")
    decision = h.before_tool_call(CTX, "exec", {"cmd": "rm -rf /"})
    assert decision.blocked == "no shell today"
    assert decision.blocked_by == "guard"
    assert decision.args == {"cmd": "rm -rf /", "safe": True}
    assert calls == ["rewrite", "block no shell today"]


def test_before_tool_call_block_without_reason_names_the_plugin() -> None:
    class Block:
        @hookimpl
        def before_tool_call(self):
            return {"block": ""}

    h = Hooks.empty()
    h.register(Block(), name="quiet-guard")
    assert h.before_tool_call(CTX, "exec", {}).blocked == "blocked by plugin quiet-guard"


def test_before_tool_call_malformed_results_are_ignored(caplog) -> None:
    class Odd:
        def __init__(self, result: object) -> None:
            self.result = result

        @hookimpl
        def before_tool_call(self):
            return self.result

    h = hooks_with(Odd("yes"), Odd({"args": ["not", "a", "dict"]}), Odd({}), Odd({"block": None}))
    decision = h.before_tool_call(CTX, "read", {"path": "a"})
    assert decision.args == {"path": "a"} and decision.blocked is None
    assert len(warnings(caplog)) == 2


def test_tool_result_persist_chains_rewrites() -> None:
    class Redact:
        @hookimpl
        def tool_result_persist(self, result_text):
            return result_text.replace("hunter2", "[redacted]")

    class Keep:
        @hookimpl
        def tool_result_persist(self, name, result_text):
            return None

    class Tag:
        @hookimpl
        def tool_result_persist(self, name, result_text):
            return f"{name}: {result_text}"

    h = hooks_with(Redact(), Keep(), Boom(), Tag())
    assert h.tool_result_persist(CTX, "read", "password=hunter2") == "read: password=[redacted]"


def test_tryfirst_and_trylast_are_honoured() -> None:
    class Last:
        @hookimpl(trylast=True)
        def before_agent_start(self):
            return "last"

    class First:
        @hookimpl(tryfirst=True)
        def before_agent_start(self):
            return "first"

    h = hooks_with(Last(), Says("middle-1"), First(), Says("middle-2"))
    assert h.before_agent_start(CTX, []) == ["first", "middle-1", "middle-2", "last"]


def test_notification_hooks_receive_their_arguments() -> None:
    seen: list[tuple] = []

    class Watcher:
        @hookimpl
        def after_tool_call(self, ctx, name, args, result_text, is_error):
            seen.append(("after_tool_call", name, args, result_text, is_error))

        @hookimpl
        def before_compaction(self, ctx, messages):
            seen.append(("before_compaction", len(messages)))

        @hookimpl
        def after_compaction(self, summary):
            seen.append(("after_compaction", summary))

        @hookimpl
        def session_start(self, ctx):
            seen.append(("session_start", ctx.session_key))

        @hookimpl
        def session_end(self, ctx):
            seen.append(("session_end", ctx.agent_id))

    h = hooks_with(Watcher())
    h.session_start(CTX)
    h.after_tool_call(CTX, "read", {"path": "a"}, "contents", False)
    h.before_compaction(CTX, [{"role": "user", "content": "x"}] * 3)
    h.after_compaction(CTX, "they talked")
    h.session_end(CTX)
    assert seen == [
        ("session_start", "agent:main:main"),
        ("after_tool_call", "read", {"path": "a"}, "contents", False),
        ("before_compaction", 3),
        ("after_compaction", "they talked"),
        ("session_end", "main"),
    ]


def test_agent_end_runs_in_the_background(caplog) -> None:
    done = threading.Event()
    got: list[dict] = []

    class Slow:
        @hookimpl
        def agent_end(self, ctx, outcome):
            time.sleep(1)
            got.append(outcome)
            done.set()

    class Broken:
        @hookimpl
        def agent_end(self):
            raise RuntimeError("end boom")

    h = Hooks.empty()
    h.register(Broken(), name="broken-end")
    h.register(Slow(), name="slow")
    outcome = {"status": "ok"}
    start = time.monotonic()
    thread = h.agent_end(CTX, outcome)
    assert time.monotonic() - start < 0.05
    assert thread is not None and thread.daemon
    outcome["status"] = "changed by the caller afterwards"
    assert done.wait(timeout=5)
    thread.join(timeout=5)
    assert got == [{"status": "ok"}]
    assert any("'broken-end'" in m and "agent_end" in m for m in warnings(caplog))


# -- registration and loading ----------------------------------------------------------


def test_plugin_with_wrong_argument_names_is_rejected() -> None:
    class Wrong:
        @hookimpl
        def before_tool_call(self, tool_name):
            return None

    h = Hooks.empty()
    with pytest.raises(pluggy.PluginValidationError):
        h.register(Wrong(), name="wrong")
    assert h.names() == []


def test_unknown_hooks_and_wrappers_are_warned_and_never_called(caplog) -> None:
    calls: list[str] = []

    class Typos:
        @hookimpl
        def befor_tool_call(self, args):
            calls.append("typo")

        @hookimpl(wrapper=True)
        def before_agent_start(self):
            calls.append("wrapper")
            return (yield)

    h = Hooks.empty()
    h.register(Typos(), name="typos")
    assert h.before_agent_start(CTX, []) == []
    h.before_tool_call(CTX, "read", {})
    assert calls == []
    messages = warnings(caplog)
    assert any("unknown hook befor_tool_call" in m for m in messages)
    assert any("hook wrapper before_agent_start" in m for m in messages)


PLUGIN_SOURCE = """
    from claw.agent.hooks import hookimpl

    @hookimpl
    def before_agent_start(ctx, messages):
        return "from {name} for " + ctx.agent_id
"""


def test_load_hooks_imports_configured_modules(write_module) -> None:
    one = write_module("claw_test_plugin_one", PLUGIN_SOURCE.format(name="one"))
    two = write_module("claw_test_plugin_two", PLUGIN_SOURCE.format(name="two"))
    h = load_hooks([one, two, one], entry_points=False)
    assert h.names() == [one, two]
    assert h.before_agent_start(CTX, []) == ["from one for main", "from two for main"]


def test_broken_and_unknown_modules_are_skipped(write_module, caplog) -> None:
    good = write_module("claw_test_plugin_good", PLUGIN_SOURCE.format(name="good"))
    bad = write_module("claw_test_plugin_bad", "raise ImportError('missing dependency')\n")
    h = load_hooks(["claw_no_such_plugin_module", bad, good], entry_points=False)
    assert h.names() == [good]
    assert h.before_agent_start(CTX, []) == ["from good for main"]
    messages = warnings(caplog)
    assert any("'claw_no_such_plugin_module'" in m and "skipped" in m for m in messages)
    assert any(f"'{bad}'" in m and "missing dependency" in m for m in messages)


def test_load_hooks_is_cached_by_names(write_module) -> None:
    name = write_module("claw_test_plugin_cached", PLUGIN_SOURCE.format(name="cached"))
    first = load_hooks([name], entry_points=False)
    assert load_hooks([name], entry_points=False) is first
    assert load_hooks([], entry_points=False) is not first
    hooks_mod.clear_cache()
    assert load_hooks([name], entry_points=False) is not first


def write_distribution(root: Path, entry_points: str) -> None:
    """An installed-looking distribution: a dist-info directory on sys.path."""
    info = root / "claw_test_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: claw-test-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_entry_point_plugins_are_loaded(tmp_path, write_module, caplog) -> None:
    ep_mod = write_module("claw_test_ep_plugin", PLUGIN_SOURCE.format(name="entry point"))
    write_module("claw_test_ep_broken", "raise RuntimeError('broken at import')\n")
    cfg = write_module("claw_test_plugin_cfg", PLUGIN_SOURCE.format(name="config"))
    write_distribution(
        tmp_path,
        f"""
        [claw]
        broken = claw_test_ep_broken
        demo = {ep_mod}

        [console_scripts]
        not-a-plugin = {ep_mod}:nothing
        """,
    )
    h = load_hooks([cfg])
    assert "demo" in h.names() and cfg in h.names()
    assert "broken" not in h.names()
    texts = h.before_agent_start(CTX, [])
    assert texts.index("from entry point for main") < texts.index("from config for main")
    assert any("'broken'" in m and "broken at import" in m for m in warnings(caplog))
    assert "demo" not in load_hooks([cfg], entry_points=False).names()
