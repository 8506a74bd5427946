"""Which meetings and rooms belong on a teacher's home page.

A teacher's home page lists the BBB meetings they moderate and the Jitsi rooms
they created (G13: so "stop recording now" is one click away). The index is
keyed by the person's pseudonym, holds only platform ids, lives no longer than
the meetings themselves, and is shown to that person alone: it is their own
list, never an attendance record (G20).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from gateway.login.sessions import Session
from gateway.store.base import Store

Platform = Literal["bbb", "jitsi"]
MAX_ENTRIES = 50  # a home page lists a teacher's recent meetings, not a history


def _key(person: str) -> str:
    return f"home:{person}"


async def remember(store: Store, person: str, platform: Platform, ident: str,
                   ttl: float) -> None:
    await store.hset(_key(person), {f"{platform}:{ident}": b"1"}, ttl)


async def entries(store: Store, person: str) -> list[tuple[Platform, str]]:
    found: list[tuple[Platform, str]] = []
    for field in sorted(await store.hgetall(_key(person)))[:MAX_ENTRIES]:
        platform, _, ident = field.partition(":")
        if platform in ("bbb", "jitsi") and ident:
            found.append(("bbb" if platform == "bbb" else "jitsi", ident))
    return found


@dataclass(frozen=True, slots=True)
class HomeMeeting:
    """One row of a teacher's home page."""

    platform: Platform
    ident: str  # BBB meetingID or Jitsi room name
    meeting_type: str
    recording: bool
    purpose: str | None
    purpose_url: str  # where the teacher declares the purpose
    open_url: str | None  # where the meeting is (Jitsi page); None for BBB (the LMS)
    name: str = ""  # the meeting's own name when known (BBB create `name`)
    recording_possible: bool = True  # False: the meeting type is never recorded (G3)
    # False: nobody declared a purpose, so `purpose` is the meeting type's default (G11)
    purpose_declared: bool = True


# What "stop recording now" achieved (G13), as the teacher is told:
# "yes": the platform was told as a moderator and everyone was announced to;
# "sent": handed to the platform's module, which stops and announces at its next sync
#         (Jitsi: prosody polls the gateway), so the page must not claim it already happened;
# "no": nothing was stopped.
StopOutcome = Literal["yes", "sent", "no"]

# platform -> (list this teacher's meetings, stop one now); adapters register them.
Lister = Callable[[web.Application, Session, list[str]], Awaitable[list[HomeMeeting]]]
Stopper = Callable[[web.Application, Session, str], Awaitable[StopOutcome]]
HOME_SOURCES = web.AppKey("home_sources", dict[str, tuple[Lister, Stopper]])
