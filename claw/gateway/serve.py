"""Run the gateway: hypercorn's trio worker serving claw.gateway.app on one port.

Cancelling `serve` is the shutdown signal (the CLI cancels it on SIGTERM/SIGINT). The drain
runs shielded, in this order: refuse new turns, give running turns `grace_s` to finish,
abort the rest (their transcripts end "interrupted", their clients get -32007), close
every WebSocket with 1001, then let hypercorn stop. Nothing is cut mid-write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hypercorn_serve

from claw.channels.runtime import ChannelRuntime
from claw.cron.scheduler import Scheduler, disabled_event
from claw.delivery.queue import QueueStore
from claw.delivery.service import Channels
from claw.delivery.worker import Worker
from claw.gateway.app import CLOSE_GOING_AWAY, GatewayApp, Limits
from claw.gateway.idempotency import IdempotencyStore
from claw.gateway.methods import Gateway
from claw.gateway.queue_methods import failed_event
from claw.gateway.security import check_bind, load_token
from claw.gateway.ws_limit import install as bound_ws_messages
from claw.heartbeat.ticker import Ticker
from claw.memory.watcher import follow_memory
from claw.routing.inbound import Wakeup, process_forever
from claw.state.config import Config
from claw.state.home import Home
from claw.supervisor.spawn import SPAWNER, recover

log = logging.getLogger("claw.gateway")
ABORT_WAIT_S = 10.0  # after the abort: how long an aborted turn may take to write its end


async def serve(
    home: Home,
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 18789,
    limits: Limits | None = None,
    grace_s: float = 10.0,
    turn_threads: int = 16,
    reload: Callable[[], Awaitable[None]] | None = None,
    hurry: trio.Event | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; `task_status.started(port)` reports the bound port (port 0
    asks the OS for a free one). Beside the gateway run the delivery worker and the
    heartbeat ticker; `reload` (the daemon's config reload) is called when config.toml
    changes on disk. Setting `hurry` while draining ends the grace period at once."""
    token = load_token(home)
    check_bind(host, token)
    idem = IdempotencyStore(home)
    gw = Gateway(home, config, idem, trio.CapacityLimiter(turn_threads))
    app = GatewayApp(gw, token, limits)
    hconf = HyperConfig()
    hconf.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hconf.graceful_timeout = 2.0
    # hypercorn's default backlog (100) overflows when many clients connect at once (all of
    # them reconnecting after a restart): the kernel drops their SYNs and they wait for
    # TCP's retransmits, 1 s, 3 s, 7 s, ... The kernel caps it at net.core.somaxconn.
    hconf.backlog = 2048
    hconf.accesslog = None
    hconf.websocket_max_message_size = app.limits.max_frame + 64 * 1024
    bound_ws_messages()  # hypercorn's own limit lets a client that ignores it grow memory
    stop, stopped = trio.Event(), trio.Event()

    async def run_server(task_status: trio.TaskStatus[list[str]]) -> None:
        # Shielded: cancelling `serve` must not cut connections before the drain.
        with trio.CancelScope(shield=True):
            try:
                await hypercorn_serve(
                    app, hconf, shutdown_trigger=stop.wait, task_status=task_status
                )
            finally:
                stopped.set()

    channels = Channels(home, config)
    wakeup = Wakeup()
    gw.channels = ChannelRuntime(
        home,
        config,
        channels,
        wakeup,
        on_error=lambda name, ev: app.broadcast("channels.error", ev),
    )
    gw.worker = Worker(
        QueueStore(home),
        channels,
        on_failed=lambda entry, error: app.broadcast("queue.failed", failed_event(entry, error)),
    )
    try:
        async with trio.open_nursery() as nursery:
            gw.nursery = nursery  # idempotent turns finish here even when their client left
            nursery.start_soon(gw.worker.run)  # it may wait for a `claw queue flush` to end
            gw.ticker = Ticker(home, config, busy=gw.running.__contains__, reload=reload)
            nursery.start_soon(gw.ticker.run)
            # Inbound messages journaled by channels (and any left over from before a
            # restart): route, check access, answer, queue the reply.
            nursery.start_soon(
                partial(
                    process_forever,
                    home,
                    config,
                    wakeup=wakeup,
                    channels=channels,
                    on_queued=partial(_hand_to_worker, gw.worker),
                )
            )
            nursery.start_soon(gw.channels.run)  # Telegram, Discord, … (restarted on failure)
            if config.get("memory.enabled", True):  # the index follows notes and transcripts
                nursery.start_soon(partial(follow_memory, home, config))
            if config.get("cron.enabled", True):
                gw.cron = Scheduler(
                    home,
                    config,
                    on_disabled=lambda job, rec: app.broadcast(
                        "cron.disabled", disabled_event(job, rec)
                    ),
                )
                nursery.start_soon(gw.cron.run)
            # Spawned subagents: their reports reach subscribed clients; ones left
            # unfinished (or unreported) by a previous process are finished now.
            unlisten = _listen_for_reports(app)
            nursery.start_soon(partial(trio.to_thread.run_sync, recover, home, config))
            binds = await nursery.start(run_server)
            bound = int(binds[0].rsplit(":", 1)[1])
            log.info("gateway listening on %s", binds[0])
            task_status.started(bound)
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await _drain(gw, app, grace_s, hurry if hurry is not None else trio.Event())
                    unlisten()
                    stop.set()
                    with trio.move_on_after(hconf.graceful_timeout + 5):
                        await stopped.wait()
                    nursery.cancel_scope.cancel()  # the delivery worker: a part in flight
                    # stays "sending" and is sent again at the next start (at most once)
    finally:
        with trio.CancelScope(shield=True):
            await channels.aclose()
        idem.close()


def _listen_for_reports(app: GatewayApp) -> Callable[[], None]:
    """Broadcast `subagent.report` (from the spawner's threads); returns the undo."""
    token = trio.lowlevel.current_trio_token()

    def on_report(report: dict[str, Any]) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(app.broadcast, "subagent.report", report, trio_token=token)

    SPAWNER.listeners.append(on_report)
    return lambda: SPAWNER.listeners.remove(on_report)


async def _hand_to_worker(worker: Worker, entry_id: str) -> None:
    """A reply the daemon just queued goes to the worker now (not when the watch says)."""
    entry = await trio.to_thread.run_sync(worker.store.load, entry_id)
    if entry is not None:
        worker.add(entry)


async def _drain(gw: Gateway, app: GatewayApp, grace_s: float, hurry: trio.Event) -> None:
    gw.closing = True
    with trio.move_on_after(grace_s):
        while gw.running and not hurry.is_set():
            await trio.sleep(0.02)
    if gw.running:
        why = "on a second signal" if hurry.is_set() else f"after {grace_s:.1f}s"
        log.warning("aborting %d turn(s) still running %s", len(gw.running), why)
        for event in list(gw.running.values()):
            event.set()
        with trio.move_on_after(ABORT_WAIT_S):
            while gw.running:
                await trio.sleep(0.02)
    for conn in list(app.conns):
        conn.close(CLOSE_GOING_AWAY)
    with trio.move_on_after(1.0):
        while app.conns:
            await trio.sleep(0.02)
