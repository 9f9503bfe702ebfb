"""MCP servers as claw tools: `[mcp.servers.<name>]` → `mcp__<server>__<tool>` tools.

The agent loop is synchronous, the MCP SDK async: each `McpServers` owns one event-loop
thread (an anyio blocking portal), and each server one long-lived task in it that enters
the transport and `ClientSession` contexts, then parks on a stop event, because the SDK's
contexts (cancel scopes, task groups) must be exited by the task that entered them.
A broken server never breaks the agent: it is logged, kept in `errors`, its tools are
left out, and it is retried only after `RETRY_AFTER_S`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import re
import tempfile
import threading
import time
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, PaginatedRequestParams

from claw.agent.tools.base import ToolContext, ToolResult

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60.0  # a failed server is not restarted on every turn
MAX_NAME = 64  # OpenAI's limit on function names
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_GRACE_S = 10.0  # beyond timeout_s: stdio teardown may take ~6 s (stdin close, TERM, KILL)
_POLL_S = 0.05  # how often a waiting call looks at ctx.abort


class _QuietParseErrors(logging.Filter):
    """The SDK logs every stdout line of a stdio server that is not JSON-RPC, traceback
    and all: a server that prints junk would flood the terminal (a thousand lines for a
    two-second start-up). The first one is kept as one line, the rest dropped; what the
    junk leads to (a start-up or a call timing out) is reported anyway."""

    MESSAGE = "Failed to parse JSONRPC message from server"

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.MESSAGE:
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = "mcp: a server wrote a line that is not JSON-RPC (ignored; others not logged)"
        record.args, record.exc_info, record.exc_text = (), None, None
        return True


logging.getLogger("mcp.client.stdio").addFilter(_QuietParseErrors())


@dataclass
class McpTool:
    """One MCP tool as a claw `Tool`; calls go through the owning `McpServers`."""

    name: str
    description: str
    parameters: dict[str, Any]
    server: str
    remote_name: str  # the tool's own (unsanitised) name on the server
    owner: McpServers = field(repr=False)
    own_time_limit = True  # the server's timeout_s, enforced by cancelling the call

    def call(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return self.owner.call(self.server, self.remote_name, args, ctx)


@dataclass
class _Server:
    name: str
    config: dict[str, Any]
    timeout_s: float
    state: str = "not started"  # | "running" | "failed" (the reason is in McpServers.errors)
    failed_at: float = 0.0
    session: ClientSession | None = None
    listed: list[Any] = field(default_factory=list)  # mcp_types.Tool
    settled: threading.Event = field(default_factory=threading.Event)  # started or failed
    stop: anyio.Event | None = None  # made inside the loop: it needs a running backend
    task: concurrent.futures.Future[None] | None = None


class McpServers(AbstractContextManager["McpServers"]):
    """The configured MCP servers of one agent process; see the module docstring."""

    def __init__(self, servers: dict[str, dict[str, Any]], log_dir: Path | None = None) -> None:
        self._servers = {
            name: _Server(name, dict(conf), float(conf.get("timeout_s") or 30))
            for name, conf in (servers or {}).items()
            if conf.get("enabled", True)
        }
        self._log_dir = log_dir  # stdio servers' stderr: <log_dir>/mcp-<name>.log, or a temp file
        self._lock = threading.RLock()
        self._exit = ExitStack()  # holds the portal (and so the loop thread) open
        self._portal: BlockingPortal | None = None
        self._closed = False
        self.errors: dict[str, str] = {}

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tools(self) -> list[McpTool]:
        """Start what is not running yet (in parallel, bounded), then list every tool."""
        with self._lock:
            if self._closed:
                return []
            retry = time.monotonic() - RETRY_AFTER_S
            due = [s for s in self._servers.values() if s.state != "running"]
            due = [s for s in due if s.state == "not started" or s.failed_at <= retry]
            self._start(due)
            return self._as_tools()

    def call(self, server: str, tool: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Call one tool, bounded by timeout_s; ctx.abort cancels the call."""
        srv = self._servers.get(server)
        portal, session = self._portal, srv and srv.session
        if srv is None or portal is None or session is None or srv.state != "running":
            why = f": {self.errors[server]}" if server in self.errors else ""
            return ToolResult(f"MCP server {server!r} is not running{why}", is_error=True)
        future = portal.start_task_soon(self._call, srv, session, tool, args)
        deadline = time.monotonic() + srv.timeout_s + _GRACE_S  # a backstop: _call bounds itself
        while not ctx.abort.is_set() and time.monotonic() < deadline:
            with suppress(concurrent.futures.TimeoutError):
                return future.result(timeout=_POLL_S)
        future.cancel()  # cancels the task in the loop, which tells the server
        what = "was cancelled" if ctx.abort.is_set() else "timed out"
        return ToolResult(f"MCP tool {server}/{tool} {what}", is_error=True)

    def status(self) -> dict[str, str]:
        """Per server: "running", "failed: <reason>" or "not started"."""
        failed = {n: f"failed: {why}" for n, why in dict(self.errors).items()}  # a snapshot
        return {n: failed.get(n, s.state) for n, s in self._servers.items()}

    def close(self) -> None:
        """Stop every server (their child processes too) and the loop thread. Idempotent."""
        with self._lock:
            self._closed, portal, self._portal = True, self._portal, None
            if portal is None:
                return  # never started, or closed already
            tasks = [s.task for s in self._servers.values() if s.task and not s.task.done()]
            for stop in [s.stop for s in self._servers.values() if s.stop is not None]:
                portal.call(stop.set)
            concurrent.futures.wait(tasks, timeout=_GRACE_S)
            for task in tasks:
                task.cancel()  # only a wedged teardown gets here
            self._exit.close()

    def _start(self, due: list[_Server]) -> None:
        if self._portal is None and due:
            self._portal = self._exit.enter_context(start_blocking_portal())
        for srv in due:
            srv.state, srv.listed, srv.stop = "not started", [], None
            srv.settled = threading.Event()  # a late set() by an old task cannot reach it
            self.errors.pop(srv.name, None)
            if bool(srv.config.get("command")) == bool(srv.config.get("url")):
                self._fail(srv, "needs exactly one of `command` (stdio) or `url` (HTTP)")
            else:
                srv.task = self._portal.start_task_soon(self._serve, srv)
        deadline = time.monotonic() + max((s.timeout_s for s in due), default=0) + _GRACE_S
        for srv in due:  # a backstop: _serve bounds itself
            if not srv.settled.wait(max(0.0, deadline - time.monotonic())) and srv.task:
                self._fail(srv, "start-up did not finish")
                srv.task.cancel()

    async def _serve(self, srv: _Server) -> None:
        """The one task that owns this server's contexts, from connect to shutdown."""
        srv.stop = stop = anyio.Event()
        errlog = self._errlog(srv) if srv.config.get("command") else None
        offset = errlog.tell() if errlog else 0
        try:
            async with AsyncExitStack() as stack:
                try:  # fail (and free tools()) before the teardown, which may take seconds
                    session, listed = await _connect(stack, srv, errlog)
                    srv.listed = [t for t in listed if _schema_ok(srv.name, t)]
                except Exception as e:
                    self._fail(srv, _reason(e, srv, errlog, offset))
                    raise
                srv.session, srv.state = session, "running"
                log.info("mcp: server %r running with %d tools", srv.name, len(srv.listed))
                srv.settled.set()
                await stop.wait()
        except Exception as e:
            if srv.stop is stop and srv.state != "failed":  # not superseded by a restart
                self._fail(srv, _reason(e, srv, errlog, offset))
        finally:
            if srv.stop is stop and srv.state == "running":  # closed: no stale "running"
                srv.state, srv.session = "not started", None
            if errlog:
                errlog.close()

    def _fail(self, srv: _Server, reason: str) -> None:
        srv.state, srv.failed_at, self.errors[srv.name] = "failed", time.monotonic(), reason
        log.warning("mcp: server %r failed: %s", srv.name, reason)
        srv.settled.set()

    def _errlog(self, srv: _Server) -> IO[str]:
        """Where a stdio server's stderr goes: never the user's terminal."""
        if self._log_dir is None:
            return tempfile.TemporaryFile("a+", errors="replace")
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return (self._log_dir / f"mcp-{_UNSAFE.sub('_', srv.name)}.log").open("a+")

    async def _call(
        self, srv: _Server, session: ClientSession, tool: str, args: dict[str, Any]
    ) -> ToolResult:
        """Never raises (but for cancellation): every outcome is a ToolResult."""
        try:
            with anyio.fail_after(srv.timeout_s):
                result = await session.call_tool(tool, args)
        except TimeoutError:
            msg = f"MCP tool {srv.name}/{tool} timed out after {srv.timeout_s:g}s"
            return ToolResult(msg, is_error=True)
        except Exception as e:
            leaf = _leaf(e)
            why = f"{type(leaf).__name__}: {leaf}".rstrip(": ")
            closed = getattr(leaf, "code", None) == CONNECTION_CLOSED  # an MCPError
            dead = closed or isinstance(leaf, anyio.ClosedResourceError | anyio.BrokenResourceError)
            if dead and srv.session is session:  # a restart is due after RETRY_AFTER_S
                self._fail(srv, f"connection lost: {why}")
                if srv.stop is not None:
                    srv.stop.set()
            what = "server connection lost" if dead else "call failed"
            return ToolResult(f"MCP tool {srv.name}/{tool}: {what}: {why}", True)
        return ToolResult(_render(result.content), is_error=bool(result.is_error))

    def _as_tools(self) -> list[McpTool]:
        """Running servers' tools as `mcp__<server>__<tool>`, sanitised to [A-Za-z0-9_-].

        A name over 64 characters or clashing with an earlier one (`a.b`, `a_b`) is cut and
        ends in a hash of server/tool: stable across runs. A clash even then drops the tool.
        """
        out: list[McpTool] = []
        taken: set[str] = set()
        for srv in (s for s in self._servers.values() if s.state == "running"):
            for t in srv.listed:
                name = _UNSAFE.sub("_", f"mcp__{srv.name}__{t.name}")
                if len(name) > MAX_NAME or name in taken:
                    digest = hashlib.sha1(f"{srv.name}/{t.name}".encode()).hexdigest()[:8]
                    name = f"{name[: MAX_NAME - 9]}_{digest}"
                if name in taken:
                    log.warning("mcp: skipping tool %r of %r: name clash", t.name, srv.name)
                    continue
                taken.add(name)
                desc = t.description or f"{t.name} (from MCP server {srv.name})"
                out.append(McpTool(name, desc, _parameters(t), srv.name, t.name, self))
        return out


def _parameters(tool: Any) -> dict[str, Any]:
    """A tool's input schema as a tool `parameters` object schema."""
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    schema = schema if schema.get("type", "object") == "object" else {}  # must be
    return {"type": "object", "properties": {}, **schema}


def _schema_ok(server: str, tool: Any) -> bool:
    """Is the tool's schema a valid JSON schema? A server's garbage schema would crash
    argument validation mid-turn and make a hosted provider refuse every request that
    offers the tool, so such a tool is left out (with a warning), not the whole server."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(_parameters(tool))
    except jsonschema.SchemaError as e:
        log.warning(
            "mcp: skipping tool %r of %r: invalid input schema: %s", tool.name, server, e.message
        )
        return False
    return True


async def _connect(stack: AsyncExitStack, srv: _Server, errlog: Any) -> tuple[ClientSession, list]:
    """Open transport and session on `stack` (they close with it), then list the tools."""
    conf = srv.config
    if conf.get("command"):
        extra = {k: str(v) for k, v in (conf.get("env") or {}).items()}
        env = get_default_environment() | extra  # a minimal safe env (PATH, HOME...) + config's
        args = [str(a) for a in conf.get("args") or []]
        params = StdioServerParameters(command=conf["command"], args=args, env=env)
        read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    else:
        timeout = httpx2.Timeout(srv.timeout_s, read=300.0)  # reads: long-lived SSE streams
        client = httpx2.AsyncClient(headers=conf.get("headers") or {}, timeout=timeout)
        await stack.enter_async_context(client)
        transport = streamable_http_client(conf["url"], http_client=client)
        read, write = await stack.enter_async_context(transport)
    session = await stack.enter_async_context(ClientSession(read, write))
    with anyio.fail_after(srv.timeout_s):  # wraps no context entry: cancel scopes stay nested
        await session.initialize()
        page = await session.list_tools()
        tools = list(page.tools)
        while page.next_cursor:
            page = await session.list_tools(params=PaginatedRequestParams(cursor=page.next_cursor))
            tools.extend(page.tools)
    return session, tools


def _render(content: list[Any]) -> str:
    """Text as is; what a text-only model cannot read as a placeholder: [image], [resource uri]."""
    parts = []
    for block in content:
        uri = getattr(getattr(block, "resource", block), "uri", None)  # resource or resource_link
        kind = getattr(block, "type", "content")
        parts.append(block.text if kind == "text" else f"[resource {uri}]" if uri else f"[{kind}]")
    return "\n".join(parts)


def _leaf(e: BaseException) -> BaseException:  # the first error in the SDK's nested groups
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def _reason(e: BaseException, srv: _Server, errlog: IO[str] | None, offset: int) -> str:
    """Why start-up failed, plus the server's last stderr line: often the real cause."""
    lines: list[str] = []
    with suppress(OSError, ValueError):
        if errlog is not None:
            errlog.seek(offset)
            lines = [line.strip() for line in errlog.read().splitlines() if line.strip()]
    leaf = _leaf(e)
    if isinstance(leaf, TimeoutError):
        reason = f"no answer within {srv.timeout_s:g}s"
    elif isinstance(leaf, FileNotFoundError):
        reason = f"command not found: {srv.config.get('command')}"
    elif isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
        reason = "connection closed (did the server exit?)"
    else:
        reason = f"{type(leaf).__name__}: {leaf}".rstrip(": ")
    return f"{reason} (stderr: {lines[-1][:200]})" if lines else reason
