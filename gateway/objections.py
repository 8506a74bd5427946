"""Objections to recordings (G12): filed by a pupil, decided by the privacy officer.

Filing holds every recording of the meeting (and any recording of it that is
registered later, while the objection is open), so nothing is deleted or kept
by accident while it is under review. An upheld objection makes the recordings
due at once and deletes them straight away; a rejected one releases the hold
and the normal retention applies. Every step is in the audit log, naming
people by keyed pseudonym only; the pupil sees the outcome on their own page.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from gateway.audit import AuditLog
from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.registry import pending_objections_key as pending_key
from gateway.retention_policy import HOLD_OBJECTION, RegistryRow, force_due, hold_name
from gateway.store import Store
from gateway.sweeper import Sweeper

PLATFORMS = ("bbb", "jitsi")
MEETING_REF_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
MAX_REASON_CHARS = 1000
MAX_OPEN_PER_PERSON = 10
PENDING_TTL_SECONDS = 86400.0  # recordings of the meeting registered within a day are held
OPEN = "obj:open"


class ObjectionRefused(Exception):
    """The objection cannot be filed or decided; `reason` is a bounded label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Objection:
    objection_id: str
    platform: str
    meeting_ref: str
    person: str
    reason: str
    filed_at: float
    status: str  # open | upheld | rejected
    decided_at: float | None
    recordings: int


def _obj_key(objection_id: str) -> str:
    return f"obj:{objection_id}"


def _person_key(person: str) -> str:
    return f"obj:person:{person}"


def _decode(raw: dict[str, bytes]) -> Objection | None:
    try:
        text = {k: v.decode() for k, v in raw.items()}
        return Objection(
            objection_id=text["id"], platform=text["platform"],
            meeting_ref=text["meeting_ref"], person=text["person"],
            reason=text.get("reason", ""), filed_at=float(text["filed_at"]),
            status=text["status"],
            decided_at=float(text["decided_at"]) if text.get("decided_at") else None,
            recordings=int(text.get("recordings", "0")))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


class ObjectionDesk:
    def __init__(self, *, store: Store, sweeper: Sweeper, audit: AuditLog, clock: Clock,
                 metrics: Metrics, retention_days: int,
                 tag: Callable[[str], str]) -> None:
        self.store = store
        self.sweeper = sweeper
        self.registry = sweeper.registry
        self.audit = audit
        self.clock = clock
        self.metrics = metrics
        self.ttl = retention_days * 86400.0
        self.tag = tag

    async def get(self, objection_id: str) -> Objection | None:
        if not re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", objection_id):
            return None
        raw = await self.store.hgetall(_obj_key(objection_id))
        return _decode(raw) if raw else None

    async def of_person(self, person: str) -> list[Objection]:
        ids = await self.store.smembers(_person_key(person))
        found = [o for o in [await self.get(i) for i in ids] if o is not None]
        return sorted(found, key=lambda o: o.filed_at, reverse=True)

    async def open_objections(self, limit: int = 200) -> list[Objection]:
        pairs = await self.store.zrange_by_score(OPEN, 0, float("inf"), limit)
        found = [await self.get(i) for i, _ in pairs]
        return [o for o in found if o is not None and o.status == "open"]

    async def file(self, *, platform: str, meeting_ref: str, person: str,
                   reason: str) -> Objection:
        """File an objection and hold the meeting's recordings at once (G12)."""
        if platform not in PLATFORMS or not MEETING_REF_RE.fullmatch(meeting_ref):
            raise ObjectionRefused("bad_reference")
        reason = reason.strip()[:MAX_REASON_CHARS]
        mine = await self.of_person(person)
        if sum(o.status == "open" for o in mine) >= MAX_OPEN_PER_PERSON:
            raise ObjectionRefused("too_many")
        now = self.clock.time()
        objection_id = secrets.token_urlsafe(12)
        hold = hold_name(HOLD_OBJECTION, objection_id)
        keys = await self._recording_keys(platform, meeting_ref)
        for key in sorted(keys):
            row = await self.registry.add_hold(key, hold)
            if row is not None:
                await self.audit.record("hold_placed", platform, recording=key, hold=hold)
                await self._withhold(row)
        # An open objection never expires: it is kept until the officer decides (G12).
        await self.store.hset(_obj_key(objection_id), {
            "id": objection_id.encode(), "platform": platform.encode(),
            "meeting_ref": meeting_ref.encode(), "person": person.encode(),
            "reason": reason.encode(), "filed_at": repr(now).encode(),
            "status": b"open", "recordings": str(len(keys)).encode()}, None)
        await self.store.zadd(OPEN, {objection_id: now})
        await self.store.sadd(_person_key(person), objection_id)
        await self.store.hset(pending_key(platform, meeting_ref),
                              {objection_id: b"1"}, PENDING_TTL_SECONDS)
        await self.audit.record("objection_filed", platform, objection=objection_id,
                                meeting=self.tag(meeting_ref), person=person,
                                recordings=len(keys))
        self.metrics.objections.labels(outcome="filed").inc()
        await self.refresh_gauge()
        found = await self.get(objection_id)
        assert found is not None
        return found

    async def _withhold(self, row: RegistryRow) -> None:
        """Nobody watches a recording under review: take it out of view where possible."""
        for source in self.sweeper.sources:
            withhold = getattr(source, "withhold", None)
            if source.owns(row) and withhold is not None:
                await withhold(row)

    async def _recording_keys(self, platform: str, meeting_ref: str) -> set[str]:
        keys = await self.registry.meeting_keys(platform, meeting_ref)
        direct = f"{platform}:{meeting_ref}"  # a BBB record id is its meeting's internal id
        if await self.registry.get(direct) is not None:
            keys.add(direct)
        return keys

    async def decide(self, objection_id: str, *, upheld: bool, officer: str) -> Objection:
        """The privacy officer's decision; upheld deletes the recordings at once."""
        objection = await self.get(objection_id)
        if objection is None:
            raise ObjectionRefused("not_found")
        if objection.status != "open":
            raise ObjectionRefused("already_decided")
        now = self.clock.time()
        outcome = "upheld" if upheld else "rejected"
        await self.store.hset(_obj_key(objection_id), {
            "status": outcome.encode(), "decided_at": repr(now).encode()}, self.ttl)
        await self.store.zrem(OPEN, objection_id)
        await self.store.hdel(pending_key(objection.platform, objection.meeting_ref),
                              objection_id)
        await self.audit.record("objection_decided", objection.platform,
                                objection=objection_id, outcome=outcome, officer=officer)
        hold = hold_name(HOLD_OBJECTION, objection_id)
        for key in sorted(await self._recording_keys(objection.platform, objection.meeting_ref)):
            await self._release(key, hold, upheld)
        self.metrics.objections.labels(outcome=outcome).inc()
        await self.refresh_gauge()
        decided = await self.get(objection_id)
        assert decided is not None
        return decided

    async def _release(self, key: str, hold: str, upheld: bool) -> None:
        row = await self.registry.get(key)
        if row is None or hold not in row.holds:
            return
        row = await self.registry.release_hold(key, hold)
        assert row is not None
        await self.audit.record("hold_released", row.platform, recording=key, hold=hold)
        if not upheld:
            return
        row = force_due(row, self.clock.time())  # G12: destroyed when upheld
        await self.registry.put(row)
        if not row.holds:  # another hold (a legal hold) still wins until released
            await self.sweeper.delete_row(row, reason="objection_upheld")

    async def refresh_gauge(self) -> None:
        self.metrics.objections_open.set(len(await self.open_objections(10_000)))

