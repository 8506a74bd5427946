"""`privacy-gateway sweep --dry-run`: what would be deleted, and when. Changes nothing.

It reads the platforms and the registry like a sweep does, applies the same
pure decisions, and prints one line per recording that is due now or within
the window: `<when>  <action>  <platform>:<id>  purpose=<purpose>`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, TextIO

from gateway.retention_policy import (
    RegistryRow,
    decide_retention,
    merge_into_row,
    plan_action,
)
from gateway.sweeper import DeletionFailed, Sweeper


class ProgressLine(Protocol):
    def step(self) -> None: ...
    def done(self) -> None: ...


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _line(row: RegistryRow, now: float) -> tuple[float, str]:
    action = plan_action(row, now)
    label = {"delete": "DELETE NOW", "held": "HELD (not deleted)",
             "backoff": "RETRY", "not_due": "delete at"}[action.kind]
    when = row.retain_until if action.kind != "backoff" else action.at
    return when, (f"{_when(when)}  {label:<18}  {row.key}  purpose={row.purpose}"
                  + (f"  holds={len(row.holds)}" if row.holds else ""))


async def dry_run(sweeper: Sweeper, window_seconds: float, out: TextIO,
                  progress: ProgressLine) -> int:
    now = sweeper.clock.time()
    horizon = now + window_seconds
    lines: list[tuple[float, str]] = []
    seen: set[str] = set()
    failed = False
    for source in sweeper.sources:
        try:
            async for declared in source.listing():
                progress.step()
                existing = await sweeper.registry.get(f"{declared.platform}:"
                                                      f"{declared.recording_id}")
                decision = decide_retention(sweeper.policy, declared, now)
                row = merge_into_row(existing, declared, decision)
                seen.add(row.key)
                if row.retain_until <= horizon or row.holds:
                    lines.append(_line(row, now))
        except (DeletionFailed, OSError, TimeoutError) as exc:
            failed = True
            out.write(f"# {source.name}: cannot list recordings ({type(exc).__name__})\n")
    for key, _ in await sweeper.registry.upcoming(horizon, 1_000_000):
        stored = await sweeper.registry.get(key)
        if stored is not None and key not in seen:
            lines.append(_line(stored, now))
    progress.done()
    lines.sort()
    for _, text in lines:
        out.write(text + "\n")
    due_now = sum("DELETE NOW" in text for _, text in lines)
    out.write(f"# {due_now} due now, "
              f"{len(lines)} listed up to {_when(horizon)}; nothing was changed\n")
    return 1 if failed else 0
