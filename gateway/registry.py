"""The recording registry in the store (G16), and the Jibri sidecar format.

Layout (all keys under the store prefix):
- `rec:row:<platform>:<id>` a hash per recording: platform, id, server, meeting
  reference, meeting type, purpose, created, retain-until, holds, failures;
- `rec:due` a sorted set, member `<platform>:<id>`, score = when a sweep should
  next look at it (retain-until, or the next retry). Held recordings are not in
  it, so selecting a sweep's work reads only what is due: O(due), not O(all);
- `rec:held` the set of held recordings; `rec:failing` a sorted set of
  recordings whose deletion failed (score = first failure);
- `rec:meeting:<platform>:<meeting>` the recordings of one meeting (objections).

The registry is a cache of what the platforms say: the due date travels with
the recording (BBB meta_ keys, the Jibri sidecar), so a lost store is rebuilt
by the next sweep's reconciliation.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from gateway.retention_policy import (
    HOLD_OBJECTION,
    DeclaredRecording,
    RegistryRow,
    hold_name,
    next_look,
)
from gateway.store import Store

DUE = "rec:due"
HELD = "rec:held"
FAILING = "rec:failing"

# A Jibri session directory name after Jibri's own sanitising (jitsi.md §5).
JIBRI_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def row_key(platform: str, recording_id: str) -> str:
    return f"{platform}:{recording_id}"


def _row_store_key(key: str) -> str:
    return f"rec:row:{key}"


def _meeting_key(platform: str, meeting_ref: str) -> str:
    return f"rec:meeting:{platform}:{meeting_ref}"


def pending_objections_key(platform: str, meeting_ref: str) -> str:
    """Open objections for a meeting (G12): recordings registered later are held too."""
    return f"obj:pending:{platform}:{meeting_ref}"


def encode_row(row: RegistryRow) -> dict[str, bytes]:
    fields: dict[str, str] = {
        "platform": row.platform, "recording_id": row.recording_id, "server": row.server,
        "meeting_ref": row.meeting_ref, "meeting_type": row.meeting_type,
        "purpose": row.purpose, "created": repr(row.created),
        "retain_until": repr(row.retain_until), "holds": "\n".join(sorted(row.holds)),
        "forced": "1" if row.forced else "0", "attempts": str(row.attempts),
        "first_failure": "" if row.first_failure is None else repr(row.first_failure),
        "next_attempt": "" if row.next_attempt is None else repr(row.next_attempt),
    }
    return {k: v.encode() for k, v in fields.items()}


def decode_row(raw: Mapping[str, bytes]) -> RegistryRow | None:
    """A row from its hash, or None when the hash is missing or damaged."""
    try:
        text = {k: v.decode() for k, v in raw.items()}

        def opt(name: str) -> float | None:
            return float(text[name]) if text.get(name) else None

        return RegistryRow(
            platform=text["platform"], recording_id=text["recording_id"],
            server=text.get("server", ""), meeting_ref=text.get("meeting_ref", ""),
            meeting_type=text["meeting_type"], purpose=text["purpose"],
            created=float(text["created"]), retain_until=float(text["retain_until"]),
            holds=frozenset(h for h in text.get("holds", "").split("\n") if h),
            forced=text.get("forced") == "1", attempts=int(text.get("attempts", "0")),
            first_failure=opt("first_failure"), next_attempt=opt("next_attempt"))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


class Registry:
    """Recordings and their due dates in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> RegistryRow | None:
        raw = await self._store.hgetall(_row_store_key(key))
        return decode_row(raw) if raw else None

    async def put(self, row: RegistryRow) -> None:
        """Write a row and keep the indexes in step (held rows leave the due index)."""
        await self._store.hset(_row_store_key(row.key), encode_row(row), None)
        if row.holds:
            await self._store.sadd(HELD, row.key)
            await self._store.zrem(DUE, row.key)
        else:
            await self._store.zadd(DUE, {row.key: next_look(row)})
            await self._store.srem(HELD, row.key)
        if row.first_failure is not None:
            await self._store.zadd(FAILING, {row.key: row.first_failure})
        if row.meeting_ref:
            await self._store.sadd(_meeting_key(row.platform, row.meeting_ref), row.key)

    async def remove(self, row: RegistryRow) -> None:
        """Forget a recording once its deletion was verified."""
        await self._store.zrem(DUE, row.key)
        await self._store.srem(HELD, row.key)
        await self._store.zrem(FAILING, row.key)
        if row.meeting_ref:
            await self._store.srem(_meeting_key(row.platform, row.meeting_ref), row.key)
        await self._store.delete(_row_store_key(row.key))

    async def due_keys(self, now: float, limit: int) -> list[str]:
        """Up to `limit` recordings a sweep should look at now, earliest first."""
        pairs = await self._store.zrange_by_score(DUE, -math.inf, now, limit)
        return [member for member, _ in pairs]

    async def upcoming(self, until: float, limit: int) -> list[tuple[str, float]]:
        return await self._store.zrange_by_score(DUE, -math.inf, until, limit)

    async def next_due(self) -> float | None:
        first = await self._store.zrange_by_score(DUE, -math.inf, math.inf, 1)
        return first[0][1] if first else None

    async def held_keys(self) -> set[str]:
        return await self._store.smembers(HELD)

    async def failing(self, before: float, limit: int) -> list[tuple[str, float]]:
        """Recordings whose deletion has been failing since before `before`."""
        return await self._store.zrange_by_score(FAILING, -math.inf, before, limit)

    async def meeting_keys(self, platform: str, meeting_ref: str) -> set[str]:
        return await self._store.smembers(_meeting_key(platform, meeting_ref))

    async def with_pending_holds(self, row: RegistryRow) -> RegistryRow:
        """A new recording of a meeting with an open objection is held at once (G12)."""
        if not row.meeting_ref:
            return row
        pending = await self._store.hgetall(pending_objections_key(row.platform,
                                                                   row.meeting_ref))
        if not pending:
            return row
        holds = frozenset(hold_name(HOLD_OBJECTION, objection_id) for objection_id in pending)
        return replace(row, holds=row.holds | holds)

    async def add_hold(self, key: str, hold: str) -> RegistryRow | None:
        row = await self.get(key)
        if row is None:
            return None
        row = replace(row, holds=row.holds | {hold})
        await self.put(row)
        return row

    async def release_hold(self, key: str, hold: str) -> RegistryRow | None:
        row = await self.get(key)
        if row is None:
            return None
        row = replace(row, holds=row.holds - {hold})
        await self.put(row)
        return row


# --- The Jibri sidecar -------------------------------------------------------
#
# `jibri-finalize` writes it beside a Jibri recording (in the session directory)
# so the due date travels with the recording (DESIGN "State and data rules").
# Format: one JSON object, UTF-8, written atomically (temp file + rename):
#   {"format": "privacy-gateway-recording/1", "platform": "jitsi",
#    "recording_id": "<session directory name>", "meeting_ref": "<room name>",
#    "meeting_type": "lesson", "purpose": "lecture",
#    "created": <epoch seconds>, "retain_until": <epoch seconds>,
#    "policy_version": "2026.1"}
# Unknown keys are ignored; anything missing or malformed falls back to the
# policy's default for undeclared recordings (never zero).

SIDECAR_NAME = "privacy-gateway.json"
SIDECAR_FORMAT = "privacy-gateway-recording/1"
_MAX_SIDECAR_BYTES = 64 * 1024


def write_sidecar(session_dir: Path, *, meeting_ref: str, meeting_type: str | None,
                  purpose: str | None, created: float, retain_until: float,
                  policy_version: str) -> Path:
    """Write the sidecar into a Jibri session directory (atomic replace)."""
    body = {
        "format": SIDECAR_FORMAT, "platform": "jitsi", "recording_id": session_dir.name,
        "meeting_ref": meeting_ref, "meeting_type": meeting_type, "purpose": purpose,
        "created": created, "retain_until": retain_until, "policy_version": policy_version,
    }
    fd, tmp = tempfile.mkstemp(prefix=".sidecar-", dir=session_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, sort_keys=True)
        os.replace(tmp, session_dir / SIDECAR_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return session_dir / SIDECAR_NAME


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_sidecar(session_dir: Path, fallback_created: float | None = None) -> DeclaredRecording:
    """What a Jibri session directory declares; a missing or bad sidecar declares nothing.

    The recording id is always the directory name (never taken from the file).
    """
    body: dict[str, object] = {}
    path = session_dir / SIDECAR_NAME
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= _MAX_SIDECAR_BYTES:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            body = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        body = {}
    created = _number(body.get("created"))
    return DeclaredRecording(
        platform="jitsi", recording_id=session_dir.name,
        meeting_ref=(_text(body.get("meeting_ref")) or "")[:200],
        meeting_type=_text(body.get("meeting_type")), purpose=_text(body.get("purpose")),
        created=created if created is not None else fallback_created,
        retain_until=_number(body.get("retain_until")))
