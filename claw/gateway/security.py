"""Gateway security primitives: the bearer token, auth throttling, rate limits, bind checks.

Pure logic plus one small file read, so the ASGI server, the WebSocket handler and tests use
the same rules without pulling in an I/O framework; everything here is safe to call from trio
code (nothing blocks for long, nothing sleeps: callers get a delay and do the waiting).

Rules (DESIGN §6): the token travels only in `Authorization: Bearer …` (or the first WebSocket
frame, parsed elsewhere), never in a URL, and is compared in constant time. Binding to anything
but loopback requires a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from claw.errors import ClawError, UsageError
from claw.state.home import Home

Clock = Callable[[], float]
HeaderSource = Iterable[tuple[bytes, bytes]] | Mapping[str, str] | Mapping[bytes, bytes]

_EPSILON = 1e-9  # float rounding must not refuse a client that waited exactly as told
MAX_TOKEN_FILE_BYTES = 4096  # a token is ~43 characters; anything huge is not a token file


def load_token(home: Home) -> str:
    """The gateway token from `gateway.token`, refusing a file other users could read.

    The mode is checked on the opened file descriptor (not a separate stat of the path), so
    the file we check is the file we read, even when gateway.token is a symlink. Any
    group/other bit is refused, not only read: a file others can write lets them choose
    the token.
    """
    path = home.token_file
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ClawError(
            f"no gateway token: {path} does not exist", hint="run `claw init` to create it"
        ) from None
    except OSError as e:
        raise ClawError(f"cannot read the gateway token {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
        if mode & 0o077:
            raise ClawError(
                f"the gateway token {path} is accessible by other users (mode {mode:04o})",
                hint=f"run `chmod 600 {path}`",
            )
        raw = f.read(MAX_TOKEN_FILE_BYTES + 1)
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ClawError(f"the gateway token file {path} is too large to be a token")
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ClawError(f"the gateway token file {path} is not UTF-8 text") from None
    if not token:
        raise ClawError(
            f"the gateway token file {path} is empty", hint="run `claw init --force` or write one"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in token) or not token.isascii():
        # An HTTP header cannot carry such a token, so no client could ever authenticate.
        raise ClawError(
            f"the gateway token in {path} must be printable ASCII without spaces",
            hint="run `claw init --force` to generate a new one",
        )
    return token


def bearer_from_headers(headers: HeaderSource) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None.

    Accepts ASGI's raw list of (name, value) byte pairs or any mapping (a dict, Starlette's
    Headers). Two Authorization headers are ambiguous and yield None rather than a guess.
    Only headers are looked at: a token in a URL ends up in logs and browser history.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: list[str] = []
    for name, value in pairs:
        if _text(name).strip().lower() == "authorization":
            found.append(_text(value))
    if len(found) != 1:
        return None
    parts = found[0].split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    token = parts[1].strip()
    if not token or any(ch.isspace() for ch in token):
        return None
    return token


def _text(value: str | bytes) -> str:
    # HTTP header bytes are latin-1 by definition (RFC 9110); decoding never fails.
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def check_token(presented: str | None, expected: str) -> bool:
    """Whether `presented` is the token, in time independent of where they first differ.

    `==` returns at the first differing byte, which lets an attacker guess a token one
    character at a time by timing. An empty expected token never authenticates anyone.
    """
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@dataclass
class _Failures:
    count: int
    last: float


class AuthThrottle:
    """Slows down repeated failed authentication from one client (usually an IP address).

    The first `free_failures` failures cost nothing (typos happen); after that each answer is
    delayed 0.25 s, 0.5 s, 1 s, … up to `max_delay` s. Failures are forgotten `window_s`
    after the last one, or at the first success. Memory is bounded: beyond `max_clients`
    the least recently failing clients are forgotten.

    Use: wait `delay_for(ip)` (the server does it in `claw.gateway.auth_wait`), check the
    token, then `failed(ip)` or `succeeded(ip)`. The delay comes before the answer so a
    guesser cannot learn early.
    """

    def __init__(
        self,
        *,
        free_failures: int = 3,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        window_s: float = 300.0,
        max_clients: int = 10_000,
        now: Clock = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.window_s = window_s
        self.max_clients = max_clients
        self._now = now
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def _current(self, client: str) -> _Failures | None:
        entry = self._clients.get(client)
        if entry is not None and self._now() - entry.last >= self.window_s:
            del self._clients[client]
            return None
        return entry

    def delay_for(self, client: str) -> float:
        """Seconds to wait before answering this client's next authentication attempt."""
        entry = self._current(client)
        excess = (entry.count if entry else 0) - self.free_failures
        if excess < 0:
            return 0.0
        # min() on the exponent first: 2**excess of an endless attacker would overflow.
        return min(self.max_delay, self.base_delay * 2 ** min(excess, 64))

    def failed(self, client: str) -> None:
        entry = self._current(client)
        if entry is None:
            self._clients[client] = _Failures(1, self._now())
        else:
            entry.count += 1
            entry.last = self._now()
            self._clients.move_to_end(client)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


class RateLimiter:
    """A token bucket for one connection: `burst` calls at once, `rate_per_s` sustained.

    `take()` never sleeps; it answers how long the caller should wait, which the server
    turns into error -32002 with `retry_after_ms`. A refused call consumes nothing, so a
    client that waits the advertised time is then let through.
    """

    def __init__(self, rate_per_s: float, burst: int, now: Clock = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limiter needs rate_per_s > 0 and burst >= 1")
        self.rate = float(rate_per_s)
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._last = now()

    def take(self, n: int = 1) -> float:
        """0.0 if `n` calls are allowed now (and counted), else seconds until they would be."""
        if n > self.burst:
            raise ValueError(f"cannot take {n} at once from a bucket of {self.burst}")
        now = self._now()
        elapsed = max(0.0, now - self._last)  # a clock that steps back refills nothing
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._last = now
        if self._tokens >= n - _EPSILON:
            self._tokens = max(0.0, self._tokens - n)
            return 0.0
        return (n - self._tokens) / self.rate


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the gateway reachable from this machine only.

    Names other than `localhost` are not resolved: what they point to can change, so they
    count as non-loopback (the safe answer). "" and 0.0.0.0 mean every interface.
    """
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h.lower().rstrip(".") == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose an unauthenticated gateway beyond this machine."""
    if not is_loopback(host) and not (token and token.strip()):
        raise UsageError(
            f"binding to a non-loopback address needs a token (host {host!r})",
            hint="run `claw init` to create gateway.token, or bind to 127.0.0.1",
        )
