"""Auth-profile cooldowns, persisted so every claw process sees the same ones.

A profile that just failed for a reason that is its own fault (bad key, rate limit,
timeout, no credit) is left alone for a while. The daemon, a cron-driven `claw send` and a
shell loop all share one state directory, so the cooldown lives there
(`<home>/auth/cooldowns.json`) rather than in one process's memory: a one-shot command
respects a cooldown the daemon set a second ago, and vice versa.

Rules:
- A cooldown grows with each *consecutive* failure: 60 s, 5 min, 25 min, then 1 h.
  The count resets only on success (`clear`), not when a cooldown expires: a key that is
  still rate limited right after its first minute should back off for longer. An entry
  whose cooldown ended more than FORGET_AFTER ago is forgotten (a failure a day ago is
  not "consecutive"; it also keeps the file from collecting entries for removed profiles).
- A server's Retry-After only ever lengthens a cooldown: `max(schedule, retry_after)`.
  A shorter one does not shorten it, because the schedule is what stops several processes
  from hammering a struggling provider; other profiles and fallback models stay usable.
  Retry-After is capped at MAX_RETRY_AFTER so a garbage date cannot lock a key for years.
- Writes are read-modify-write under a cross-process file lock and atomic (temp file +
  rename), so reads need no lock. A missing or corrupt file reads as empty (corrupt is
  logged): a cooldown is an optimisation and must never break a turn.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from claw.state.atomic import atomic_write_text
from claw.state.home import Home, make_private_dir
from claw.state.locks import file_lock

log = logging.getLogger(__name__)

SCHEDULE_S = (60.0, 300.0, 1500.0, 3600.0)  # by consecutive failure; the last one repeats
MAX_RETRY_AFTER = 24 * 3600.0
FORGET_AFTER = 24 * 3600.0  # an entry expired this long ago no longer counts
MAX_ERROR_CHARS = 500
LOCK_TIMEOUT_S = 10.0
FORMAT_VERSION = 1

_warned: set[tuple[str, int, int]] = set()  # corrupt files already reported (path, mtime, size)


@dataclass(frozen=True)
class Cooldown:
    provider: str
    profile: str
    reason: str  # auth, rate_limit, timeout, billing, …
    failures: int  # consecutive failures so far
    until: float  # wall-clock epoch seconds: shared by processes, unlike monotonic time
    last_error: str

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.until - (time.time() if now is None else now))


def cooldown_seconds(failures: int, retry_after: float | None = None) -> float:
    """How long the `failures`-th consecutive failure keeps a profile out."""
    step = SCHEDULE_S[min(max(failures, 1), len(SCHEDULE_S)) - 1]
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        return max(step, min(retry_after, MAX_RETRY_AFTER))
    return step


class CooldownStore:
    """The cooldowns of every provider's auth profiles, in one small JSON file."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.dir = home.root / "auth"
        self.path = self.dir / "cooldowns.json"
        self.lock_path = home.locks_dir / "cooldowns.lock"

    # Reads: no lock (writes are atomic renames), cheap (one small file).

    def get(self, provider: str, profile: str, now: float | None = None) -> Cooldown | None:
        """The profile's active cooldown, or None if it may be used now."""
        entry = self._read().get(provider, {}).get(profile)
        cd = _entry(provider, profile, entry)
        return cd if cd is not None and cd.until > _now(now) else None

    def all(self, now: float | None = None) -> list[Cooldown]:
        """Every active cooldown, soonest to end first."""
        t = _now(now)
        out = [
            cd
            for provider, profiles in self._read().items()
            for profile, entry in profiles.items()
            if (cd := _entry(provider, profile, entry)) is not None and cd.until > t
        ]
        return sorted(out, key=lambda c: (c.until, c.provider, c.profile))

    # Writes: locked read-modify-write, atomic replace.

    def mark_failure(
        self,
        provider: str,
        profile: str,
        reason: str,
        *,
        retry_after: float | None = None,
        error: str = "",
        now: float | None = None,
    ) -> Cooldown:
        """Record one more consecutive failure and start (or extend) the cooldown."""
        t = _now(now)
        with self._locked():
            data = self._read()
            previous = _entry(provider, profile, data.get(provider, {}).get(profile))
            failures = 1
            if previous is not None and previous.until > t - FORGET_AFTER:
                failures = previous.failures + 1
            cd = Cooldown(
                provider=provider,
                profile=profile,
                reason=reason,
                failures=failures,
                until=t + cooldown_seconds(failures, retry_after),
                last_error=error[:MAX_ERROR_CHARS],
            )
            data.setdefault(provider, {})[profile] = _to_json(cd)
            self._write(data, t)
        return cd

    def clear(self, provider: str, profile: str) -> bool:
        """Forget the profile's failures (it just worked); False if there were none.

        Called after every successful call, so the common case (nothing stored) costs
        one small read and no lock or write.
        """
        if profile not in self._read().get(provider, {}):
            return False
        with self._locked():
            data = self._read()
            profiles = data.get(provider, {})
            if profile not in profiles:
                return False
            del profiles[profile]
            if not profiles:
                del data[provider]
            self._write(data, time.time())
        return True

    # Internals.

    def _locked(self) -> Any:
        make_private_dir(self.lock_path.parent)
        return file_lock(self.lock_path, timeout=LOCK_TIMEOUT_S)

    def _read(self) -> dict[str, dict[str, Any]]:
        """{provider: {profile: raw entry}}; empty when missing or unreadable."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            log.warning("cannot read %s (%s); ignoring auth cooldowns", self.path, e)
            return {}
        try:
            doc = json.loads(raw)
            data = doc["cooldowns"]
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError("'cooldowns' is not a table of tables")
            return data
        except (ValueError, KeyError, TypeError) as e:
            self._warn_corrupt(e)
            return {}

    def _write(self, data: dict[str, dict[str, Any]], now: float) -> None:
        # Drop long-expired entries on every write, so the file stays as small as the
        # set of recently failing profiles.
        kept = {
            provider: live
            for provider, profiles in data.items()
            if (
                live := {
                    name: entry
                    for name, entry in profiles.items()
                    if (cd := _entry(provider, name, entry)) is not None
                    and cd.until > now - FORGET_AFTER
                }
            )
        }
        make_private_dir(self.dir)
        doc = {"version": FORMAT_VERSION, "cooldowns": kept}
        atomic_write_text(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n", mode=0o600)

    def _warn_corrupt(self, error: Exception) -> None:
        try:
            st = self.path.stat()
            sig = (str(self.path), st.st_mtime_ns, st.st_size)
        except OSError:
            sig = (str(self.path), 0, 0)
        if sig not in _warned:  # once per version of the file, not on every turn
            _warned.add(sig)
            log.warning(
                "%s is corrupt (%s); treating it as empty, the next failure rewrites it",
                self.path,
                error,
            )


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _to_json(cd: Cooldown) -> dict[str, Any]:
    entry = asdict(cd)
    del entry["provider"], entry["profile"]  # they are the keys
    return entry


def _entry(provider: str, profile: str, entry: Any) -> Cooldown | None:
    """A stored entry as a Cooldown; None (ignored) when absent or malformed."""
    if not isinstance(entry, dict):
        return None
    failures, until = entry.get("failures"), entry.get("until")
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        return None
    if isinstance(until, bool) or not isinstance(until, int | float) or not math.isfinite(until):
        return None
    return Cooldown(
        provider=provider,
        profile=profile,
        reason=str(entry.get("reason") or "unknown"),
        failures=failures,
        until=float(until),
        last_error=str(entry.get("last_error") or ""),
    )
