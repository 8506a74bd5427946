"""What the playback decision reads from the store, for either platform (G12, G14).

Keys (under the store prefix):
- `playback:mods:<platform>:<sha256(meeting ref)>` hash: pseudonym -> "1" of
  each teacher who moderated the meeting. Only pseudonyms, kept as long as the
  meeting's longest possible recording (the moderators are who may watch its
  feedback and exam recordings, G14); no times, no counts (G20);
- `playback:spent:<sha256(nonce)>`: a followed link or grant (single use),
  until the link would have expired anyway;
- `approvals:watch` hash: approval reference -> who may watch (set by the privacy
  officer with the reference, gateway/approvals.py).

A recording's purpose and holds come from the retention registry (read only);
a recording the registry has not seen yet is judged by what its platform
declared, and open objections of its meeting hold it as the registry would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aiohttp import web

from gateway.login.officers import is_privacy_officer
from gateway.login.sessions import Session
from gateway.policy.model import Audience, Policy
from gateway.policy.playback import AUDIENCES, RecordingFacts, Viewer
from gateway.store.base import Store
from gateway.store.registry import Registry, row_key
from gateway.web import keys

APPROVAL_WATCH_KEY = "approvals:watch"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def acl_ttl(policy: Policy) -> float:
    """As long as any recording of the meeting can exist: the longest retention + 30 days."""
    return float((max(p.retention_days for p in policy.purposes.values()) + 30) * 86400)


def _mods_key(platform: str, meeting_ref: str) -> str:
    return f"playback:mods:{platform}:{_hash(meeting_ref)}"


def moderators_key(platform: str, meeting_ref: str) -> str:
    """The store key `remember_moderator` writes (for a caller that batches its writes)."""
    return _mods_key(platform, meeting_ref)


async def remember_moderator(store: Store, platform: str, meeting_ref: str, person: str,
                             ttl: float) -> None:
    """This person moderated the meeting: they may watch its feedback recordings (G14)."""
    if meeting_ref:
        await store.hset(_mods_key(platform, meeting_ref), {person: b"1"}, ttl)


async def moderated(store: Store, platform: str, meeting_ref: str, person: str) -> bool:
    return bool(meeting_ref) and person in await store.hgetall(_mods_key(platform, meeting_ref))


async def spend(store: Store, nonce: str, ttl: float) -> bool:
    """Use a link or grant once: False when it was used before (a replay)."""
    return await store.set_nx("playback:spent:" + _hash(nonce), b"1", max(ttl, 1.0))


async def approval_audience(store: Store, reference: str | None) -> tuple[Audience, ...]:
    if not reference:
        return ()
    raw = (await store.hgetall(APPROVAL_WATCH_KEY)).get(reference.strip(), b"").decode()
    return tuple(a for a in AUDIENCES if a in raw.split(",") and a != "approval")


async def set_approval_audience(store: Store, reference: str, audience: str) -> None:
    chosen = [a for a in audience.split(",") if a in AUDIENCES and a != "approval"]
    await store.hset(APPROVAL_WATCH_KEY, {reference: ",".join(chosen or ["officer"]).encode()},
                     None)


@dataclass(frozen=True, slots=True)
class Known:
    """What the registry says about a recording, or what its platform declared."""

    purpose: str
    meeting_ref: str
    held: bool


async def known_recording(store: Store, platform: str, recording_id: str,
                          declared_purpose: str, declared_meeting: str) -> Known:
    registry = Registry(store)
    row = await registry.get(row_key(platform, recording_id))
    purpose = row.purpose if row is not None else declared_purpose
    meeting_ref = (row.meeting_ref if row is not None and row.meeting_ref
                   else declared_meeting)
    held = bool(row.holds) if row is not None else False
    if not held and meeting_ref:  # an open objection holds every recording of its meeting
        held = bool(await registry.pending_holds(platform, meeting_ref))
    return Known(purpose, meeting_ref, held)


async def viewer_for(app: web.Application, session: Session, platform: str,
                     meeting_ref: str) -> Viewer:
    return Viewer(role=session.role,
                  moderated=await moderated(app[keys.STORE], platform, meeting_ref,
                                            session.person),
                  officer=is_privacy_officer(app[keys.SETTINGS], session))


def facts(known: Known, approval: tuple[Audience, ...]) -> RecordingFacts:
    return RecordingFacts(purpose=known.purpose, held=known.held, approval_audience=approval)
