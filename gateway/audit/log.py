"""The append-only audit log with its own retention.

Entries name people only by keyed pseudonym and carry no attendance or
attention data (G20): recording lifecycle, announcements, guard actions,
deletions and objections. Each entry goes first to the durable journal on
disk (gateway.audit.journal: hash-chained JSON lines, survives the loss of
Redis), then to the store's stream, the fast index.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gateway.audit.journal import AuditJournal
from gateway.clock import Clock
from gateway.store.base import Store

if TYPE_CHECKING:
    from gateway.config.loading import Settings

log = logging.getLogger(__name__)

AuditKind = Literal[
    "recording_started", "recording_stopped", "announcement", "guard_action",
    "recording_registered", "recording_deleted", "deletion_failed", "hold_placed",
    "hold_released", "objection_filed", "objection_decided", "transcription_blocked",
    "purpose_declared", "invited", "approval_reference", "hold_restored",
    "playback_granted",
]

STREAM = "audit"


class AuditLog:
    def __init__(self, store: Store, clock: Clock, retention_days: int,
                 journal: AuditJournal | None = None) -> None:
        self._store = store
        self._clock = clock
        self._retention_ms = retention_days * 86400 * 1000
        self.journal = journal

    async def record(self, kind: AuditKind, platform: str, **fields: str | int | None) -> str:
        """Append one entry (journal, then stream); entries older than the retention are
        trimmed from the stream (the journal rotates daily)."""
        now_ms = int(self._clock.time() * 1000)
        body = {k: v for k, v in fields.items() if v is not None}
        entry = {"kind": kind, "platform": platform, "at": str(now_ms),
                 "data": json.dumps(body, sort_keys=True, separators=(",", ":"))}
        if self.journal is not None:
            try:
                entry["journal"] = await asyncio.to_thread(
                    self.journal.append, now_ms, kind, platform, body)
            except OSError as exc:  # loud, and the entry still reaches the stream
                log.error("audit journal not written", extra={
                    "event": "audit_journal_error", "error": type(exc).__name__})
        return await self._store.xadd(STREAM, entry, min_id_ms=now_ms - self._retention_ms)

    async def entries(self, batch: int = 500) -> AsyncIterator[dict[str, object]]:
        """All entries in order, read in batches (flat memory for exports)."""
        start = "-"
        while True:
            rows = await self._store.xrange(STREAM, start, batch)
            for entry_id, fields in rows:
                yield _decode(entry_id, fields)
            if len(rows) < batch:
                return
            start = "(" + rows[-1][0]


def journal_dir(settings: Settings) -> Path:
    """`retention.audit_dir`, relative to the policy file's directory unless absolute."""
    directory = Path(settings.policy.retention.audit_dir)
    return directory if directory.is_absolute() else Path(settings.source).parent / directory


def audit_log(settings: Settings, store: Store, clock: Clock) -> AuditLog:
    """The audit log as the gateway and every command write it (journal included)."""
    days = settings.policy.retention.audit_retention_days
    return AuditLog(store, clock, days, AuditJournal(journal_dir(settings), days))


def _decode(entry_id: str, fields: Mapping[str, str]) -> dict[str, object]:
    try:
        data = json.loads(fields.get("data", "{}"))
    except ValueError:
        data = {}
    return {
        "id": entry_id,
        "at_ms": int(fields.get("at", "0")),
        "kind": fields.get("kind", ""),
        "platform": fields.get("platform", ""),
        **(data if isinstance(data, dict) else {}),
    }
