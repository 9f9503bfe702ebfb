"""What the benchmark scripts share: a result row, its verdict, the table, a temp home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claw.state.home import Home
from claw.state.init import initialise


@dataclass
class Row:
    name: str
    measured: str
    target: str
    ok: bool | None  # None: information only

    @property
    def verdict(self) -> str:
        return "info" if self.ok is None else ("PASS" if self.ok else "FAIL")


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def new_home(base: Path, name: str) -> Home:
    home = Home(base / name)
    initialise(home)
    return home


def render(rows: list[Row]) -> str:
    head = ("benchmark", "measured", "target", "result")
    table = [head, *((r.name, r.measured, r.target, r.verdict) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def report(title: str, rows: list[Row]) -> int:
    """Print the title and the table; the exit status: 1 if any target was missed."""
    print(title)
    print(render(rows))
    failed = [r.name for r in rows if r.ok is False]
    if failed:
        print(f"\n{len(failed)} row(s) FAILED: " + "; ".join(failed))
    return 1 if failed else 0
