"""Scheduled jobs (`claw cron`): what runs when, the run log, and the daemon's scheduler.

- `schedule`: next-run computation (`--at`, `--every`, `--cron` in a zone, DST-correct);
- `jobs`: the job store (`cron/jobs.json`) and run logs (`cron/runs/<job>.jsonl`);
- `manage`: adding, removing, enabling jobs, with the checks every entry point shares;
- `runner`: one run of one job (an agent turn or a notification), recorded;
- `scheduler`: the daemon's trio task that runs jobs when they are due.
"""
