"""The server's side of the failed-auth throttle (`claw.gateway.security.AuthThrottle`).

The throttle says how long a client must wait before its next attempt. Waited in
parallel, that is one delay for any number of guesses: a client with failures behind it
therefore takes turns, and each of its attempts waits its own, growing, delay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

from claw.gateway.security import AuthThrottle


class AuthWait:
    def __init__(self, throttle: AuthThrottle) -> None:
        self.throttle = throttle
        self._turns: dict[str, trio.Lock] = {}  # only while a client's attempts queue

    @contextlib.asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Wait before one attempt of `client`; check its token inside the block."""
        if self.throttle.delay_for(client) == 0:
            yield
            return
        lock = self._turns.setdefault(client, trio.Lock())
        try:
            async with lock:
                await trio.sleep(self.throttle.delay_for(client))
                yield
        finally:
            if not lock.locked():  # nobody waits for it (trio hands a lock to its waiter)
                self._turns.pop(client, None)
