"""Built-in tools: workspace confinement, each tool's results and errors, exec's limits."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from claw.agent.tools.base import ToolContext, ToolRegistry, ToolResult
from claw.agent.tools.builtin import MAX_LIST_ENTRIES, builtin_tools
from claw.agent.tools.paths import ToolError, resolve_in_workspace
from claw.agent.tools.shell import ExecTool, child_env

EXEC_ON = {"exec_enabled": True, "exec_timeout_s": 5, "exec_max_output": 200}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def registry(settings: dict[str, Any] | None = None) -> ToolRegistry:
    reg = ToolRegistry()
    for tool in builtin_tools(settings or {}):
        reg.register(tool)
    return reg


def call(ws: Path, name: str, settings: dict[str, Any] | None = None, **args: Any) -> ToolResult:
    ctx = ToolContext(agent_id="main", workspace=ws, session_key="agent:main:main")
    return registry(settings).call(name, args, ctx)


# --- containment -------------------------------------------------------------------------


def test_relative_and_absolute_paths_inside_are_accepted(ws: Path) -> None:
    real = Path(os.path.realpath(ws))
    assert resolve_in_workspace(ws, "notes/a.md") == real / "notes" / "a.md"
    assert resolve_in_workspace(ws, str(ws / "a.md")) == real / "a.md"
    assert resolve_in_workspace(ws, ".") == real
    assert resolve_in_workspace(ws, "sub/../a.md") == real / "a.md"


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "~/x", "", "a\x00b"])
def test_escapes_and_nonsense_are_refused(ws: Path, bad: str) -> None:
    with pytest.raises(ToolError):
        resolve_in_workspace(ws, bad)


def test_sibling_with_the_same_prefix_is_outside(tmp_path: Path, ws: Path) -> None:
    evil = tmp_path / "ws-evil"
    evil.mkdir()
    (evil / "x").write_text("secret")
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_workspace(ws, str(evil / "x"))
    with pytest.raises(ToolError, match="outside"):
        resolve_in_workspace(ws, "../ws-evil/x")


def test_symlinks_pointing_outside_are_refused(tmp_path: Path, ws: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s3cret")
    (ws / "file-link").symlink_to(outside / "secret")
    (ws / "dir-link").symlink_to(outside)
    for path in ("file-link", "dir-link/secret", "dir-link", "dir-link/new.txt"):
        with pytest.raises(ToolError, match="symbolic link"):
            resolve_in_workspace(ws, path)
    result = call(ws, "read_file", path="dir-link/secret")
    assert result.is_error and "s3cret" not in result.content
    assert call(ws, "write_file", path="dir-link/new.txt", content="x").is_error
    assert not (outside / "new.txt").exists()


def test_symlinks_inside_the_workspace_are_fine(tmp_path: Path, ws: Path) -> None:
    (ws / "real").mkdir()
    (ws / "real" / "a.txt").write_text("hello")
    (ws / "alias").symlink_to(ws / "real")
    assert call(ws, "read_file", path="alias/a.txt").content == "hello"
    # A workspace that is itself reached through a symlink works too.
    (tmp_path / "ws-link").symlink_to(ws)
    assert call(tmp_path / "ws-link", "read_file", path="real/a.txt").content == "hello"


def test_must_exist(ws: Path) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        resolve_in_workspace(ws, "missing.txt", must_exist=True)


# --- current_time ------------------------------------------------------------------------


def test_current_time_in_the_users_zone(ws: Path) -> None:
    ctx = ToolContext("main", ws, "k", timezone="Asia/Tokyo")
    result = registry().call("current_time", {}, ctx)
    assert not result.is_error
    assert "zone: Asia/Tokyo (JST, UTC+09:00)" in result.content
    stamp = result.content.splitlines()[0].removeprefix("time: ")
    parsed = datetime.fromisoformat(stamp)
    assert abs(parsed.timestamp() - time.time()) < 5
    assert f"weekday: {parsed:%A}" in result.content


def test_current_time_system_zone_and_bad_zone(ws: Path) -> None:
    assert not call(ws, "current_time").is_error
    bad = registry().call("current_time", {}, ToolContext("main", ws, "k", timezone="Mars/Base"))
    assert bad.is_error and "Mars/Base" in bad.content


# --- read_file ---------------------------------------------------------------------------


def test_read_file_whole_and_in_part(ws: Path) -> None:
    (ws / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    assert call(ws, "read_file", path="a.txt").content.startswith("line 1\nline 2\n")
    part = call(ws, "read_file", path="a.txt", offset=3, limit=2).content
    assert part.startswith("line 3\nline 4\n")
    assert "line 5" not in part and "[lines 3-4 of 10; call again with offset=5" in part
    assert call(ws, "read_file", path="a.txt", offset=11).is_error


def test_read_file_errors(ws: Path) -> None:
    (ws / "bin").write_bytes(b"\x89PNG\x00\x01\x02")
    (ws / "latin").write_bytes("caf\xe9".encode("latin-1"))
    (ws / "big").write_bytes(b"a" * (1024 * 1024 + 1))
    (ws / "d").mkdir()
    (ws / "empty").write_text("")
    assert "binary" in call(ws, "read_file", path="bin").content
    assert "binary" in call(ws, "read_file", path="latin").content
    assert "1 MB" in call(ws, "read_file", path="big").content
    assert "list_dir" in call(ws, "read_file", path="d").content
    assert "does not exist" in call(ws, "read_file", path="nope").content
    assert "empty" in call(ws, "read_file", path="empty").content
    for name in ("bin", "latin", "big", "d", "nope"):
        assert call(ws, "read_file", path=name).is_error


def test_read_file_stops_at_a_line_before_the_result_limit(ws: Path) -> None:
    (ws / "long.txt").write_text("".join(f"{i:05d} " + "x" * 94 + "\n" for i in range(1000)))
    result = call(ws, "read_file", path="long.txt")
    assert "truncated" not in result.content  # cut by the tool, not mid-line by the registry
    assert "call again with offset=" in result.content
    assert result.content.splitlines()[-3].endswith("x")


# --- write_file --------------------------------------------------------------------------


def test_write_file_creates_replaces_and_appends(ws: Path) -> None:
    result = call(ws, "write_file", path="notes/day/a.md", content="one\n")
    assert not result.is_error and "4 bytes" in result.content
    target = ws / "notes" / "day" / "a.md"
    assert target.read_text() == "one\n"
    assert target.stat().st_mode & 0o777 == 0o600
    call(ws, "write_file", path="notes/day/a.md", content="two\n", append=True)
    assert target.read_text() == "one\ntwo\n"
    call(ws, "write_file", path="notes/day/a.md", content="new")
    assert target.read_text() == "new"
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_write_file_keeps_an_executable_bit(ws: Path) -> None:
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    call(ws, "write_file", path="run.sh", content="#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o755


def test_write_file_errors(ws: Path) -> None:
    (ws / "d").mkdir()
    (ws / "f").write_text("x")
    assert "directory" in call(ws, "write_file", path="d", content="x").content
    assert call(ws, "write_file", path="f/child", content="x").is_error
    assert "outside" in call(ws, "write_file", path="../x", content="x").content
    assert not (ws.parent / "x").exists()


# --- list_dir ----------------------------------------------------------------------------


def test_list_dir(ws: Path) -> None:
    (ws / "b.txt").write_text("12345")
    (ws / "a").mkdir()
    (ws / "link").symlink_to("b.txt")
    lines = call(ws, "list_dir").content.splitlines()
    assert lines == ["a/  (dir)", "b.txt  (file, 5 bytes)", "link -> b.txt  (symlink)"]
    assert "empty" in call(ws, "list_dir", path="a").content
    assert call(ws, "list_dir", path="b.txt").is_error
    assert call(ws, "list_dir", path="..").is_error


def test_list_dir_is_capped(ws: Path) -> None:
    for i in range(MAX_LIST_ENTRIES + 20):
        (ws / f"f{i:04d}").touch()
    lines = call(ws, "list_dir").content.splitlines()
    assert len(lines) == MAX_LIST_ENTRIES + 1
    assert lines[0].startswith("f0000") and f"of {MAX_LIST_ENTRIES + 20} entries" in lines[-1]


# --- registry ----------------------------------------------------------------------------


def test_registry_validation_round_trip(ws: Path) -> None:
    result = call(ws, "read_file", path=42)
    assert result.is_error and "path" in result.content and "string" in result.content
    missing = call(ws, "write_file", path="a")
    assert missing.is_error and "content" in missing.content
    extra = call(ws, "list_dir", path=".", recursive=True)
    assert extra.is_error and "recursive" in extra.content
    reg = registry()
    schemas = {s["function"]["name"]: s for s in reg.schemas()}
    assert set(schemas) == {"current_time", "read_file", "write_file", "list_dir"}


# --- exec --------------------------------------------------------------------------------


def test_exec_is_off_by_default() -> None:
    assert "exec" not in [t.name for t in builtin_tools({})]
    assert "exec" not in [t.name for t in builtin_tools({"exec_enabled": False})]
    assert "exec" in [t.name for t in builtin_tools({"exec_enabled": True})]


def test_exec_output_exit_code_and_cwd(ws: Path) -> None:
    (ws / "here.txt").touch()
    result = call(ws, "exec", EXEC_ON, command="ls; echo oops >&2; exit 3")
    assert not result.is_error
    assert result.content.splitlines()[0] == "exit code: 3"
    assert "here.txt" in result.content and "oops" in result.content
    assert call(ws, "exec", EXEC_ON, command="true").content == "exit code: 0\n(no output)"


def test_exec_output_is_capped(ws: Path) -> None:
    result = call(ws, "exec", EXEC_ON, command="seq 1 100000")
    assert "output cut" in result.content
    assert result.content.splitlines()[1] == "1"
    assert result.content.rstrip().endswith("100000")
    assert len(result.content) < 400


def not_running(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it (containers often never do)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_exec_timeout_kills_the_process_group(ws: Path) -> None:
    tool = ExecTool(timeout_s=0.5, max_output=1000)
    ctx = ToolContext("main", ws, "k")
    start = time.monotonic()
    command = "echo started; sleep 30 & echo $! > bg.pid; sleep 30; echo never"
    result = tool.call({"command": command}, ctx)
    assert time.monotonic() - start < 5
    assert result.is_error and "timed out after 0.5 s" in result.content
    assert "started" in result.content and "never" not in result.content
    background = int((ws / "bg.pid").read_text())
    assert not_running(background)  # the backgrounded child went with the group


def test_exec_abort_stops_the_command(ws: Path) -> None:
    ctx = ToolContext("main", ws, "k")
    threading.Timer(0.3, ctx.abort.set).start()
    start = time.monotonic()
    result = ExecTool(timeout_s=30).call({"command": "sleep 30"}, ctx)
    assert time.monotonic() - start < 5
    assert result.is_error and "cancelled" in result.content


def test_exec_environment_hides_secrets() -> None:
    env = child_env({"PATH": "/bin", "OPENAI_API_KEY": "sk-x", "GH_TOKEN": "t", "HOME": "/h"})
    assert env == {"PATH": "/bin", "HOME": "/h"}
