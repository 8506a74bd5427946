"""The recording registry in the store (G16), and the Jibri sidecar format.

Layout (all keys under the store prefix):
- `rec:row:<platform>:<id>` a hash per recording: platform, id, server, meeting
  reference, meeting type, purpose, created, retain-until, failures;
- `rec:holds:<platform>:<id>` the recording's holds (objections, legal holds),
  a set of its own: only `add_hold`/`release_hold` change it (SADD/SREM), so a
  writer holding an older copy of the row can never drop a hold (G12). The
  row's `held` field is a hint (the set is read only for rows ever held); the
  set itself is read again right before any deletion;
- `rec:due` a sorted set, member `<platform>:<id>`, score = when a sweep should
  next look at it (retain-until, or the next retry). Held recordings are not in
  it, so selecting a sweep's work reads only what is due: O(due), not O(all);
- `rec:failing` a sorted set of recordings whose deletion failed (score = first
  failure, so "failing for longer than the grace" is one range read);
- `rec:meeting:<platform>:<meeting>` the recordings of one meeting (objections);
- `obj:pending:<platform>:<meeting>` open objections of a meeting (G12), and
  `obj:open` every open objection (score = filed at).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.audit.log import AuditLog
from gateway.policy.model import Policy
from gateway.policy.retention import (
    HOLD_OBJECTION,
    DeclaredRecording,
    RegistryRow,
    RetentionDecision,
    force_due,
    hold_name,
    next_look,
    parse_holds,
    plan_registration,
)
from gateway.store.base import Store

DUE = "rec:due"
FAILING = "rec:failing"
OPEN_OBJECTIONS = "obj:open"

# A Jibri session directory name after Jibri's own sanitising (jitsi.md §5).
JIBRI_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def row_key(platform: str, recording_id: str) -> str:
    return f"{platform}:{recording_id}"


def _row_store_key(key: str) -> str:
    return f"rec:row:{key}"


def _holds_key(key: str) -> str:
    return f"rec:holds:{key}"


def _meeting_key(platform: str, meeting_ref: str) -> str:
    return f"rec:meeting:{platform}:{meeting_ref}"


def pending_objections_key(platform: str, meeting_ref: str) -> str:
    """Open objections for a meeting (G12): recordings registered later are held too."""
    return f"obj:pending:{platform}:{meeting_ref}"


def upheld_objections_key(platform: str, meeting_ref: str) -> str:
    """Upheld objections for a meeting (G12, G16): a recording of it registered after
    the decision (BBB publishes minutes to hours after the lesson) is due at once too."""
    return f"obj:upheld:{platform}:{meeting_ref}"


def upheld_recordings_key(objection_id: str) -> str:
    """Recordings an upheld objection made due after its decision (the pupil's page
    follows them until they are gone, G12)."""
    return f"obj:upheld-recordings:{objection_id}"


def upheld_ttl(policy: Policy) -> float:
    """How long an upheld marker lives: longer than any recording of the meeting can
    be kept (the longest retention the policy knows) and than the audit keeps it."""
    days = max([p.retention_days for p in policy.purposes.values()]
               + [policy.retention.undeclared_retention_days,
                  policy.retention.audit_retention_days])
    return days * 86400.0


def encode_row(row: RegistryRow) -> dict[str, bytes]:
    """The row's hash; holds live in their own set and are never written here."""
    fields: dict[str, str] = {
        "platform": row.platform, "recording_id": row.recording_id, "server": row.server,
        "meeting_ref": row.meeting_ref, "meeting_type": row.meeting_type,
        "purpose": row.purpose, "created": repr(row.created),
        "retain_until": repr(row.retain_until),
        "forced": "1" if row.forced else "0", "attempts": str(row.attempts),
        "first_failure": "" if row.first_failure is None else repr(row.first_failure),
        "next_attempt": "" if row.next_attempt is None else repr(row.next_attempt),
        "meeting_alias": row.meeting_alias, "meeting_name": row.meeting_name,
    }
    return {k: v.encode() for k, v in fields.items()}


def decode_row(raw: Mapping[str, bytes], holds: frozenset[str] = frozenset()
               ) -> RegistryRow | None:
    """A row from its hash and hold set, or None when the hash is missing or damaged."""
    try:
        text = {k: v.decode() for k, v in raw.items()}

        def opt(name: str) -> float | None:
            return float(text[name]) if text.get(name) else None

        return RegistryRow(
            platform=text["platform"], recording_id=text["recording_id"],
            server=text.get("server", ""), meeting_ref=text.get("meeting_ref", ""),
            meeting_type=text["meeting_type"], purpose=text["purpose"],
            created=float(text["created"]), retain_until=float(text["retain_until"]),
            holds=holds, forced=text.get("forced") == "1",
            attempts=int(text.get("attempts", "0")),
            first_failure=opt("first_failure"), next_attempt=opt("next_attempt"),
            meeting_alias=text.get("meeting_alias", ""),
            meeting_name=text.get("meeting_name", ""))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


class Registry:
    """Recordings and their due dates in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, key: str) -> RegistryRow | None:
        """The row; its holds are read from the hold set when the row's `held` hint
        says there may be some (a never-held row costs one read)."""
        raw = await self._store.hgetall(_row_store_key(key))
        if not raw:
            return None
        if raw.get("holds"):  # a row written before holds had their own set: move them
            legacy = [h for h in raw["holds"].decode(errors="replace").split("\n") if h]
            await self._store.sadd(_holds_key(key), *legacy)
            await self._mark_held(key, True)
            await self._store.hdel(_row_store_key(key), "holds")
            raw["held"] = b"1"
        holds = await self.holds(key) if raw.get("held") == b"1" else frozenset()
        return decode_row(raw, holds)

    async def holds(self, key: str) -> frozenset[str]:
        """The recording's holds as they are now: the set is the truth, read fresh
        before any deletion (the `held` hint only saves reads of rows never held)."""
        return frozenset(await self._store.smembers(_holds_key(key)))

    async def _mark_held(self, key: str, held: bool) -> None:
        """The hint is a field of its own: put() never writes it, so no stale copy
        clears it."""
        await self._store.hset(_row_store_key(key), {"held": b"1" if held else b"0"}, None)

    async def put(self, row: RegistryRow) -> None:
        """Write a row and keep the indexes in step with the hold set.

        A new row is created with its holds; an existing row's holds change only
        through add_hold/release_hold, so a copy read before a hold was placed or
        released cannot undo that (G12).
        """
        fields = encode_row(row)
        if row.holds and not await self._store.hgetall(_row_store_key(row.key)):
            await self._store.sadd(_holds_key(row.key), *row.holds)
            fields["held"] = b"1"
        await self._store.hset(_row_store_key(row.key), fields, None)
        for ref in row.meeting_refs:  # an objection finds it by any id of its meeting (G12)
            await self._store.sadd(_meeting_key(row.platform, ref), row.key)
        if row.first_failure is not None:
            await self._store.zadd(FAILING, {row.key: row.first_failure})
        await self._index(row)

    async def _index(self, row: RegistryRow) -> None:
        """Held rows leave the due index; the hold set is read after any row write (G12)."""
        if await self.holds(row.key):
            await self._store.zrem(DUE, row.key)
        else:
            await self._store.zadd(DUE, {row.key: next_look(row)})

    async def remove(self, row: RegistryRow) -> None:
        """Forget a recording once its deletion was verified."""
        await self._store.zrem(DUE, row.key)
        await self._store.zrem(FAILING, row.key)
        for ref in row.meeting_refs:
            await self._store.srem(_meeting_key(row.platform, ref), row.key)
        await self._store.delete(_row_store_key(row.key), _holds_key(row.key))

    async def forget_index_entry(self, key: str) -> None:
        """A due-index entry without a readable row (damaged or orphan)."""
        await self._store.zrem(DUE, key)

    async def due_keys(self, now: float, limit: int) -> list[str]:
        """Up to `limit` recordings a sweep should look at now, earliest first."""
        pairs = await self._store.zrange_by_score(DUE, -math.inf, now, limit)
        return [member for member, _ in pairs]

    async def upcoming(self, until: float, limit: int) -> list[tuple[str, float]]:
        return await self._store.zrange_by_score(DUE, -math.inf, until, limit)

    async def next_due(self) -> float | None:
        first = await self._store.zrange_by_score(DUE, -math.inf, math.inf, 1)
        return first[0][1] if first else None

    async def failing(self, before: float, limit: int) -> list[tuple[str, float]]:
        """Recordings whose deletion has been failing since before `before`."""
        return await self._store.zrange_by_score(FAILING, -math.inf, before, limit)

    async def meeting_keys(self, platform: str, meeting_ref: str) -> set[str]:
        return await self._store.smembers(_meeting_key(platform, meeting_ref))

    async def pending_holds(self, platform: str, meeting_ref: str) -> frozenset[str]:
        """Holds for the meeting's open objections (G12): read-only."""
        if not meeting_ref:
            return frozenset()
        pending = await self._store.hgetall(pending_objections_key(platform, meeting_ref))
        return frozenset(hold_name(HOLD_OBJECTION, objection_id) for objection_id in pending)

    async def add_hold(self, key: str, hold: str) -> RegistryRow | None:
        """Hold a recording (SADD: no other writer can drop it); None if unknown."""
        row = await self.get(key)
        if row is None:
            return None
        await self._store.sadd(_holds_key(key), hold)
        await self._mark_held(key, True)  # after the SADD: see release_hold
        await self._store.zrem(DUE, key)
        return replace(row, holds=await self.holds(key))

    async def release_hold(self, key: str, hold: str) -> RegistryRow | None:
        """Release one hold; the row goes back into the due index when none is left."""
        await self._store.srem(_holds_key(key), hold)
        row = await self.get(key)
        if row is None:
            return None
        holds = await self.holds(key)
        if not holds:
            await self._mark_held(key, False)
            if await self.holds(key):  # a hold placed meanwhile: its hint must stand
                await self._mark_held(key, True)
        await self._index(row)
        return replace(row, holds=holds)

    async def hold_pending(self, row: RegistryRow) -> frozenset[str]:
        """Hold a recording newly known in a meeting with open objections (G12).

        The pending objections are read again after the holds are placed: one
        decided meanwhile was released by its decision, so its hold is taken
        back. Returns the holds placed.
        """
        holds = await self._pending_of(row)
        if not holds:
            return holds
        await self._store.sadd(_holds_key(row.key), *holds)
        await self._mark_held(row.key, True)
        decided = holds - await self._pending_of(row)
        if decided:
            await self._store.srem(_holds_key(row.key), *decided)
        return holds - decided

    async def _pending_of(self, row: RegistryRow) -> frozenset[str]:
        """Open objections naming the recording's meeting by any of its ids."""
        found: frozenset[str] = frozenset()
        for ref in row.meeting_refs:
            found |= await self.pending_holds(row.platform, ref)
        return found

    async def upheld_of(self, row: RegistryRow) -> frozenset[str]:
        """Upheld objections naming the recording's meeting by any of its ids."""
        found: set[str] = set()
        for ref in row.meeting_refs:
            found |= set(await self._store.hgetall(upheld_objections_key(row.platform, ref)))
        return frozenset(found)

    async def apply_upheld(self, row: RegistryRow, now: float,
                           ttl: float) -> RegistryRow | None:
        """A recording of a meeting whose objection was upheld (G12, G16): the holds of
        those objections go (one placed while the decision ran included) and the
        recording is due at once, as the decision made the ones it found. Another hold
        (a legal hold) still wins until it is released. None when nothing applies.
        A meeting without an upheld objection costs one read per meeting id."""
        upheld = await self.upheld_of(row)
        if not upheld:
            return None
        key = row.key
        for objection_id in sorted(upheld):
            await self._store.sadd(upheld_recordings_key(objection_id), key)
            await self._store.expire(upheld_recordings_key(objection_id), ttl)
            hold = hold_name(HOLD_OBJECTION, objection_id)
            if hold in await self.holds(key):
                await self.release_hold(key, hold)
        current = await self.get(key)
        if current is None:
            return None
        due = force_due(current, now)
        if due != current:
            await self.put(due)
        return due

    async def reindex(self, row: RegistryRow) -> None:
        await self._index(row)


@dataclass(frozen=True, slots=True)
class Registration:
    row: RegistryRow
    decision: RetentionDecision
    new: bool


async def register_recording(registry: Registry, policy: Policy, declared: DeclaredRecording,
                             now: float, audit: AuditLog,
                             tag: Callable[[str], str]) -> Registration:
    """Upsert one recording (the sweep's reconciliation and jibri-finalize share this).

    The due date never moves earlier (G16). A recording new to a meeting with an
    open objection is held before it is indexed (G12); the pending objections
    are read once more after it joined the meeting's index, so an objection
    filed in between holds it too (filing writes the pending key, then lists
    the meeting's recordings).
    """
    existing = await registry.get(row_key(declared.platform, declared.recording_id))
    planned = plan_registration(policy, existing, declared, now)
    row = planned.row
    joins_meeting = bool(row.meeting_refs) and (existing is None
                                                 or existing.meeting_refs != row.meeting_refs)
    held = await registry.hold_pending(row) if joins_meeting else frozenset()
    if row != existing:
        await registry.put(row)
    if joins_meeting:
        late = await registry.hold_pending(row)
        if late - held:
            await registry.reindex(row)
        held |= late
    if row.meeting_refs:  # an objection upheld before it was registered, or meanwhile
        forced = await registry.apply_upheld(row, now, upheld_ttl(policy))
        if forced is not None:
            row = forced
            held &= forced.holds
    if existing is None:
        await audit.record(
            "recording_registered", row.platform, recording=row.key,
            purpose=row.purpose, meeting_type=row.meeting_type,
            meeting=tag(row.meeting_ref) if row.meeting_ref else None,
            retain_until=int(row.retain_until), source=planned.decision.source)
    return Registration(replace(row, holds=row.holds | held), planned.decision,
                        existing is None)


# --- The Jibri sidecar -------------------------------------------------------
#
# `jibri-finalize` writes it beside a Jibri recording (in the session directory)
# so the due date travels with the recording (DESIGN "State and data rules").
# Format: one JSON object, UTF-8, written atomically (temp file + rename):
#   {"format": "privacy-gateway-recording/1", "platform": "jitsi",
#    "recording_id": "<session directory name>", "meeting_ref": "<room name>",
#    "meeting_type": "lesson", "purpose": "lecture",
#    "created": <epoch seconds>, "retain_until": <epoch seconds>,
#    "policy_version": "2026.1", "holds": ["legal:CASE-12", "objection:<id>"]}
# `holds` (G12) is written by gateway.retention.holds whenever a hold changes.
# Unknown keys are ignored; anything missing or malformed falls back to the
# policy's default for undeclared recordings (never zero).

SIDECAR_NAME = "privacy-gateway.json"
SIDECAR_FORMAT = "privacy-gateway-recording/1"
_MAX_SIDECAR_BYTES = 64 * 1024


def write_sidecar(session_dir: Path, *, meeting_ref: str, meeting_type: str | None,
                  purpose: str | None, created: float, retain_until: float,
                  policy_version: str, holds: frozenset[str] = frozenset()) -> Path:
    """Write the sidecar into a Jibri session directory (atomic replace)."""
    body = {
        "format": SIDECAR_FORMAT, "platform": "jitsi", "recording_id": session_dir.name,
        "meeting_ref": meeting_ref, "meeting_type": meeting_type, "purpose": purpose,
        "created": created, "retain_until": retain_until, "policy_version": policy_version,
        "holds": sorted(holds),
    }
    write_json_atomic(session_dir / SIDECAR_NAME, body)
    return session_dir / SIDECAR_NAME


def write_json_atomic(path: Path, body: Mapping[str, Any]) -> None:
    """Replace `path` with `body` as JSON in one step (temp file + rename): a reader
    sees the old file or the new one, never half of it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        retain_until=_number(body.get("retain_until")), holds=parse_holds(body.get("holds")))


def sidecar_policy_version(session_dir: Path) -> str:
    """The policy version a sidecar was written under ("" when there is none)."""
    try:
        body = json.loads((session_dir / SIDECAR_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    version = body.get("policy_version") if isinstance(body, dict) else None
    return version if isinstance(version, str) else ""
