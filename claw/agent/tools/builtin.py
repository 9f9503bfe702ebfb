"""The built-in tools: the clock, files in the workspace, and (only when enabled) a shell.

Each tool turns its failures into an error result with a message the model can act on
("'x' is a directory; use list_dir"), because the model, not the user, is the one who can
fix the call. File tools are confined to the workspace by `resolve_in_workspace`.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claw.agent.tools.base import (
    MAX_RESULT_CHARS,
    Tool,
    ToolContext,
    ToolResult,
    object_schema,
)
from claw.agent.tools.paths import ToolError, relative_name, resolve_in_workspace
from claw.agent.tools.shell import ExecTool
from claw.state.atomic import atomic_write_text
from claw.state.home import make_private_dir

MAX_READ_BYTES = 1024 * 1024
MAX_LIST_ENTRIES = 500
_BINARY_SNIFF = 8192


def _error(e: ToolError | str) -> ToolResult:
    return ToolResult(e.message if isinstance(e, ToolError) else e, is_error=True)


def local_now(timezone: str | None) -> tuple[datetime, str]:
    """Now in the user's zone (an IANA name) or the system's; and that zone's name.

    Public so the runner can put the same local time in the prompt's runtime facts.
    Raises ToolError naming an unknown zone.
    """
    zone: tzinfo | None
    if timezone:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolError(
                f"unknown time zone {timezone!r} (user.timezone); use an IANA name such as "
                "Europe/Paris, or unset it to use the system's zone"
            ) from None
        return datetime.now(zone), timezone
    now = datetime.now().astimezone()
    return now, _system_zone_name() or now.tzname() or "local"


def _system_zone_name() -> str | None:
    # The IANA name is nicer than "CET"; Linux exposes it as TZ or the /etc/localtime link.
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/"):
        return tz
    try:
        link = os.readlink("/etc/localtime")
    except OSError:
        return None
    return link.split("zoneinfo/", 1)[1] if "zoneinfo/" in link else None


class CurrentTimeTool:
    name = "current_time"
    description = "The current date and time in the user's time zone (ISO 8601, weekday, zone)."
    parameters = object_schema({})

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            now, zone = local_now(ctx.timezone)
        except ToolError as e:
            return _error(e)
        offset = now.strftime("%z")
        offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        return ToolResult(
            f"time: {now.isoformat(timespec='seconds')}\n"
            f"weekday: {now:%A}\n"
            f"zone: {zone} ({now.tzname()}, {offset})"
        )


class ReadFileTool:
    name = "read_file"
    description = (
        "Read a text file in the workspace. Optional offset (first line, 1-based) and limit "
        "(number of lines) read part of a long file."
    )
    parameters = object_schema(
        {
            "path": {"type": "string", "description": "Path relative to the workspace."},
            "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
            "limit": {"type": "integer", "minimum": 1, "description": "Most lines to return."},
        },
        ("path",),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = args["path"]
        try:
            target = resolve_in_workspace(ctx.workspace, path, must_exist=True)
            text = _read_text(target, path)
        except ToolError as e:
            return _error(e)
        except OSError as e:
            return _error(f"cannot read '{path}': {e.strerror or e}")
        lines = text.splitlines(keepends=True)
        if not lines:
            return ToolResult(f"('{path}' is empty)")
        first = args.get("offset", 1)
        if first > len(lines):
            return _error(f"offset {first} is past the end of '{path}' ({len(lines)} lines)")
        last = min(len(lines), first - 1 + args.get("limit", len(lines)))
        budget = int(ctx.settings.get("max_result_chars", MAX_RESULT_CHARS)) - 200
        out: list[str] = []
        size = 0
        for i in range(first - 1, last):
            if out and size + len(lines[i]) > budget:
                last = i  # stop at a line boundary before the registry cuts mid-line
                break
            out.append(lines[i])
            size += len(lines[i])
        body = "".join(out)
        if first > 1 or last < len(lines):
            more = f"; call again with offset={last + 1} for more" if last < len(lines) else ""
            body += f"\n[lines {first}-{last} of {len(lines)}{more}]"
        return ToolResult(body)


def _read_text(target: Path, shown: str) -> str:
    st = target.stat()
    if stat.S_ISDIR(st.st_mode):
        raise ToolError(f"'{shown}' is a directory; use list_dir to see what it holds")
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"'{shown}' is not a regular file")
    if st.st_size > MAX_READ_BYTES:
        raise ToolError(
            f"'{shown}' is {st.st_size:,} bytes; read_file reads files up to 1 MB "
            "(use exec with head, grep or similar if it is enabled)"
        )
    data = target.read_bytes()
    binary = ToolError(f"'{shown}' is a binary file (not UTF-8 text); read_file reads text only")
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise binary
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise binary from None


class WriteFileTool:
    name = "write_file"
    description = (
        "Write a text file in the workspace, replacing it (or appending with append=true). "
        "Missing parent directories are created."
    )
    parameters = object_schema(
        {
            "path": {"type": "string", "description": "Path relative to the workspace."},
            "content": {"type": "string", "description": "The text to write."},
            "append": {"type": "boolean", "description": "Add to the end instead of replacing."},
        },
        ("path", "content"),
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path, content = args["path"], args["content"]
        try:
            target = resolve_in_workspace(ctx.workspace, path)
            if target.is_dir():
                raise ToolError(f"'{path}' is a directory; give a file path inside it")
            if not target.parent.exists():
                make_private_dir(target.parent)
            elif not target.parent.is_dir():
                raise ToolError(f"cannot create '{path}': a parent of it is a file")
            data = content.encode("utf-8")
            if args.get("append"):
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                fd = os.open(target, flags, 0o600)
                with os.fdopen(fd, "ab") as f:
                    f.write(data)
                verb = "appended"
            else:
                # Keep the mode of a file being replaced (a script stays executable).
                mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
                atomic_write_text(target, content, mode=mode)
                verb = "wrote"
        except ToolError as e:
            return _error(e)
        except OSError as e:
            return _error(f"cannot write '{path}': {e.strerror or e}")
        return ToolResult(f"{verb} {len(data)} bytes to {relative_name(ctx.workspace, target)}")


class ListDirTool:
    name = "list_dir"
    description = "List a directory in the workspace: each entry's name, type and size."
    parameters = object_schema(
        {"path": {"type": "string", "description": "Directory relative to the workspace."}}
    )

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = args.get("path") or "."
        try:
            target = resolve_in_workspace(ctx.workspace, path, must_exist=True)
            if not target.is_dir():
                raise ToolError(f"'{path}' is a file, not a directory; use read_file")
            with os.scandir(target) as it:
                entries = sorted(it, key=lambda e: e.name)
            lines = [_describe(e) for e in entries[:MAX_LIST_ENTRIES]]
        except ToolError as e:
            return _error(e)
        except OSError as e:
            return _error(f"cannot list '{path}': {e.strerror or e}")
        if not entries:
            return ToolResult(f"('{path}' is empty)")
        if len(entries) > MAX_LIST_ENTRIES:
            lines.append(
                f"[showing the first {MAX_LIST_ENTRIES} of {len(entries)} entries, sorted by "
                "name; list a subdirectory or use exec to see the rest]"
            )
        return ToolResult("\n".join(lines))


def _describe(entry: os.DirEntry[str]) -> str:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return f"{entry.name}  (unreadable)"
    if stat.S_ISLNK(st.st_mode):
        try:
            dest = os.readlink(entry.path)
        except OSError:
            dest = "?"
        return f"{entry.name} -> {dest}  (symlink)"
    if stat.S_ISDIR(st.st_mode):
        return f"{entry.name}/  (dir)"
    if stat.S_ISREG(st.st_mode):
        return f"{entry.name}  (file, {st.st_size} bytes)"
    return f"{entry.name}  (other)"


def builtin_tools(settings: dict[str, Any]) -> list[Tool]:
    """The built-in tools for a [tools] config section; exec only with exec_enabled."""
    tools: list[Tool] = [CurrentTimeTool(), ReadFileTool(), WriteFileTool(), ListDirTool()]
    if settings.get("exec_enabled", False):
        tools.append(
            ExecTool(
                timeout_s=float(settings.get("exec_timeout_s", 30)),
                max_output=int(settings.get("exec_max_output", 8_000)),
            )
        )
    return tools
