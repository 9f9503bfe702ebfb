"""Keeping file tools inside the agent's workspace.

The model chooses the paths, and the model reads untrusted text (web pages, mail, skills), so
a path is hostile until proven otherwise. Containment is decided on *real* paths: both the
workspace and the target are resolved through every symbolic link before comparing them by
path components. A string-prefix test would let `/ws-evil` pass for `/ws`, and a lexical test
would let `link/secret` through when `link` points at `/etc`.

What is left is a race: a symlink swapped in between this check and the open. The exec tool,
when enabled, can do far more than that anyway; without it nothing the model can do creates
symlinks, so the check is sound for the file tools on their own.
"""

from __future__ import annotations

import os
from pathlib import Path


class ToolError(Exception):
    """A refusal the model can act on: the message says what was wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def real_workspace(workspace: Path) -> Path:
    """The workspace with every symlink resolved (it may itself live behind one)."""
    return Path(os.path.realpath(workspace))


def resolve_in_workspace(workspace: Path, user_path: str, *, must_exist: bool = False) -> Path:
    """The real path `user_path` names, or ToolError if it is not inside `workspace`.

    Relative paths are taken from the workspace; absolute ones are accepted only when they
    resolve inside it. The returned path has no symlinks left in it, so opening it cannot
    be redirected elsewhere (barring the race described in the module docstring).
    """
    if not isinstance(user_path, str) or not user_path.strip():
        raise ToolError("the path is empty; give a path relative to the workspace, e.g. 'notes.md'")
    if "\x00" in user_path:
        raise ToolError(f"the path {user_path!r} contains a NUL byte; paths cannot contain one")
    if user_path.startswith("~"):
        raise ToolError(
            f"'{user_path}': '~' is not expanded; paths are relative to the workspace "
            "(use e.g. 'notes.md', not '~/notes.md')"
        )
    ws = real_workspace(workspace)
    given = Path(user_path)
    candidate = given if given.is_absolute() else ws / given
    try:
        target = Path(os.path.realpath(candidate))
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops on some versions
        raise ToolError(f"'{user_path}' cannot be resolved: {e}") from None
    if not _inside(target, ws):
        raise ToolError(_escape_message(user_path, candidate, ws))
    if must_exist and not os.path.lexists(target):
        raise ToolError(f"'{user_path}' does not exist in the workspace (try list_dir)")
    return target


def relative_name(workspace: Path, target: Path) -> str:
    """How to show a resolved path to the model: relative to the workspace, '.' for itself."""
    try:
        rel = target.relative_to(real_workspace(workspace))
    except ValueError:
        return str(target)
    return str(rel) if rel.parts else "."


def _inside(target: Path, ws: Path) -> bool:
    return target == ws or ws in target.parents


def _escape_message(user_path: str, candidate: Path, ws: Path) -> str:
    lexical = Path(os.path.normpath(candidate))
    if _inside(lexical, ws):
        why = "it goes through a symbolic link that points outside the workspace"
    elif Path(user_path).is_absolute():
        why = "it is an absolute path outside the workspace"
    else:
        why = "'..' takes it outside the workspace"
    return (
        f"'{user_path}' is outside the workspace: {why}. File tools only work inside the "
        "workspace; use a path relative to it, e.g. 'notes/todo.md'"
    )
