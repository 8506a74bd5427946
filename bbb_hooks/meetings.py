"""What the gateway remembers about each BBB meeting it created (the store).

Other parts read this: the recording guard (meeting type and purpose of a
meeting seen on the BBB bus, by internal meeting id) and the retention helpers
(purpose and server of a recording's meeting). The public API is
`meeting_info(store, meeting_id)` and `meeting_by_internal_id(store, internal_id)`.

Keys (under the store's prefix), both with the same TTL: the longest retention
period plus 30 days, so a recording's meeting is still known when it falls due.
- `bbb:meeting:<sha256(meetingID)>` a hash with the MeetingRecord fields
- `bbb:internal:<internalMeetingID>` the external meetingID (for bus events)
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, fields

from gateway.policy.model import MEETING_TYPES, PURPOSES, MeetingTypeName, Policy, PurposeName
from gateway.store.base import HashWrite, Store
from gateway.store.errors import StoreUnavailable
from gateway.web.home_index import remember


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    meeting_id: str  # the LMS's meetingID (external id)
    internal_meeting_id: str  # BBB's internalMeetingID (bus events, recording ids)
    server: str  # name of the BBB server the meeting is pinned to
    meeting_type: MeetingTypeName  # lesson | meeting | confidential
    purpose: PurposeName | None  # the meeting type's default recording purpose
    create_time: str  # BBB createTime (ms since epoch, as BBB wrote it)
    policy_version: str
    record: bool  # whether create allowed recording at all
    created_at: float  # gateway clock, seconds
    # sha256 of the passwords BBB answered, so a `password=` join maps to a role.
    moderator_pw_hash: str = ""
    attendee_pw_hash: str = ""


def meeting_key(meeting_id: str) -> str:
    return "bbb:meeting:" + hashlib.sha256(meeting_id.encode()).hexdigest()


def password_hash(password: str) -> str:
    return hashlib.sha256(b"bbb-pw\0" + password.encode()).hexdigest()


def record_ttl(policy: Policy) -> float:
    longest = max(p.retention_days for p in policy.purposes.values())
    return float((longest + 30) * 86400)


def _write(record: MeetingRecord, ttl: float) -> HashWrite:
    """The record's hash and the internal-id index, as one store write."""
    mapping = {f.name: str(getattr(record, f.name)).encode() for f in fields(record)}
    mapping["purpose"] = (record.purpose or "").encode()
    mapping["record"] = b"1" if record.record else b"0"
    internal = ({"bbb:internal:" + record.internal_meeting_id: record.meeting_id.encode()}
                if record.internal_meeting_id else {})
    return meeting_key(record.meeting_id), mapping, ttl, internal


async def save_meeting(store: Store, record: MeetingRecord, ttl: float) -> None:
    await store.hset_and_set(*_write(record, ttl))  # one round trip


class MeetingWrites:
    """save_meeting for the proxy's creates: the records of creates answered in the same
    turn of the event loop go to the store together, in one round trip.

    Each create still waits until its own record is stored (a join right after it must
    find it) and meets its own failure (StoreUnavailable) as with save_meeting; under
    load, 50 creates at once cost one pipelined round trip instead of 50 (Redis: ~25
    instead of ~85 µs of gateway CPU each, bench/bbb_proxy.py).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[HashWrite, asyncio.Future[None]]] = []

    async def save(self, record: MeetingRecord, ttl: float) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after every create ready in this turn
        self._pending.append((_write(record, ttl), done))
        await done

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            _SENDING.add(task)
            task.add_done_callback(_SENDING.discard)

    async def _send(self, batch: list[tuple[HashWrite, asyncio.Future[None]]]) -> None:
        try:
            if len(batch) == 1:
                await self._store.hset_and_set(*batch[0][0])
                results: list[StoreUnavailable | None] = [None]
            else:
                results = await self._store.hset_and_set_many([w for w, _ in batch])
        except BaseException as exc:  # each waiting create meets it as its own
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc if isinstance(exc, Exception)
                                       else StoreUnavailable("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done), error in zip(batch, results, strict=True):
            if done.done():
                continue  # that create was cancelled (the LMS went away): written anyway
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)


_SENDING: set[asyncio.Task[None]] = set()  # strong references while a batch is out


async def meeting_info(store: Store, meeting_id: str) -> MeetingRecord | None:
    """The record of a meeting created through the gateway, or None."""
    raw = await store.hgetall(meeting_key(meeting_id))
    if not raw:
        return None
    try:
        values = {k: v.decode() for k, v in raw.items()}
        meeting_type = next((m for m in MEETING_TYPES if m == values["meeting_type"]), None)
        purpose = next((p for p in PURPOSES if p == values.get("purpose")), None)
        if meeting_type is None or (values.get("purpose") and purpose is None):
            return None
        return MeetingRecord(
            meeting_id=values["meeting_id"],
            internal_meeting_id=values["internal_meeting_id"],
            server=values["server"],
            meeting_type=meeting_type,
            purpose=purpose,
            create_time=values["create_time"],
            policy_version=values["policy_version"],
            record=values["record"] == "1",
            created_at=float(values["created_at"]),
            moderator_pw_hash=values.get("moderator_pw_hash", ""),
            attendee_pw_hash=values.get("attendee_pw_hash", ""),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


async def meeting_by_internal_id(store: Store, internal_meeting_id: str) -> MeetingRecord | None:
    """The record for BBB's internal meeting id (as seen on the bus and in record ids)."""
    external = await store.get("bbb:internal:" + internal_meeting_id)
    return None if external is None else await meeting_info(store, external.decode())


def _purposes_key(internal_meeting_id: str) -> str:
    return "bbb:recording-purposes:" + internal_meeting_id


async def add_recording_purpose(store: Store, internal_meeting_id: str, purpose: str,
                                ttl: float) -> None:
    """Remember a purpose a recording of this meeting ran under (the guard, at the start).

    BBB makes one recording per meeting, named after the internal meeting id, so
    retention finds it again when the recording appears (H1 in the design notes:
    the declared purpose, not the meeting type's default, decides retention).
    """
    await store.hset(_purposes_key(internal_meeting_id), {purpose: b"1"}, ttl)


async def recording_purposes(store: Store, internal_meeting_id: str) -> set[str]:
    return set(await store.hgetall(_purposes_key(internal_meeting_id)))


# Who joined a meeting as moderator is attendance-like (G20): kept only as long as a
# declared purpose (guard_state.PURPOSE_TTL) and renewed by every moderator join.
MODERATOR_TTL = 7 * 86400.0


def _moderators_key(meeting_id: str) -> str:
    return "bbb:moderators:" + hashlib.sha256(meeting_id.encode()).hexdigest()


async def add_moderator(store: Store, meeting_id: str, person: str, ttl: float) -> None:
    """Someone joined this meeting as MODERATOR through the school login (G11, G19)."""
    await store.hset(_moderators_key(meeting_id), {person: b"1"}, ttl)
    await remember(store, person, "bbb", meeting_id, ttl)  # their home page lists it (G13)


async def is_moderator(store: Store, meeting_id: str, person: str) -> bool:
    return person in await store.hgetall(_moderators_key(meeting_id))


# The meeting's name from create (`name`), shown only on its teachers' home pages (G13).
# A name can say who a talk is with, so it is kept no longer than the home list entry.
MAX_NAME_CHARS = 200


def _name_key(meeting_id: str) -> str:
    return "bbb:meeting-name:" + hashlib.sha256(meeting_id.encode()).hexdigest()


async def save_meeting_name(store: Store, meeting_id: str, name: str) -> None:
    name = name.strip()[:MAX_NAME_CHARS]
    if name:
        await store.set(_name_key(meeting_id), name.encode(), MODERATOR_TTL)


async def meeting_name(store: Store, meeting_id: str) -> str:
    raw = await store.get(_name_key(meeting_id))
    return raw.decode(errors="replace") if raw else ""
