"""The sweeper's vocabulary (G16): what a recording source offers, what a sweep
reports, and how a deletion step fails. Re-exported by gateway.retention.sweeper."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.policy.retention import DeclaredRecording, RegistryRow


class DeletionFailed(Exception):
    """A deletion step failed; `reason` is a bounded label for metrics and audit,
    `detail` what the operator needs to act (an agent's exit code and last error line:
    bounded, no paths) and never a label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def failure_reason(exc: BaseException) -> str:
    """`reason`, or `reason (detail)` for the operator's error line and the summary."""
    if isinstance(exc, DeletionFailed):
        return f"{exc.reason} ({exc.detail})" if exc.detail else exc.reason
    return type(exc).__name__


def failure_label(failure: str) -> str:
    """The bounded label of a `failure_reason` (the audit's reason, a log field)."""
    return failure.partition(" (")[0]


# What a platform may raise while it is listed: the sweep and the dry run skip it.
SOURCE_ERRORS: tuple[type[Exception], ...] = (DeletionFailed, OSError, TimeoutError, ValueError)


class LostLease(Exception):
    """Another replica holds the sweeper lease now: stop at once."""


class RecordingSource(Protocol):
    """One platform's recordings: list them, delete one, check one is gone.

    A source may also offer `delete_many(rows)` (gateway.retention.sweeper.delete_batch),
    `write_holds(row, holds)` and `lookup(recording_id)` (gateway.retention.holds).
    """

    platform: str
    name: str

    def owns(self, row: RegistryRow) -> bool: ...
    def listing(self, *, read_only: bool = False
                ) -> AsyncGenerator[DeclaredRecording, None]: ...
    async def delete(self, row: RegistryRow) -> list[str]: ...
    async def is_gone(self, row: RegistryRow) -> bool: ...


# Per recording key: the paths removed (deleted and verified gone) or a failure reason.
BatchOutcome = dict[str, list[str] | str]


async def delete_batch(source: RecordingSource, rows: Sequence[RegistryRow]) -> BatchOutcome:
    """Delete and verify a batch on one source: in one go where the source can."""
    many = getattr(source, "delete_many", None)
    if many is not None:
        outcome: BatchOutcome = await many(rows)
        return outcome
    out: BatchOutcome = {}
    for row in rows:
        try:
            removed = await source.delete(row)
            out[row.key] = removed if await source.is_gone(row) else "still_present"
        except (DeletionFailed, OSError, TimeoutError) as exc:
            out[row.key] = failure_reason(exc)
    return out


@dataclass
class SweepResult:
    reconciled: int = 0  # recordings listed on the platforms
    due: int = 0
    deleted: int = 0
    failed: int = 0
    held: int = 0  # recordings under a hold (legal or objection) after the sweep
    waiting: int = 0  # deletions that failed and wait for their retry
    alerting: int = 0  # ... and have been failing for longer than the grace
    skipped: int = 0  # recordings with an id of an unexpected form (not managed)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (recording key, reason)
    source_errors: list[str] = field(default_factory=list)
    source_reasons: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    lost_lease: bool = False
    fence: int = 0


def holder_name() -> str:
    """Who holds the lease, for `sweep`: host and process (no personal data)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}"
