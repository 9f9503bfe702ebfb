"""Make hypercorn's WebSocket message limit hold against a client that ignores it.

hypercorn (0.17, 0.18) refuses a message that grows past `websocket_max_message_size` by
sending close 1009, but then keeps the connection open, keeps reading, and keeps appending
the message's further fragments to the refused message. A client that ignores the close
(any stranger: this happens before the app sees a frame, so before authentication) grows
the daemon's memory by as much as it sends, hundreds of MB a second. Here the refused
message is dropped at once, nothing more is buffered, and the stream is ended, so hypercorn
closes the TCP connection and the app sees a disconnect, as when a client leaves.

permessage-deflate is not negotiated either: wsproto inflates each received chunk whole
before any limit is checked (64 KiB of compressed text become ~64 MB at once). JSON-RPC on
one machine gains little from compression; clients that offer it simply go without.
"""

from __future__ import annotations

from typing import Any

from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import StreamClosed
from wsproto.extensions import PerMessageDeflate


class _Buffer(ws_stream.WebsocketBuffer):
    """hypercorn's buffer, refusing before it stores (not after) and for good."""

    refused = False
    ended = False  # the stream was ended for it

    def extend(self, event: Any) -> None:
        if self.refused or self.length + len(event.data) > self.max_length:
            self.refused = True
            self.clear()
            raise ws_stream.FrameTooLargeError()
        super().extend(event)


class _NoDeflate(PerMessageDeflate):
    """Declines every offer (wsproto's public hook), so frames are never inflated."""

    def accept(self, offer: str) -> None:
        return None


async def _handle_events(self: Any) -> None:
    await _original(self)  # sends the close 1009 when the buffer refuses
    buffer = self.buffer
    if isinstance(buffer, _Buffer) and buffer.refused and not buffer.ended:
        buffer.ended = True  # hypercorn closes the socket, then tells the app
        await self.send(StreamClosed(stream_id=self.stream_id))


def install() -> None:
    """Patch hypercorn's WebSocket stream (once; every connection made afterwards)."""
    global _original
    if ws_stream.WebsocketBuffer is not _Buffer:
        _original = ws_stream.WSStream._handle_events
        ws_stream.WebsocketBuffer = _Buffer  # type: ignore[misc]
        ws_stream.PerMessageDeflate = _NoDeflate  # type: ignore[misc]
        ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]


_original: Any = None
