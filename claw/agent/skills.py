"""Skills: `skills/<name>/SKILL.md` files in an agent's workspace, read on demand.

The format is the one OpenClaw and nanobot use, so their skills work here unchanged: YAML
front matter between `---` lines with `name` and `description` (other keys such as
`metadata`, `homepage` or `user-invocable` are kept, not interpreted), then a Markdown body.
Only the names and descriptions go into the system prompt; the model reads a body with the
`skill_read` tool when it needs it, which keeps the prompt small however many skills exist.

Skills are often downloaded, so they are untrusted text: the front matter is parsed with
`yaml.safe_load`'s loader (no tags that build objects) minus aliases, names are validated
like every name that could become a path, and nothing in a skill is ever executed. A broken
skill is skipped with a warning naming its file rather than breaking every turn.

Loading is cached on the mtimes and sizes of the skill files, so calling `load_skills` on
every turn costs a directory scan and a few stats, and an edit is seen on the next turn.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from claw.agent.tools.base import ToolContext, ToolResult
from claw.errors import InvalidName, NotFound
from claw.state.names import validate_simple_name

SKILLS_DIR = "skills"
SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 256 * 1024  # a skill is instructions, not a data dump


@dataclass
class Skill:
    name: str
    description: str
    path: Path
    body_chars: int
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # other front-matter keys, as is


@dataclass
class SkillSet:
    skills: list[Skill] = field(default_factory=list)  # sorted by name
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # path: stat

    def version_of(self, warning: str) -> tuple[int, int, int] | None:
        """(mtime_ns, size, inode) of the SKILL.md a warning names (warnings start with
        the path); None for a warning about no file (a directory without SKILL.md)."""
        return next((v for p, v in self.versions.items() if warning.startswith(p + ":")), None)

    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    def get(self, name: str) -> Skill | None:
        return next((s for s in self.skills if s.name == name), None)


class SkillError(ValueError):
    """Why one SKILL.md was skipped."""


class _FrontMatterLoader(yaml.SafeLoader):
    """`yaml.safe_load` without aliases. An alias (`*name`) lets a few lines of untrusted
    YAML build a cyclic value (nothing can serialise it) or a billion-element one (an
    "alias bomb": minutes to write out); no skill needs one, so one makes the skill malformed.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a skill", mark
            )
        return super().compose_node(parent, index)


_Fingerprint = tuple[tuple[tuple[str, int, int, int], ...], tuple[str, ...]]
_cache: dict[Path, tuple[_Fingerprint, SkillSet]] = {}
_lock = threading.Lock()
_logged: set[tuple[str, tuple[int, int, int] | None]] = set()
_LOGGED_MAX = 10_000  # then start afresh: a few repeats beat unbounded growth


def skills_dir(workspace: Path) -> Path:
    return workspace / SKILLS_DIR


def load_skills(workspace: Path) -> SkillSet:
    """Every valid skill in the workspace, and a warning for each one skipped."""
    root = skills_dir(workspace)
    files, warnings = _scan(root)
    fingerprint = (tuple(files), tuple(warnings))
    key = root.absolute()
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == fingerprint:
            return hit[1]
    result = _load(files, warnings)
    with _lock:
        _cache[key] = (fingerprint, result)
    return result


def log_warnings(found: SkillSet, logger: logging.Logger) -> None:
    """Log each warning once per process and version of the file it names.

    Skills are loaded on every turn; a daemon would otherwise repeat a broken skill's
    warning on each one. An edit that leaves the skill broken is a new version (mtime,
    size), so it is reported again. `claw skills list` shows every warning regardless.
    """
    for warning in found.warnings:
        key = (warning, found.version_of(warning))
        with _lock:
            if key in _logged:
                continue
            if len(_logged) >= _LOGGED_MAX:
                _logged.clear()
            _logged.add(key)
        logger.warning("%s", warning)


def read_skill(workspace: Path, name: str) -> str:
    """A skill's body (the Markdown after the front matter); NotFound lists the names."""
    validate_simple_name(name, "skill name")
    found = load_skills(workspace)
    skill = found.get(name)
    if skill is None:
        names = ", ".join(found.names()) or "none"
        raise NotFound(f"no skill named {name!r}; available skills: {names}")
    try:
        _, body = parse_skill(skill.path.read_text(encoding="utf-8"), skill.path.parent.name)
    except (OSError, UnicodeDecodeError, SkillError) as e:
        raise NotFound(f"skill {name!r} cannot be read ({skill.path}): {e}") from None
    return body


def parse_skill(text: str, dir_name: str) -> tuple[dict[str, Any], str]:
    """Split SKILL.md into its front matter (validated) and body; SkillError if malformed."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SkillError("it does not start with a '---' front-matter line")
    end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() in ("---", "...")), None)
    if end is None:
        raise SkillError("the front matter has no closing '---' line")
    try:
        meta = yaml.load("".join(lines[1:end]), Loader=_FrontMatterLoader)  # safe: a SafeLoader
    except yaml.YAMLError as e:
        raise SkillError(f"invalid YAML front matter: {_one_line(str(e))}") from None
    if not isinstance(meta, dict):
        raise SkillError("the front matter is not a mapping of keys to values")
    name = meta.get("name") or dir_name  # OpenClaw requires it; a missing one is forgiven
    if not isinstance(name, str):
        raise SkillError("'name' must be text")
    try:
        validate_simple_name(name, "skill name")
    except InvalidName as e:
        raise SkillError(e.message) from None
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SkillError("'description' is missing or empty (it tells the model when to use it)")
    meta["name"], meta["description"] = name, " ".join(description.split())
    return meta, "".join(lines[end + 1 :]).lstrip("\n")


def _scan(root: Path) -> tuple[list[tuple[str, int, int, int]], list[str]]:
    """(path, mtime_ns, size, inode) for each skills/*/SKILL.md, sorted; plus warnings."""
    files: list[tuple[str, int, int, int]] = []
    warnings: list[str] = []
    try:
        with os.scandir(root) as it:
            dirs = sorted(
                (e for e in it if not e.name.startswith(".") and _is_dir(e)), key=lambda e: e.name
            )
    except FileNotFoundError:
        return files, warnings
    except OSError as e:
        return files, [f"{root}: cannot list the skills directory: {e.strerror or e}"]
    for entry in dirs:
        path = os.path.join(entry.path, SKILL_FILE)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            warnings.append(f"{entry.path}: no {SKILL_FILE} in this skill directory; skipped")
            continue
        except OSError as e:
            warnings.append(f"{path}: cannot read: {e.strerror or e}; skipped")
            continue
        files.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
    return files, warnings


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks: a linked shared skill is fine
    except OSError:
        return False


def _load(files: list[tuple[str, int, int, int]], warnings: list[str]) -> SkillSet:
    by_name: dict[str, Skill] = {}
    warnings = list(warnings)
    for path_text, _, size, _ in files:
        path = Path(path_text)
        try:
            if size > MAX_SKILL_BYTES:
                raise SkillError(f"it is {size:,} bytes; a skill may be {MAX_SKILL_BYTES:,}")
            meta, body = parse_skill(path.read_text(encoding="utf-8"), path.parent.name)
        except (OSError, UnicodeDecodeError) as e:
            warnings.append(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}; skipped")
            continue
        except SkillError as e:
            warnings.append(f"{path}: {e}; skipped")
            continue
        name = meta.pop("name")
        if name in by_name:
            first = by_name[name].path
            warnings.append(f"{path}: skill name {name!r} is already used by {first}; skipped")
            continue
        by_name[name] = Skill(
            name=name,
            description=meta.pop("description"),
            path=path,
            body_chars=len(body),
            metadata=_metadata(meta.pop("metadata", None)),
            extra=meta,
        )
    return SkillSet(
        skills=sorted(by_name.values(), key=lambda s: s.name),
        warnings=warnings,
        versions={f[0]: (f[1], f[2], f[3]) for f in files},
    )


def _metadata(value: Any) -> dict[str, Any]:
    # OpenClaw writes `metadata: {"openclaw": {...}}`, which YAML reads as a mapping; some
    # skills quote it as a JSON string instead. Anything else is kept under "value".
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {} if value is None else {"value": value}


def _one_line(text: str) -> str:
    return " ".join(text.split())


class SkillReadTool:
    """`skill_read`: the model reads a skill's instructions when it decides to use it."""

    name = "skill_read"
    description = (
        "Read a skill's full instructions by name (the skills are listed in the system "
        "prompt). Read a skill before doing the task it describes."
    )

    def __init__(self, workspace: Path | None = None) -> None:
        self.workspace = workspace  # None: the workspace of the calling context
        self.parameters: dict[str, Any] = {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "The skill's name."}},
            "required": ["name"],
            "additionalProperties": False,
        }

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            body = read_skill(self.workspace or ctx.workspace, args["name"])
        except (NotFound, InvalidName) as e:
            return ToolResult(e.message, is_error=True)
        return ToolResult(body or "(this skill has no instructions beyond its description)")
