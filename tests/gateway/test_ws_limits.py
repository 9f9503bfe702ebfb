"""WebSocket size limits against a client that ignores them (raw frames over a TCP socket).

Real WebSocket libraries stop sending when the server closes with 1009; an attacker does
not, so these tests speak the framing by hand and keep sending after the close.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib

import trio

from claw.gateway.app import Limits
from tests.gateway.live import Server, call, run, running, ws_client

CHUNK = 64 * 1024


def _frame(opcode: int, payload: bytes, *, fin: bool) -> bytes:
    """One client frame; the all-zero mask leaves the payload as it is (RFC 6455 §5.3)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


async def _open_raw(srv: Server, *, auth: bool, extra: str = "") -> tuple[trio.SocketStream, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if auth:
        head += f"Authorization: Bearer {srv.token}\r\n"
    await stream.send_all((head + extra + "\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += await stream.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 101")
    return stream, answer


async def _flood(stream: trio.SocketStream, budget: int) -> int:
    """Send one endless fragmented text message; the bytes sent before the server hung up."""
    sent = 0
    try:
        await stream.send_all(_frame(0x1, b"x" * CHUNK, fin=False))
        while sent < budget:
            await stream.send_all(_frame(0x0, b"x" * CHUNK, fin=False))
            sent += CHUNK
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    return sent


def test_fragments_past_the_limit_end_the_connection(home):
    """hypercorn answers an oversize message with close 1009 but went on reading the
    message's further fragments into memory: a stranger that ignored the close could grow
    the daemon by hundreds of MB a second. The connection must end instead."""

    async def main() -> None:
        limits = Limits(max_frame=1000)  # hypercorn buffers at most max_frame + 64 KiB
        async with running(home, limits=limits) as srv:
            for auth in (False, True):
                stream, _ = await _open_raw(srv, auth=auth)
                with trio.fail_after(10):
                    sent = await _flood(stream, budget=256 << 20)
                assert sent < 32 << 20, f"{sent} bytes were read past the limit (auth={auth})"
                await stream.aclose()
            async with ws_client(srv) as ws:  # the daemon let go of both connections
                with trio.fail_after(5):
                    while (await call(ws, "status"))["result"]["connections"] != 1:
                        await trio.sleep(0.05)

    run(main, timeout=30)


def test_no_compression_so_a_small_frame_cannot_inflate(home):
    """permessage-deflate inflated each received chunk whole before any size check: 300 KB
    of compressed text cost the daemon ~190 MB at once (64 KiB inflate to ~64 MB). JSON-RPC
    on one machine gains little from compression, so it is not negotiated; clients that
    offer it (websockets does by default) still work, uncompressed."""
    from websockets.sync.client import connect

    def client(url: str, token: str) -> tuple[str | None, dict]:
        headers = {"Authorization": f"Bearer {token}"}
        with connect(url, additional_headers=headers, compression="deflate") as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
            ws.send('{"jsonrpc": "2.0", "method": "health", "id": 1}')
            return agreed, json.loads(ws.recv(timeout=10))

    async def main() -> None:
        async with running(home) as srv:
            agreed, reply = await trio.to_thread.run_sync(client, srv.ws, srv.token)
            assert agreed is None and reply["result"]["ok"] is True
            offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            stream, head = await _open_raw(srv, auth=False, extra=offer)
            assert b"sec-websocket-extensions" not in head.lower()
            bomb = zlib.compressobj(wbits=-15)
            payload = bomb.compress(b" " * (64 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)
            frame = _frame(0x1, payload[:-4], fin=True)
            await stream.send_all(bytes([frame[0] | 0x40]) + frame[1:])  # RSV1: "compressed"
            with trio.fail_after(5):
                answer = b""
                while chunk := await stream.receive_some(4096):
                    answer += chunk
            assert answer[:1] in (b"", b"\x88")  # refused: dropped (or closed), not inflated

    run(main)
