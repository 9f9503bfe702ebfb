"""task_create, task_list, task_update through the ToolRegistry, as the agent calls them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from claw.agent.tools.base import ToolContext, ToolRegistry
from claw.state.home import Home
from claw.tasks.store import TaskStore
from claw.tasks.tools import task_tools

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def reg() -> ToolRegistry:
    registry = ToolRegistry()
    for tool in task_tools():
        registry.register(tool)
    return registry


@pytest.fixture
def ctx(home: Home) -> ToolContext:
    ws = home.agent_dir("main")
    return ToolContext("main", ws, "agent:main:main", timezone="Europe/Paris", home_root=home.root)


def test_create_list_update(reg: ToolRegistry, ctx: ToolContext, home: Home) -> None:
    r = reg.call("task_create", '{"title": "Buy milk", "due": "in 2h", "remind": true}', ctx)
    assert not r.is_error, r.content
    assert r.content.startswith("created ") and "reminder on" in r.content
    [task] = TaskStore(home).list()
    assert task.agent == "main" and task.remind and task.id in r.content
    expected = datetime.now(PARIS) + timedelta(hours=2)
    assert abs((task.due_at - expected).total_seconds()) < 60
    assert task.due_at.utcoffset() == expected.utcoffset()

    assert not reg.call("task_create", {"title": "Call mom", "notes": "about Sunday"}, ctx).is_error
    listed = reg.call("task_list", {}, ctx)
    lines = listed.content.splitlines()
    assert len(lines) == 2 and lines[0].startswith(task.id) and "[ ]" in lines[0]
    assert "notes: about Sunday" in lines[1]

    r = reg.call("task_update", {"id": task.id[:5], "status": "done"}, ctx)
    assert not r.is_error and "[x]" in r.content
    assert reg.call("task_list", {}, ctx).content.count("\n") == 0  # one open task left
    assert task.id in reg.call("task_list", {"include_done": True}, ctx).content

    r = reg.call(
        "task_update", {"id": task.id, "due": "2030-01-05 10:00", "title": "Oat milk"}, ctx
    )
    assert not r.is_error and "2030-01-05T10:00:00+01:00" in r.content and "Oat milk" in r.content
    r = reg.call("task_update", {"id": task.id, "due": None}, ctx)
    assert not r.is_error and TaskStore(home).get(task.id).due is None


def test_the_models_mistakes_come_back_as_errors(reg: ToolRegistry, ctx: ToolContext) -> None:
    bad_time = reg.call("task_create", {"title": "x", "due": "whenever"}, ctx)
    assert bad_time.is_error and "tomorrow 9am" in bad_time.content
    no_due = reg.call("task_create", {"title": "x", "remind": True}, ctx)
    assert no_due.is_error and "due" in no_due.content
    assert reg.call("task_create", {"title": ""}, ctx).is_error  # schema: minLength
    assert reg.call("task_create", {"title": "x", "colour": "red"}, ctx).is_error
    missing = reg.call("task_update", {"id": "ffff0000", "status": "done"}, ctx)
    assert missing.is_error and "no task" in missing.content
    assert reg.call("task_update", {"id": "ffff0000"}, ctx).is_error  # nothing to change
    assert reg.call("task_update", {"id": "x", "status": "later"}, ctx).is_error
    assert reg.call("task_list", {}, ctx).content == "no open tasks"


def test_without_a_state_dir_or_with_a_bad_zone(reg: ToolRegistry, home: Home) -> None:
    bare = ToolContext("main", home.agent_dir("main"), "k")
    r = reg.call("task_list", {}, bare)
    assert r.is_error and "not available" in r.content
    mars = ToolContext("main", home.agent_dir("main"), "k", timezone="Mars/Base")
    mars.home_root = home.root
    r = reg.call("task_create", {"title": "x", "due": "in 1h"}, mars)
    assert r.is_error and "Mars/Base" in r.content


def test_the_agent_gets_the_task_tools(home: Home) -> None:
    import threading

    from claw.agent import env
    from claw.agent.models import ModelInfo
    from claw.state.config import load

    info = ModelInfo(name="scripted", litellm_model="scripted", supports_tools=True)
    config = load(home.config_file)
    abort = threading.Event()
    turn = env.build(home, config, "main", "agent:main:main", info, channel=None, abort=abort)
    assert {"task_create", "task_list", "task_update"} <= set(turn.registry.names())
    assert turn.tool_ctx.home_root == home.root
