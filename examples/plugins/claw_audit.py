"""An example claw plugin: log every tool call, refuse `exec` of `rm -rf`, redact secrets.

Enable it by putting this file on PYTHONPATH and adding to config.toml:
    plugins = ["claw_audit"]
"""

from __future__ import annotations

import logging
import re
from typing import Any

from claw.agent.hooks import HookContext, hookimpl

log = logging.getLogger("claw_audit")
SECRET = re.compile(r"(sk-[A-Za-z0-9]{8,}|ghp_[A-Za-z0-9]{20,})")


@hookimpl
def before_tool_call(ctx: HookContext, name: str, args: dict[str, Any]) -> dict | None:
    log.info("%s: %s(%s)", ctx.session_key, name, args)
    if name == "exec" and "rm -rf" in str(args.get("command", "")):
        return {"block": "rm -rf is not allowed by the audit plugin"}
    return None


@hookimpl
def tool_result_persist(ctx: HookContext, name: str, result_text: str) -> str | None:
    return SECRET.sub("[redacted]", result_text)
