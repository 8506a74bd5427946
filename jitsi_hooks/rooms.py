"""Jitsi rooms: name validation and the per-room state kept in the store.

Room names are the bare MUC node prosody compares against the token's `room`
claim in lowercase (reference/jitsi.md §1). Only a plain, short name gets a
token: no path separators, no percent-encoding, no dots, no `*`, no Unicode
look-alikes. Mixed case is folded, as Jitsi does itself.

Store layout (under the store prefix; every key has a TTL):
- `jitsi:room:<room>`     hash: meeting type chosen by a teacher, purpose, approval ref
- `jitsi:occ:<room>`      hash: occupant id -> person pseudonym ("" for services)
- `jitsi:consent:<room>`  hash: person pseudonym -> "1" (transcription opt-in, G15)
- `jitsi:rec:<room>`      hash: recording status, purpose, AV moderation state before
- `jitsi:creator:<room>`  the creator's pseudonym, claimed once (set-if-absent, M6/M7)
- `jitsi:inv:<room>`      hash: keyed pseudonym of an invited school e-mail -> "1" (G3)
- `jitsi:tok:<room>`      hash: pseudonym of a token holder -> expiry (G20: who may watch)
- `jitsi:roles:<room>`    hash: pseudonym of a token holder -> role (the guard's teachers
                          and pupils; the token itself does not carry the role)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from gateway.policy.model import MEETING_TYPES, PURPOSES, ROLES, MeetingTypeName, PurposeName, Role
from gateway.store.base import Store
from gateway.web.errors import BadRequest
from gateway.web.home_index import remember

ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")
ROOM_TTL = 180 * 86400  # a teacher-created room keeps its type for half a year
PRESENCE_TTL = 86400
CONSENT_TTL = 12 * 3600


def normalise_room(raw: str | None) -> str:
    """The room name as prosody sees it, or BadRequest for anything unusual."""
    if raw is None:
        raise BadRequest("missing_room")
    room = raw.lower()
    if not ROOM_RE.fullmatch(room) or not raw.isascii():
        raise BadRequest("bad_room")
    return room


@dataclass(frozen=True, slots=True)
class RoomSettings:
    created_as: MeetingTypeName | None = None
    purpose: PurposeName | None = None
    approval_reference: str | None = None
    creator: str | None = None  # pseudonym of the teacher who created or claimed the room


@dataclass(frozen=True, slots=True)
class RecordingState:
    recording: bool = False
    purpose: PurposeName | None = None
    av_before: tuple[bool, bool] | None = None  # (audio, video) AV moderation before the guard
    started_at: float | None = None


def _room_settings(raw: dict[str, bytes]) -> RoomSettings:
    created = raw.get("type", b"").decode()
    purpose = raw.get("purpose", b"").decode()
    return RoomSettings(
        created_as=created if created in MEETING_TYPES else None,
        purpose=purpose if purpose in PURPOSES else None,
        approval_reference=raw.get("approval", b"").decode() or None,
        creator=raw.get("creator", b"").decode() or None)


def room_settings(raw: dict[str, bytes]) -> RoomSettings:
    """A room's settings from its stored hash (`jitsi:room:<room>`)."""
    return _room_settings(raw)


KNOWN_LIMIT = 4096


class Known:
    """What this replica last read of some keys: GUESSES for a hot path, which checks them
    in the same atomic store step as its writes (gateway/store/batch.py) and never decides
    on them alone. Bounded: the oldest entry goes first."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[object, object] = {}

    def get(self, key: object) -> object | None:
        return self._items.get(key)

    def put(self, key: object, value: object | None) -> None:
        if value is None:
            self._items.pop(key, None)
            return
        if key not in self._items and len(self._items) >= KNOWN_LIMIT:
            del self._items[next(iter(self._items))]
        self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)


class RoomStore:
    """Typed access to the room keys above."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.known_rooms = Known()  # room -> its `jitsi:room` hash as last read here
        self.known_acks = Known()  # (room, person) -> the notice they continued from

    async def settings(self, room: str) -> RoomSettings:
        raw = await self._store.hgetall(f"jitsi:room:{room}")
        self.known_rooms.put(room, raw)
        return _room_settings(raw)

    def known_room(self, room: str) -> dict[str, bytes] | None:
        raw = self.known_rooms.get(room)
        return raw if isinstance(raw, dict) else None

    def known_ack(self, room: str, person: str) -> bytes | None:
        raw = self.known_acks.get((room, person))
        return raw if isinstance(raw, bytes) else None

    async def create(self, room: str, meeting_type: MeetingTypeName, creator: str) -> bool:
        """Record a teacher's room; False when the room already has a type or a creator."""
        if (await self.settings(room)).created_as is not None:
            return False
        if not await self.claim(room, creator):
            return False
        await self._store.hset(f"jitsi:room:{room}", {"type": meeting_type.encode()}, ROOM_TTL)
        return True

    async def claim(self, room: str, creator: str) -> bool:
        """Become the room's creator if nobody is (M6, M7); race-free through set-if-absent."""
        if not await self._store.set_nx(f"jitsi:creator:{room}", creator.encode(), ROOM_TTL):
            return False
        await self._store.hset(f"jitsi:room:{room}", {"creator": creator.encode()}, ROOM_TTL)
        await remember(self._store, creator, "jitsi", room, ROOM_TTL)  # their home page (G13)
        return True

    async def invite(self, room: str, invite_tag: str) -> None:
        await self._store.hset(f"jitsi:inv:{room}", {invite_tag: b"1"}, ROOM_TTL)

    async def is_invited(self, room: str, invite_tag: str) -> bool:
        return invite_tag in await self._store.hgetall(f"jitsi:inv:{room}")

    async def invitation_count(self, room: str) -> int:
        return len(await self._store.hgetall(f"jitsi:inv:{room}"))

    async def remember_token_holder(self, room: str, person: str, until: float,
                                    ttl: float) -> None:
        await self._store.hset(f"jitsi:tok:{room}", {person: str(int(until)).encode()}, ttl)

    async def token_holders(self, room: str, now: float) -> set[str]:
        raw = await self._store.hgetall(f"jitsi:tok:{room}")
        return {person for person, until in raw.items() if until.isdigit() and int(until) > now}

    async def remember_role(self, room: str, person: str, role: Role) -> None:
        await self._store.hset(f"jitsi:roles:{room}", {person: role.encode()}, PRESENCE_TTL)

    async def roles(self, room: str) -> dict[str, Role]:
        """Role per person who got a token for the room: one read for all occupants."""
        out: dict[str, Role] = {}
        for person, raw in (await self._store.hgetall(f"jitsi:roles:{room}")).items():
            role = raw.decode()
            out[person] = role if role in ROLES else "guest"  # unknown: protected
        return out

    async def replace_occupants(self, room: str, occupants: dict[str, str]) -> None:
        """The module's full list of a room's occupants (sync, M3) replaces ours."""
        await self._store.delete(f"jitsi:occ:{room}")
        if occupants:
            await self._store.hset(f"jitsi:occ:{room}",
                                   {k: v.encode() for k, v in occupants.items()}, PRESENCE_TTL)

    async def declare_purpose(self, room: str, purpose: PurposeName,
                              approval_reference: str | None) -> None:
        await self._store.hset(f"jitsi:room:{room}", {
            "purpose": purpose.encode(),
            "approval": (approval_reference or "").encode()}, ROOM_TTL)

    async def occupants(self, room: str) -> dict[str, str]:
        raw = await self._store.hgetall(f"jitsi:occ:{room}")
        return {k: v.decode() for k, v in raw.items()}

    async def add_occupant(self, room: str, occupant: str, person: str) -> None:
        await self._store.hset(f"jitsi:occ:{room}", {occupant: person.encode()}, PRESENCE_TTL)

    async def remove_occupant(self, room: str, occupant: str) -> None:
        await self._store.hdel(f"jitsi:occ:{room}", occupant)

    async def forget_room(self, room: str) -> None:
        """A destroyed room: presence, consent and recording state go (minimisation)."""
        await self._store.delete(f"jitsi:occ:{room}", f"jitsi:consent:{room}",
                                 f"jitsi:rec:{room}")

    async def present_people(self, room: str) -> set[str]:
        return {p for p in (await self.occupants(room)).values() if p}

    async def opted_in(self, room: str) -> set[str]:
        return set(await self._store.hgetall(f"jitsi:consent:{room}"))

    async def set_consent(self, room: str, person: str, opted_in: bool) -> None:
        if opted_in:
            await self._store.hset(f"jitsi:consent:{room}", {person: b"1"}, CONSENT_TTL)
        else:
            await self._store.hdel(f"jitsi:consent:{room}", person)

    async def recording(self, room: str) -> RecordingState:
        raw = await self._store.get(f"jitsi:rec:{room}")
        if raw is None:
            return RecordingState()
        try:
            data = json.loads(raw)
            before = data.get("av_before")
            purpose = data.get("purpose")
            return RecordingState(
                recording=bool(data.get("recording")),
                purpose=purpose if purpose in PURPOSES else None,
                av_before=(bool(before[0]), bool(before[1])) if before else None,
                started_at=data.get("started_at"))
        except (ValueError, TypeError, IndexError, AttributeError):
            return RecordingState()

    async def set_recording(self, room: str, state: RecordingState) -> None:
        body = {"recording": state.recording, "purpose": state.purpose,
                "av_before": list(state.av_before) if state.av_before else None,
                "started_at": state.started_at}
        await self._store.set(f"jitsi:rec:{room}", json.dumps(body).encode(), PRESENCE_TTL)
