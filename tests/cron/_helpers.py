"""Shared bits of the cron tests."""

from __future__ import annotations

from claw.cron.jobs import Job
from claw.cron.manage import JobSpec, add_job
from claw.state import config as cfg
from claw.state.config import Config
from claw.state.home import Home

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC: a fixed "now" for fake clocks


def scripted_config(home: Home) -> Config:
    cfg.set_value(home.config_file, "model.default", "scripted/test")
    return cfg.load(home.config_file)


def add(home: Home, config: Config | None = None, now: float = T0, **kw: object) -> Job:
    """add_job with a fake now; `name` and one schedule and action in `kw`."""
    config = config or cfg.load(home.config_file)
    return add_job(home, config, JobSpec(**kw), now=now)  # type: ignore[arg-type]
