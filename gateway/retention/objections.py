"""Objections to recordings (G12): filed by a pupil, decided by the privacy officer.

Filing holds every recording of the meeting (and any recording of it that is
registered later, while the objection is open), so nothing is deleted or kept
by accident while it is under review. An upheld objection makes the recordings
due at once and deletes them straight away, under the sweeper lease, and leaves
an upheld marker on the meeting so a recording of it published later is due at
once too (BBB publishes minutes to hours after the lesson); a rejected
one releases the hold, the normal retention applies and a recording meant to be
watched is shown again. The free-text reason is dropped with the decision; the
decided record (meeting name and alias included) and the filer's index expire
audit_retention_days after the decision. Every step is in the audit log, naming
people by keyed pseudonym only; the pupil sees the outcome on their own page.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.audit.journal import AuditJournal
from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.metrics import PLATFORMS, Metrics
from gateway.policy.retention import (
    HOLD_OBJECTION,
    MAX_MEETING_REF_CHARS,
    MEETING_REF_RE,
    RegistryRow,
    force_due,
    hold_name,
)
from gateway.retention.model import SOURCE_ERRORS
from gateway.store.base import Store
from gateway.store.registry import OPEN_OBJECTIONS as OPEN
from gateway.store.registry import pending_objections_key as pending_key
from gateway.store.registry import (
    row_key,
    upheld_objections_key,
    upheld_recordings_key,
    upheld_ttl,
)

if TYPE_CHECKING:  # the desk works with the sweeper, which never imports the desk
    from gateway.retention.sweeper import Sweeper

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000
MAX_OPEN_PER_PERSON = 10
# An open objection holds every recording of its meeting that appears until the officer
# decides (G12): its pending key has no expiry; the decision removes it.
PENDING_TTL_SECONDS: float | None = None
# Taking a recording out of view is best effort: the objection is filed anyway.
WITHHOLD_TIMEOUT_SECONDS = 10.0


def meeting_ref_problem(meeting_ref: str) -> str | None:
    """Why a meeting id cannot be objected to (a bounded label), or None when fine."""
    if not meeting_ref:
        return "meeting_empty"
    if len(meeting_ref) > MAX_MEETING_REF_CHARS:
        return "meeting_too_long"
    if not MEETING_REF_RE.fullmatch(meeting_ref):
        return "meeting_characters"
    return None


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
    deleting: tuple[str, ...] = ()  # upheld: the recordings whose deletion it started
    # The meeting as its recordings named it when the objection was filed or decided:
    # kept here so the pupil still sees which lesson it was once they are deleted.
    meeting_name: str = ""
    meeting_alias: str = ""  # the id the pupil knows it by (BBB: the LMS's meetingID)


@dataclass(frozen=True, slots=True)
class ObjectionState:
    """Where an objection stands now, from the recordings themselves (G12, G16).

    `outcome`: open_held | open_none | upheld_deleting | upheld_failing |
    upheld_deleted | upheld_kept | upheld_none | rejected. "deleted" only once
    every recording it made due is verified gone (the sweeper forgets a row only
    then).
    """

    objection: Objection
    outcome: str
    held: int  # recordings held by it now (open), or still to delete (upheld)
    meeting_name: str  # the meeting's name when a recording of it says so, else ""
    meeting_alias: str = ""  # the LMS's id of the meeting when a recording says so, else ""


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
            recordings=int(text.get("recordings", "0")),
            deleting=tuple(k for k in text.get("deleting", "").split(",") if k),
            meeting_name=text.get("meeting_name", ""),
            meeting_alias=text.get("meeting_alias", ""))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


async def restore_open(store: Store, objection_id: str, row: RegistryRow,
                       now: float, journal: AuditJournal | None = None, *,
                       person_ttl: float = 365 * 86400.0) -> bool:
    """An open objection whose hold stands on a recording but which the store lost
    (G12): it is open again for the privacy officer to decide, and the meeting's
    pending key holds its other recordings. Only the hold is on the recording.
    The filer's pseudonym comes back from the durable audit journal's
    `objection_filed` entry while the journal still holds it, so the filer sees
    the outcome on /objections again. The free-text reason is in no log, so it
    does not come back, nor does the filing time (the restore time stands in).
    True when restored."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", objection_id) or await store.hgetall(
            _obj_key(objection_id)):
        return False
    filed = await asyncio.to_thread(journal.find, "objection_filed",
                                    objection=objection_id) if journal else None
    person = filed.get("person") if filed else None
    person = person if isinstance(person, str) else ""
    await store.hset(_obj_key(objection_id), {
        "id": objection_id.encode(), "platform": row.platform.encode(),
        "meeting_ref": (row.meeting_ref or row.recording_id).encode(),
        "person": person.encode(), "reason": b"", "filed_at": repr(now).encode(),
        "status": b"open", "recordings": b"1", "restored": b"1"}, None)
    await store.zadd(OPEN, {objection_id: now})
    if person:
        await _index_person(store, person, objection_id, person_ttl)
    if row.meeting_ref:
        await store.hset(pending_key(row.platform, row.meeting_ref), {objection_id: b"1"},
                         PENDING_TTL_SECONDS)
    return True


async def _index_person(store: Store, person: str, objection_id: str, ttl: float) -> None:
    """The filer's list of objections: it expires with their newest objection's
    audit retention, never kept forever (G16); of_person drops expired ids."""
    await store.sadd(_person_key(person), objection_id)
    await store.expire(_person_key(person), ttl)


def _name(rows: list[RegistryRow]) -> str:
    return next((r.meeting_name for r in rows if r.meeting_name), "")


def _alias(rows: list[RegistryRow]) -> str:
    return next((r.meeting_alias for r in rows if r.meeting_alias), "")


@dataclass(frozen=True, slots=True)
class MeetingInfo:
    """What the known recordings of a meeting say about it (for the objection form)."""

    name: str  # "" when no recording names it
    alias: str  # the LMS's id, "" when unknown
    recordings: int  # how many recordings of it are known


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
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, objection_id: str) -> Objection | None:
        if not re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", objection_id):
            return None
        raw = await self.store.hgetall(_obj_key(objection_id))
        return _decode(raw) if raw else None

    async def of_person(self, person: str) -> list[Objection]:
        ids = await self.store.smembers(_person_key(person))
        got = {i: await self.get(i) for i in ids}
        gone = [i for i, o in got.items() if o is None]
        if gone:  # the objection expired: its id leaves the filer's index too (G16)
            await self.store.srem(_person_key(person), *gone)
        found = [o for o in got.values() if o is not None]
        if any(o.status == "open" for o in found):  # an open one never expires (G12)
            await self.store.expire(_person_key(person), self.ttl)
        return sorted(found, key=lambda o: o.filed_at, reverse=True)

    async def open_objections(self, limit: int = 200) -> list[Objection]:
        pairs = await self.store.zrange_by_score(OPEN, 0, float("inf"), limit)
        found = [await self.get(i) for i, _ in pairs]
        return [o for o in found if o is not None and o.status == "open"]

    async def file(self, *, platform: str, meeting_ref: str, person: str,
                   reason: str) -> Objection:
        """File an objection and hold the meeting's recordings at once (G12).

        The objection and the meeting's pending key are stored first: every hold
        then names an objection an officer can decide, and a recording registered
        while the holds are placed finds the pending key and is held too.
        """
        if platform not in PLATFORMS:
            raise ObjectionRefused("bad_platform")
        problem = meeting_ref_problem(meeting_ref)
        if problem is not None:
            raise ObjectionRefused(problem)
        reason = reason.strip()[:MAX_REASON_CHARS]
        mine = await self.of_person(person)
        if sum(o.status == "open" for o in mine) >= MAX_OPEN_PER_PERSON:
            raise ObjectionRefused("too_many")
        now = self.clock.time()
        objection_id = secrets.token_urlsafe(12)
        # An open objection never expires: it is kept until the officer decides (G12).
        await self.store.hset(_obj_key(objection_id), {
            "id": objection_id.encode(), "platform": platform.encode(),
            "meeting_ref": meeting_ref.encode(), "person": person.encode(),
            "reason": reason.encode(), "filed_at": repr(now).encode(),
            "status": b"open", "recordings": b"0"}, None)
        await self.store.zadd(OPEN, {objection_id: now})
        await _index_person(self.store, person, objection_id, self.ttl)
        await self.store.hset(pending_key(platform, meeting_ref),
                              {objection_id: b"1"}, PENDING_TTL_SECONDS)
        held = await self._hold_recordings(platform, meeting_ref, objection_id)
        await self.store.hset(_obj_key(objection_id), {
            "recordings": str(len(held)).encode(),
            "meeting_name": _name(held).encode(), "meeting_alias": _alias(held).encode()}, None)
        await self.sweeper.restate([(row, await self.registry.get(row.key)) for row in held])
        await self.audit.record("objection_filed", platform, objection=objection_id,
                                meeting=self.tag(meeting_ref), person=person,
                                recordings=len(held))
        self.metrics.objections.labels(outcome="filed").inc()
        await self.refresh_gauge()
        for row in held:
            await self._withhold(row)
        found = await self.get(objection_id)
        assert found is not None
        return found

    async def _hold_recordings(self, platform: str, meeting_ref: str,
                               objection_id: str) -> list[RegistryRow]:
        hold = hold_name(HOLD_OBJECTION, objection_id)
        held = []
        for key in sorted(await self._recording_keys(platform, meeting_ref)):
            before = await self.registry.get(key)
            row = await self.registry.add_hold(key, hold)
            if row is not None and before is not None:
                # Written onto the recording too, so a lost store gets it back (G12).
                change = await self.sweeper.holds.write_back(key)
                await self.audit.record("hold_placed", platform, recording=key, hold=hold,
                                        written=int(change is not None and change.written))
                held.append(before)
        return held

    async def _withhold(self, row: RegistryRow) -> None:
        """Nobody watches a recording under review: take it out of view where possible.

        Best effort: a slow or failing platform never fails the objection, which
        is stored and holds the recording already (G12).
        """
        await self._on_platform(row, "withhold")

    async def _recording_keys(self, platform: str, meeting_ref: str) -> set[str]:
        keys = await self.registry.meeting_keys(platform, meeting_ref)
        direct = row_key(platform, meeting_ref)  # a BBB record id is its meeting's internal id
        if await self.registry.get(direct) is not None:
            keys.add(direct)
        return keys

    async def decide(self, objection_id: str, *, upheld: bool, officer: str) -> Objection:
        """The privacy officer's decision. Upheld: the recordings fall due at once and
        are deleted in the background under the sweeper lease (G12, never two
        deleters at once); `deletions_settled()` waits for that."""
        objection = await self.get(objection_id)
        if objection is None:
            raise ObjectionRefused("not_found")
        if objection.status != "open":
            raise ObjectionRefused("already_decided")
        now = self.clock.time()
        outcome = "upheld" if upheld else "rejected"
        # Decided once: two officers (or one on two replicas) deciding at the same time
        # must not both act, one deleting what the other shows again (G12).
        if not await self.store.hset_if(_obj_key(objection_id), "status", b"open", {
                "status": outcome.encode(), "decided_at": repr(now).encode()}, self.ttl):
            raise ObjectionRefused("already_decided")
        await self.store.zrem(OPEN, objection_id)
        if upheld:
            # Written before the pending entry goes: a recording of the meeting registered
            # from now on (BBB publishes late), or while this runs, is due at once (G12, G16).
            await self.store.hset(upheld_objections_key(objection.platform,
                                                        objection.meeting_ref),
                                  {objection_id: b"1"}, self._upheld_ttl())
        await self.store.hdel(pending_key(objection.platform, objection.meeting_ref),
                              objection_id)
        # The free text was for the officer to decide on; it is not kept (G16).
        await self.store.hdel(_obj_key(objection_id), "reason")
        if objection.person:  # the filer sees the outcome as long as the record lives
            await _index_person(self.store, objection.person, objection_id, self.ttl)
        await self.audit.record("objection_decided", objection.platform,
                                objection=objection_id, outcome=outcome, officer=officer)
        hold = hold_name(HOLD_OBJECTION, objection_id)
        due_now: list[str] = []
        deleting: list[str] = []
        changes: list[tuple[RegistryRow, RegistryRow | None]] = []
        keys = sorted(await self._recording_keys(objection.platform, objection.meeting_ref))
        await self._remember_meeting(objection, [r for r in [
            await self.registry.get(k) for k in keys] if r is not None])
        for key in keys:
            before = await self.registry.get(key)
            row = await self._release(key, hold, upheld)
            if row is None or before is None:
                continue
            changes.append((before, await self.registry.get(key)))
            if upheld:
                # The pupil's page follows each of these until it is verified gone (G12).
                deleting.append(key)
                if not row.holds:  # another hold (a legal hold) still wins until released
                    due_now.append(key)
        if upheld:
            await self.store.hset(_obj_key(objection_id),  # keeps the decision's TTL
                                  {"deleting": ",".join(deleting).encode()}, None)
        await self.sweeper.restate(changes)
        if due_now:
            self._delete_soon(due_now)
        self.metrics.objections.labels(outcome=outcome).inc()
        await self.refresh_gauge()
        decided = await self.get(objection_id)
        assert decided is not None
        return decided

    def _upheld_ttl(self) -> float:
        """The upheld marker outlives any recording of the meeting: no retention keeps
        one longer than the longest retention the policy knows (or the audit's)."""
        return max(self.ttl, upheld_ttl(self.sweeper.policy))

    async def _remember_meeting(self, objection: Objection, rows: list[RegistryRow]) -> None:
        """Keep the meeting's name and LMS id with the objection (a recording that
        appeared after filing names it too), before any deletion forgets them."""
        name = _name(rows) or objection.meeting_name
        alias = _alias(rows) or objection.meeting_alias
        if (name, alias) != (objection.meeting_name, objection.meeting_alias):
            await self.store.hset(_obj_key(objection.objection_id), {
                "meeting_name": name.encode(), "meeting_alias": alias.encode()}, None)

    async def state(self, objection: Objection) -> ObjectionState:
        """The objection as its filer and the officer see it: what is held now, or
        whether the deletion it started is done, under way, or failing."""
        if objection.status == "open":
            hold = hold_name(HOLD_OBJECTION, objection.objection_id)
            rows = [r for r in [await self.registry.get(k) for k in sorted(
                await self._recording_keys(objection.platform, objection.meeting_ref))]
                if r is not None]
            held = [r for r in rows if hold in r.holds]
            return ObjectionState(objection, "open_held" if held else "open_none", len(held),
                                  _name(rows) or objection.meeting_name,
                                  _alias(rows) or objection.meeting_alias)
        if objection.status != "upheld":
            rows = [r for r in [await self.registry.get(k) for k in sorted(
                await self._recording_keys(objection.platform, objection.meeting_ref))]
                if r is not None]
            return ObjectionState(objection, objection.status, 0,
                                  _name(rows) or objection.meeting_name,
                                  _alias(rows) or objection.meeting_alias)
        # Every recording of the meeting registered now counts, not only those the
        # decision found: one published after it is deleted too (G12, G16).
        later = await self.store.smembers(upheld_recordings_key(objection.objection_id))
        keys = (set(objection.deleting) | later
                | await self._recording_keys(objection.platform, objection.meeting_ref))
        left = [r for r in [await self.registry.get(k) for k in sorted(keys)]
                if r is not None]
        if not objection.deleting and not later and not left:
            outcome = "upheld_none"
        elif not left:
            outcome = "upheld_deleted"
        elif any(r.first_failure is not None for r in left):
            outcome = "upheld_failing"
        elif any(r.holds for r in left):
            outcome = "upheld_kept"
        else:
            outcome = "upheld_deleting"
        return ObjectionState(objection, outcome, len(left),
                              _name(left) or objection.meeting_name,
                              _alias(left) or objection.meeting_alias)

    async def meeting_info(self, platform: str, meeting_ref: str) -> MeetingInfo:
        """The meeting's name and LMS id when a known recording of it says so, and
        how many recordings of it are known."""
        if platform not in PLATFORMS or meeting_ref_problem(meeting_ref) is not None:
            return MeetingInfo("", "", 0)
        rows = [r for r in [await self.registry.get(k) for k in sorted(
            await self._recording_keys(platform, meeting_ref))] if r is not None]
        return MeetingInfo(_name(rows), _alias(rows), len(rows))

    async def _release(self, key: str, hold: str, upheld: bool) -> RegistryRow | None:
        row = await self.registry.get(key)
        if row is None or hold not in row.holds:
            return None
        if upheld:
            await self.registry.put(force_due(row, self.clock.time()))  # G12: destroyed
        released = await self.registry.release_hold(key, hold)
        await self.sweeper.holds.write_back(key)
        await self.audit.record("hold_released", row.platform, recording=key, hold=hold)
        if released is not None and not upheld and not released.holds:
            await self._republish(released)
        return released

    async def _republish(self, row: RegistryRow) -> None:
        """A rejected objection: a recording meant to be watched is shown again (G14)."""
        purpose = next((p for name, p in self.sweeper.policy.purposes.items()
                        if name == row.purpose), None)
        if purpose is None or not purpose.distribute:
            return
        await self._on_platform(row, "republish")

    async def _on_platform(self, row: RegistryRow, action: str) -> None:
        """Best effort: the source that owns the row takes it out of view or back."""
        for source in self.sweeper.sources:
            method = getattr(source, action, None)
            if not source.owns(row) or method is None:
                continue
            try:
                await asyncio.wait_for(method(row), WITHHOLD_TIMEOUT_SECONDS)
            except SOURCE_ERRORS as exc:
                log.warning(f"{action} failed", extra={"event": f"{action}_failed",
                                                       "platform": row.platform,
                                                       "error": type(exc).__name__})

    def _delete_soon(self, keys: list[str]) -> None:
        task = asyncio.create_task(self._delete_now(keys), name="objection-deletion")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delete_now(self, keys: list[str]) -> None:
        try:
            await self.sweeper.delete_now(keys)
        except Exception:  # the rows are due: the next sweep deletes them
            log.error("objection deletion failed", exc_info=True,
                      extra={"event": "objection_deletion_error"})

    async def deletions_settled(self) -> None:
        """Wait for upheld objections' deletions started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def refresh_gauge(self) -> None:
        self.metrics.objections_open.set(await self.store.zcard(OPEN))
