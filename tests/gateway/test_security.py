"""Gateway security primitives: token file, header parsing, constant-time check, throttling,
rate limiting, bind rules."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from claw.errors import ClawError
from claw.gateway import security
from claw.gateway.security import (
    AuthThrottle,
    RateLimiter,
    bearer_from_headers,
    check_bind,
    check_token,
    is_loopback,
    load_token,
)
from claw.state.home import Home


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def _write_token(home: Home, text: str, mode: int = 0o600) -> Path:
    path = home.token_file
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- load_token ---------------------------------------------------------------------------


def test_token_made_by_init_loads(home: Home) -> None:
    token = load_token(home)
    assert len(token) >= 32
    assert token == home.token_file.read_text().strip()


def test_token_0600_accepted_and_stripped(home: Home) -> None:
    _write_token(home, "  s3cret-token\n\n", 0o600)
    assert load_token(home) == "s3cret-token"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_token_readable_or_writable_by_others_refused(home: Home, mode: int) -> None:
    path = _write_token(home, "s3cret-token\n", mode)
    with pytest.raises(ClawError) as e:
        load_token(home)
    assert "chmod 600" in str(e.value)
    assert str(path) in str(e.value)


def test_token_0400_accepted(home: Home) -> None:
    _write_token(home, "s3cret-token\n", 0o400)
    assert load_token(home) == "s3cret-token"


@pytest.mark.parametrize("text", ["", "\n", "   \n\t"])
def test_empty_token_refused(home: Home, text: str) -> None:
    _write_token(home, text)
    with pytest.raises(ClawError, match="empty"):
        load_token(home)


def test_token_with_inner_space_refused(home: Home) -> None:
    _write_token(home, "two words\n")
    with pytest.raises(ClawError, match="without spaces"):
        load_token(home)


def test_missing_token_file_says_how_to_fix(tmp_path: Path) -> None:
    home = Home(tmp_path / "nothing-here")
    with pytest.raises(ClawError) as e:
        load_token(home)
    assert "claw init" in str(e.value)


def test_token_symlink_checked_on_its_target(home: Home, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.token"
    real.write_text("s3cret-token\n")
    real.chmod(0o644)
    home.token_file.unlink()
    home.token_file.symlink_to(real)  # the link itself is 0777: its target is what counts
    with pytest.raises(ClawError, match="chmod 600"):
        load_token(home)
    real.chmod(0o600)
    assert load_token(home) == "s3cret-token"


# --- bearer_from_headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"authorization", b"Bearer abc123")], "abc123"),
        ([(b"Authorization", b"bearer abc123")], "abc123"),
        ([(b"AUTHORIZATION", b"BEARER abc123")], "abc123"),
        ([(b"authorization", b"Bearer   abc123  ")], "abc123"),
        ([(b"authorization", b"Bearer\tabc123")], "abc123"),
        ([(b"authorization", b"  Bearer abc123")], "abc123"),
        ([(b"host", b"x"), (b"authorization", b"Bearer a.b-c_d~e+/=")], "a.b-c_d~e+/="),
        ({"Authorization": "Bearer abc123"}, "abc123"),
        ({"authorization": "bEaReR abc123"}, "abc123"),
        ({b"authorization": b"Bearer abc123"}, "abc123"),
        # refusals
        ([], None),
        ({}, None),
        ([(b"host", b"example")], None),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([(b"authorization", b"Bearer")], None),
        ([(b"authorization", b"Bearer ")], None),
        ([(b"authorization", b"Bearerabc123")], None),
        ([(b"authorization", b"Bearer abc 123")], None),
        ([(b"authorization", b"abc123")], None),
        ([(b"authorization", b"")], None),
        ([(b"x-authorization", b"Bearer abc123")], None),
        ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], None),
    ],
)
def test_bearer_from_headers(headers: object, expected: str | None) -> None:
    assert bearer_from_headers(headers) == expected  # type: ignore[arg-type]


def test_bearer_never_reads_query_string_like_headers() -> None:
    # An ASGI scope carries the query string apart from the headers; nothing here sees it,
    # and a header that merely looks like a query parameter is not a token.
    assert bearer_from_headers([(b"token", b"abc123"), (b"access_token", b"abc123")]) is None


# --- check_token --------------------------------------------------------------------------


def test_check_token_matches_and_mismatches() -> None:
    assert check_token("abc123", "abc123")
    assert not check_token("abc124", "abc123")
    assert not check_token("abc12", "abc123")
    assert not check_token("abc1234", "abc123")
    assert check_token("héllo", "héllo")


@pytest.mark.parametrize(("presented", "expected"), [(None, "x"), ("", "x"), ("", ""), ("x", "")])
def test_check_token_none_or_empty_is_false(presented: str | None, expected: str) -> None:
    assert check_token(presented, expected) is False


def test_check_token_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert check_token("tök", "tök") is True
    assert check_token("nope", "tök") is False
    assert calls == [("tök".encode(), "tök".encode()), (b"nope", "tök".encode())]


# --- AuthThrottle -------------------------------------------------------------------------


def test_throttle_schedule() -> None:
    clock = FakeClock()
    t = AuthThrottle(now=clock)
    delays = []
    for _ in range(11):
        delays.append(t.delay_for("1.2.3.4"))
        t.failed("1.2.3.4")
        clock.advance(1)
    assert delays == [0, 0, 0, 0.25, 0.5, 1, 2, 4, 8, 8, 8]
    assert t.delay_for("5.6.7.8") == 0  # per client


def test_throttle_success_resets() -> None:
    t = AuthThrottle(now=FakeClock())
    for _ in range(6):
        t.failed("ip")
    assert t.delay_for("ip") == 2
    t.succeeded("ip")
    assert t.delay_for("ip") == 0
    assert len(t) == 0


def test_throttle_window_forgets_old_failures() -> None:
    clock = FakeClock()
    t = AuthThrottle(now=clock, window_s=300)
    for _ in range(5):
        t.failed("ip")
    assert t.delay_for("ip") == 1
    clock.advance(299)
    assert t.delay_for("ip") == 1  # still inside the window since the last failure
    t.failed("ip")  # the window restarts at each failure
    clock.advance(299)
    assert t.delay_for("ip") == 2
    clock.advance(1)
    assert t.delay_for("ip") == 0
    t.failed("ip")
    assert t.delay_for("ip") == 0  # counting starts again from one


def test_throttle_never_overflows() -> None:
    t = AuthThrottle(now=FakeClock())
    for _ in range(5000):
        t.failed("ip")
    assert t.delay_for("ip") == 8


def test_throttle_memory_is_bounded_oldest_evicted() -> None:
    clock = FakeClock()
    t = AuthThrottle(now=clock, max_clients=100)
    for _ in range(5):
        t.failed("first")
    for i in range(99):
        t.failed(f"c{i}")
    assert len(t) == 100
    for _ in range(5):  # "first" failing again makes it the most recent
        t.failed("first")
    t.failed("newcomer")
    assert len(t) == 100
    assert t.delay_for("first") == 8
    assert "c0" not in t._clients
    for i in range(20_000):
        t.failed(f"x{i}")
    assert len(t) == 100


# --- RateLimiter --------------------------------------------------------------------------


def test_rate_limiter_burst_then_refill() -> None:
    clock = FakeClock()
    rl = RateLimiter(rate_per_s=10, burst=5, now=clock)
    assert [rl.take() for _ in range(5)] == [0.0] * 5
    assert rl.take() == pytest.approx(0.1)
    assert rl.take() == pytest.approx(0.1)  # a refused call consumes nothing
    clock.advance(0.05)
    assert rl.take() == pytest.approx(0.05)
    clock.advance(0.05)
    assert rl.take() == 0.0
    assert rl.take() == pytest.approx(0.1)
    clock.advance(100)  # refill is capped at the burst
    assert [rl.take() for _ in range(5)] == [0.0] * 5
    assert rl.take() > 0


def test_rate_limiter_take_many() -> None:
    clock = FakeClock()
    rl = RateLimiter(rate_per_s=2, burst=4, now=clock)
    assert rl.take(3) == 0.0
    assert rl.take(3) == pytest.approx(1.0)  # 1 token left, 2 more at 2/s
    clock.advance(1.0)
    assert rl.take(3) == 0.0
    with pytest.raises(ValueError):
        rl.take(5)


def test_rate_limiter_clock_going_back_refills_nothing() -> None:
    clock = FakeClock()
    rl = RateLimiter(rate_per_s=1, burst=1, now=clock)
    assert rl.take() == 0.0
    clock.advance(-50)
    assert rl.take() == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (1, 0)])
def test_rate_limiter_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


# --- binding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("0:0:0:0:0:0:0:1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("localhost.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("::2", False),
        ("::ffff:10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", "")
    check_bind("localhost", None)
    check_bind("0.0.0.0", "tok")
    check_bind("192.168.1.10", "tok")
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com"):
        for token in (None, "", "   "):
            with pytest.raises(ClawError, match="non-loopback address needs a token"):
                check_bind(host, token)


def test_module_imports_no_io_framework() -> None:
    source = Path(security.__file__).read_text()
    for name in ("trio", "starlette", "hypercorn", "typer", "asyncio"):
        assert f"import {name}" not in source
