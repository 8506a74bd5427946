"""What `privacy-gateway sweep` shows an operator while and after it works.

On a terminal: a progress bar on stderr, redrawn in place. Otherwise (cron,
systemd, a pipe): one plain line every PROGRESS_SECONDS. Both show listed,
due, deleted and failed. Every failure is a line of its own naming the
recording key and the reason, as it happens; the summary at the end counts
the held recordings, the deletions waiting for their retry and those failing
past the policy's grace. Recording keys are platform record ids, never a
person or room name (G20).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from gateway.retention.sweeper import SweepResult

PROGRESS_SECONDS = 10.0
BAR_WIDTH = 30


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plural(count: int, noun: str = "recording") -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class SweepProgress:
    """The sweeper's `on_progress`: a bar on a terminal, periodic lines otherwise."""

    def __init__(self, stream: TextIO | None = None, every: float = PROGRESS_SECONDS) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self._last = time.monotonic()
        self._reported = 0  # failures already printed
        self._drawn = False

    def __call__(self, result: SweepResult) -> None:
        for key, reason in result.failures[self._reported:]:
            self._clear()
            self.stream.write(f"privacy-gateway sweep: error: {key}: {reason}\n")
        self._reported = len(result.failures)
        now = time.monotonic()
        if self.tty:
            self._bar(result)
        elif now - self._last >= self.every:
            self._last = now
            self.stream.write(f"sweep: {self.counts(result)}\n")
            self.stream.flush()

    @staticmethod
    def counts(result: SweepResult) -> str:
        return (f"listed {result.reconciled}, due {result.due}, deleted {result.deleted}, "
                f"failed {result.failed}")

    def _bar(self, result: SweepResult) -> None:
        done = result.deleted + result.failed
        filled = BAR_WIDTH * done // result.due if result.due else 0
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {self.counts(result)}")
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False

    def done(self, result: SweepResult) -> None:
        self(result)
        self._clear()
        if not self.tty:
            self.stream.write(f"sweep: {self.counts(result)}, done\n")
        self.stream.flush()


def summary(result: SweepResult, grace_seconds: int, seconds: float) -> str:
    lines = [f"Retention sweep finished in {seconds:.1f} s (lease fence {result.fence})",
             f"  listed on the platforms:      {plural(result.reconciled)}",
             f"  due now:                      {plural(result.due)}",
             f"  deleted and verified gone:    {plural(result.deleted)}",
             f"  failed in this sweep:         {plural(result.failed)}",
             f"  held (legal hold/objection):  {plural(result.held)}",
             f"  waiting for a retry:          {plural(result.waiting)}",
             f"  failing past the grace ({grace_seconds} s): {plural(result.alerting)}"]
    if result.skipped:
        lines.append(f"  not managed (unexpected id):  {plural(result.skipped)}")
    for name, reason in result.source_reasons:
        lines.append(f"error: cannot list recordings on {name}: {reason}")
    for key, reason in result.failures:
        lines.append(f"error: {key}: {reason}")
    if result.lost_lease:
        lines.append("error: the sweeper lease was lost; another replica continues")
    return "\n".join(lines)


def as_json(result: SweepResult) -> dict[str, object]:
    return {"reconciled": result.reconciled, "due": result.due, "deleted": result.deleted,
            "failed": result.failed, "held": result.held, "waiting_retry": result.waiting,
            "failing_past_grace": result.alerting, "skipped": result.skipped,
            "failures": [{"recording": k, "reason": r} for k, r in result.failures],
            "source_errors": result.source_errors, "lost_lease": result.lost_lease,
            "fence": result.fence}
