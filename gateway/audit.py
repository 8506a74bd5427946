"""The append-only audit log (a stream in the store) with its own retention.

Entries name people only by keyed pseudonym and carry no attendance or
attention data (G20): recording lifecycle, announcements, guard actions,
deletions and objections.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Literal

from gateway.clock import Clock
from gateway.store import Store

AuditKind = Literal[
    "recording_started", "recording_stopped", "announcement", "guard_action",
    "recording_registered", "recording_deleted", "deletion_failed", "hold_placed",
    "hold_released", "objection_filed", "objection_decided", "transcription_blocked",
    "purpose_declared", "invited", "approval_reference", "playback_granted",
]

STREAM = "audit"


class AuditLog:
    def __init__(self, store: Store, clock: Clock, retention_days: int) -> None:
        self._store = store
        self._clock = clock
        self._retention_ms = retention_days * 86400 * 1000

    async def record(self, kind: AuditKind, platform: str, **fields: str | int | None) -> str:
        """Append one entry; entries older than the retention are trimmed."""
        now_ms = int(self._clock.time() * 1000)
        body = {k: v for k, v in fields.items() if v is not None}
        entry = {"kind": kind, "platform": platform, "at": str(now_ms),
                 "data": json.dumps(body, sort_keys=True, separators=(",", ":"))}
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
