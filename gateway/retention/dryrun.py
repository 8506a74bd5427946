"""`privacy-gateway sweep --dry-run`: what would be deleted, and when. Changes nothing.

It reads the platforms and the registry like a sweep does, applies the same
pure decisions, and prints one line per recording that is due now or within
the window: `<when>  <action>  <platform>:<id>  purpose=<purpose>`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, TextIO

from gateway.policy.retention import DeclaredRecording, RegistryRow, plan_action, plan_registration
from gateway.retention.sweeper import SOURCE_ERRORS, Sweeper, failure_reason
from gateway.store.registry import row_key


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
            async for declared in source.listing(read_only=True):
                progress.step()
                row = await _planned_row(sweeper, declared, now)
                seen.add(row.key)
                if row.retain_until <= horizon or row.holds:
                    lines.append(_line(row, now))
        except SOURCE_ERRORS as exc:
            failed = True
            out.write(f"# {source.name}: cannot list recordings ({failure_reason(exc)})\n")
        skipped = int(getattr(source, "skipped", 0))
        if skipped:
            out.write(f"# {source.name}: {skipped} recordings with an unexpected id are "
                      "not managed\n")
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


async def _planned_row(sweeper: Sweeper, declared: DeclaredRecording, now: float) -> RegistryRow:
    """The row the sweep would write (the same pure step), read-only: pending
    objections of the meeting hold a recording new to it (G12)."""
    registry = sweeper.registry
    existing = await registry.get(row_key(declared.platform, declared.recording_id))
    pending = frozenset[str]()
    for ref in dict.fromkeys((declared.meeting_ref, declared.meeting_alias)):
        pending |= await registry.pending_holds(declared.platform, ref)
    return plan_registration(sweeper.policy, existing, declared, now, pending).row
