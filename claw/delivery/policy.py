"""When to try a delivery again (DESIGN §7): 5 s, 25 s, 2 min, 10 min, ±20 % jitter,
five attempts in all, then `failed/`. A permanent error fails at once; a channel's
`retry_after` is honoured (never retried sooner than it asked)."""

from __future__ import annotations

import random
from dataclasses import dataclass

BACKOFF_S = (5.0, 25.0, 120.0, 600.0)
MAX_ATTEMPTS = 5
JITTER = 0.2


@dataclass(frozen=True)
class Decision:
    retry_at: float | None  # None: give up (failed)
    reason: str | None = None  # why it failed: permanent | exhausted


def after_failure(
    attempts: int,
    now: float,
    *,
    permanent: bool,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Decision:
    """What to do after attempt number `attempts` (1-based) failed."""
    if permanent:
        return Decision(None, "permanent")
    if attempts >= MAX_ATTEMPTS:
        return Decision(None, "exhausted")
    base = BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1]
    delay = base * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return Decision(now + delay)
