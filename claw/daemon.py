"""The `claw serve` daemon around the gateway, and the helpers `claw status` / `claw stop` use.

The daemon runs in the foreground (the systemd way: no forking, logs to stderr and
`logs/daemon.log`). One daemon per state directory: `locks/daemon.lock` is held for its whole
life, so a second one refuses instead of fighting over sessions. The kernel releases the lock
when the process dies, even on SIGKILL, so a crashed daemon never blocks the next start; the
`gateway.json` it leaves behind is recognised as stale (its pid is gone) and overwritten.

`gateway.json` (pid, host, port, started_at, version) is how other shells find the daemon:
`status` and `stop` need no trio, only that file, the pid, a lock probe and one HTTP call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from claw import __version__
from claw.errors import ClawError
from claw.state.atomic import atomic_write_text
from claw.state.home import FILE_MODE, Home, make_private_dir
from claw.state.locks import Timeout, file_lock

if TYPE_CHECKING:  # the client imports this module to find the daemon: keep it light
    from claw.state.config import Config

log = logging.getLogger("claw.daemon")
STATUS_TIMEOUT_S = 2.0  # `claw status` must answer quickly even if the daemon is wedged
PROBE_WAIT_S = 0.1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def info_file(home: Home) -> Path:
    return home.root / "gateway.json"


def log_file(home: Home) -> Path:
    return home.logs_dir / "daemon.log"


def http_address(host: str, port: int) -> str:
    """http://HOST:PORT as a URL: an IPv6 host goes in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_daemon(
    home: Home,
    config_loader: Callable[[], Config],
    *,
    host: str,
    port: int,
    grace_s: float = 10.0,
    on_ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (then drain and return normally: exit status 0).

    `config_loader` is called once now and again on every SIGHUP, so a reload reads
    config.toml and the CLAW_* environment exactly as startup did.
    """
    make_private_dir(home.locks_dir)
    lock = file_lock(home.locks_dir / "daemon.lock", timeout=0)
    try:  # not quite 0: `status`/`stop` probe the lock for microseconds, a daemon for good
        lock.acquire(timeout=PROBE_WAIT_S, poll_interval=0.02)
    except Timeout:
        raise _already_running(home) from None
    handler = _add_file_handler(home)
    written = False

    async def main(config: Config) -> None:
        nonlocal written
        from claw.gateway.serve import serve  # here: status/stop never load the server

        # Open before the server starts, so a SIGTERM during startup still drains.
        with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async with trio.open_nursery() as nursery:
                reload = partial(_reload, config, config_loader)  # also on config.toml changes
                server = trio.CancelScope()  # cancelled by the first SIGTERM/SIGINT: drains
                hurry = trio.Event()  # set by the second: running turns are aborted now
                serving = partial(
                    serve,
                    home,
                    config,
                    host=host,
                    port=port,
                    grace_s=grace_s,
                    reload=reload,
                    hurry=hurry,
                )

                async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                    with server:
                        await serving(task_status=task_status)
                    nursery.cancel_scope.cancel()  # drained: stop listening for signals

                bound = await nursery.start(run)
                _write_info(home, host, bound)
                written = True
                log.info(
                    "claw daemon pid %d serving %s on %s:%d", os.getpid(), home.root, host, bound
                )
                if on_ready is not None:
                    on_ready(host, bound)
                nursery.start_soon(warm_up)
                # Listen until the drain is over: a signal left unread when the receiver
                # closes is re-raised with its default action, which kills the process.
                # A second SIGTERM/SIGINT (Ctrl-C twice) cuts the grace period short; the
                # daemon still aborts its turns cleanly and exits 0.
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if server.cancel_called and signum == signal.SIGHUP:
                        log.info("SIGHUP received while draining: ignored")
                    elif server.cancel_called:
                        log.info("%s received again: aborting running turns now", name)
                        hurry.set()
                    elif signum == signal.SIGHUP:
                        await _reload(config, config_loader)
                    else:
                        log.info("%s received: draining", name)
                        server.cancel()  # serve drains (shielded), then returns

    with _late_signals_ignored():  # until gateway.json is gone and the lock released
        try:
            _run_trio(main, config_loader(), host, port)
            log.info("claw daemon stopped")
        finally:
            if written:
                with contextlib.suppress(FileNotFoundError):
                    info_file(home).unlink()
            logging.getLogger("claw").removeHandler(handler)
            handler.close()
            lock.release()


def _run_trio(main: Callable[[Config], Any], config: Config, host: str, port: int) -> None:
    try:
        trio.run(main, config)
    except (OSError, BaseExceptionGroup) as e:
        err: BaseException = e  # trio wraps task errors in groups: show the one that happened
        while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
            err = err.exceptions[0]
        if isinstance(err, OSError):  # the port is taken, the address is not ours, …
            raise ClawError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
        raise err from None


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextlib.contextmanager
def _late_signals_ignored() -> Iterator[None]:
    """Signals that come outside trio's receiver are logged and ignored, not fatal.

    When the drain is over the receiver closes, and trio redelivers what it still holds to
    the handlers that were there before it: with the defaults, a last SIGTERM (Ctrl-C
    three times, systemd signalling the whole group) killed a daemon that had finished
    draining, before it removed gateway.json. (Also the instants before the receiver
    opens.) Python-level handlers are reset at exec, so child processes keep the defaults.
    """

    def late(signum: int, _frame: Any) -> None:
        log.info("%s received while stopping: ignored", signal.Signals(signum).name)

    saved = {signum: signal.signal(signum, late) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


async def warm_up() -> None:
    """Load the turn path now, in a worker thread, so the first chat does not pay for it:
    importing litellm (~2 s), and its own first call, which imports and builds more
    (~0.3 s; made on the offline echo model, nothing is stored). Then settle the heap."""
    try:
        await trio.to_thread.run_sync(_load_turn_path, abandon_on_cancel=True)
        await trio.to_thread.run_sync(settle_heap, abandon_on_cancel=True)
    except Exception:  # a failed warm-up only means the first turn pays the import
        log.debug("warm-up failed", exc_info=True)


def _load_turn_path() -> None:
    from claw.agent.models import litellm
    from claw.supervisor.dispatch import supervise  # noqa: F401 (imported to load it)

    litellm().completion(model="echo/echo", messages=[{"role": "user", "content": "warm"}])


def settle_heap() -> None:
    """Move what is loaded by now (~400,000 objects: litellm, pydantic, the server) out of
    the garbage collector's sight. They live as long as the daemon, but every full
    collection would scan them again: a ~0.3 s stop of every turn and connection, each
    time enough new objects pile up. One collection first, so garbage is not kept."""
    gc.collect()
    gc.freeze()


async def _reload(config: Config, config_loader: Callable[[], Config]) -> None:
    """Re-read config.toml into the live Config object, or keep the old one if it is broken.

    The Gateway holds this very object, so updating it in place reaches every method (new
    model defaults, agents, …) without the daemon needing a handle on the Gateway. Turns
    already running keep the values they read; the next turn sees the new ones.
    """
    try:
        new = await trio.to_thread.run_sync(config_loader)
    except Exception as e:
        log.error("config reload failed, keeping the previous configuration: %s", e)
        return
    from claw.state.config import Config

    moved = [k for k in ("gateway.host", "gateway.port") if new.get(k) != config.get(k)]
    if moved:  # the listening socket stays: rebinding would drop every connection
        log.warning("%s changed: restart `claw serve` to apply it", " and ".join(moved))
    for f in dataclasses.fields(Config):
        setattr(config, f.name, getattr(new, f.name))
    log.info("reloaded %s (model.default=%s)", new.path or "config", new.get("model.default"))


def _already_running(home: Home) -> ClawError:
    raw = _load_info(home)
    who = f"pid {raw['pid']}" if raw and raw.get("pid") else "pid unknown (still starting?)"
    where = f" on {raw.get('host')}:{raw.get('port')}" if raw and raw.get("port") else ""
    return ClawError(
        f"a claw daemon is already running for {home.root} ({who}{where})",
        hint="stop it with `claw stop`, or use another --home",
    )


def _write_info(home: Home, host: str, port: int) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    info = dict(pid=os.getpid(), host=host, port=port, started_at=started, version=__version__)
    atomic_write_text(info_file(home), json.dumps(info, indent=2) + "\n", mode=FILE_MODE)


def _add_file_handler(home: Home) -> logging.Handler:
    """Log to logs/daemon.log (0600: prompts and session keys appear in logs) as well."""
    make_private_dir(home.logs_dir)
    path = log_file(home)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("claw")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # a daemon's log says when it started and stopped
    return handler


# -- status and stop, from any shell -------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone: it has already exited)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process (alive, not ours to signal), or no /proc
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def daemon_lock_held(home: Home) -> bool:
    """Whether some process holds locks/daemon.lock, i.e. a daemon is running here.

    This is what makes a pid trustworthy: after a SIGKILL the pid in gateway.json may be
    reused by an unrelated process, which must never be reported as the daemon (or be sent
    SIGTERM by `claw stop`). The kernel drops the lock with its holder, so it cannot lie.
    """
    path = home.locks_dir / "daemon.lock"
    if not path.exists():
        return False
    lock = file_lock(path, timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):  # OSError: cannot tell (permissions), so assume it is held
        return True
    lock.release()
    return False


def _alive_daemon(home: Home, pid: int) -> bool:
    return pid_alive(pid) and daemon_lock_held(home)


def _load_info(home: Home) -> dict[str, Any] | None:
    try:
        raw = json.loads(info_file(home).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {"pid": 0}  # unreadable or torn: treated as stale
    return raw if isinstance(raw, dict) else {"pid": 0}


def read_gateway_info(home: Home) -> dict[str, Any] | None:
    """gateway.json if a live daemon wrote it; None when missing or stale (pid gone)."""
    raw = _load_info(home)
    pid = raw.get("pid") if raw is not None else None
    if not isinstance(pid, int) or not _alive_daemon(home, pid):
        return None
    return raw


def _live_status(home: Home, host: str, port: int) -> dict[str, Any]:
    """The daemon's own `status` method over HTTP (the figures only it knows)."""
    import httpx

    from claw.gateway.security import load_token

    h = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://[{h}]:{port}/rpc" if ":" in h else f"http://{h}:{port}/rpc"
    call = {"jsonrpc": "2.0", "id": 1, "method": "status"}
    auth = {"Authorization": f"Bearer {load_token(home)}"}
    reply = httpx.post(url, json=call, headers=auth, timeout=STATUS_TIMEOUT_S).json()
    if "error" in reply:
        raise ClawError(f"status call failed: {reply['error'].get('message')}")
    return dict(reply["result"])


def daemon_status(home: Home) -> dict[str, Any]:
    """running, pid, address, uptime_s, connections, active_turns (per lane), …

    A stale gateway.json (its daemon was killed) reports `running: False, stale: True`.
    If the daemon is alive but does not answer, `running` is still True and `error` says why.
    """
    raw = _load_info(home)
    out: dict[str, Any] = {"running": False, "home": str(home.root)}
    if raw is None:
        return out
    pid = int(raw.get("pid") or 0)
    if not _alive_daemon(home, pid):
        return {**out, "stale": True, "pid": pid or None}
    host, port = str(raw.get("host", "127.0.0.1")), int(raw.get("port") or 0)
    out.update(running=True, pid=pid, host=host, port=port, address=http_address(host, port))
    out.update(started_at=raw.get("started_at"), version=raw.get("version"))
    out.update(uptime_s=_uptime(raw.get("started_at")), connections=None, active_turns=None)
    try:
        live = _live_status(home, host, port)
    except Exception as e:  # httpx errors, a bad token file, a garbled reply
        out["error"] = f"the daemon did not answer: {e}"
        return out
    figures = ("uptime_s", "connections", "active_turns", "running_sessions")
    out.update({k: live.get(k, out.get(k)) for k in figures})
    return out


def _uptime(started_at: Any) -> float | None:
    try:
        started = datetime.fromisoformat(str(started_at))
    except ValueError:
        return None
    if started.tzinfo is None:  # not ours (we write UTC with an offset): read it as UTC
        started = started.replace(tzinfo=UTC)
    return round((datetime.now(UTC) - started).total_seconds(), 1)


def _remove_stale(home: Home, pid: int) -> None:
    """Remove gateway.json if it still names `pid` (a new daemon may have replaced it)."""
    again = _load_info(home)
    if again is not None and int(again.get("pid") or 0) == pid:
        with contextlib.suppress(FileNotFoundError):
            info_file(home).unlink()


def stop_daemon(home: Home, timeout: float = 15.0) -> bool:
    """SIGTERM the daemon and wait for it to exit; True if it stopped within `timeout`.

    False when no daemon was running (a stale gateway.json is cleaned up on the way).
    """
    pid = int((_load_info(home) or {}).get("pid") or 0)
    if not _alive_daemon(home, pid):
        _remove_stale(home, pid)  # nothing to do when there is no gateway.json
        return False
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile: stopped all the same
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    return not pid_alive(pid)
