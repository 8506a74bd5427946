"""The recording guard's vocabulary (gateway/guard.py): meeting state, events, actions.

Frozen dataclasses only, no rules: the platform adapters build events from
what BBB or Jitsi report and carry out the actions the engine returns.
Events are what the platform reported; actions are what to carry out, in
order. `Locks.other` carries platform lock fields the engine does not
interpret, so a restore is exact. `MeetingState.objection_url` is where a
participant objects to the recording (G12); the adapter supplies it, the
engine only repeats it in the announcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.policy.model import MeetingTypeName, PurposeName, Role

PROTECTED_ROLES: frozenset[Role] = frozenset({"pupil", "guest"})

StopReason = Literal[
    "no_purpose", "role_not_allowed", "no_approval_reference", "confidential",
    "recording_not_allowed", "announcement_failed",
]
AnnouncePhase = Literal["start", "repeat", "before", "stop"]
TellKey = Literal["camera_off", "microphone_off", "recording_notice"]
LockValue = bool | str | int


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    role: Role
    camera_on: bool = False
    mic_open: bool = False
    presenter: bool = False
    moderator: bool = False
    locked: bool | None = None  # the platform's per-user lock; None: not known


@dataclass(frozen=True, slots=True)
class Locks:
    """Viewer lock settings; `other` keeps platform fields untouched for an exact restore."""

    disable_cam: bool = False
    disable_mic: bool = False
    lock_on_join: bool = True
    other: tuple[tuple[str, LockValue], ...] = ()


@dataclass(frozen=True, slots=True)
class MeetingState:
    meeting_type: MeetingTypeName
    purpose: PurposeName | None = None  # declared by the teacher (None: none declared)
    approval_reference: str | None = None
    recording: bool = False
    active_purpose: PurposeName | None = None  # purpose of the running recording
    locks_before: Locks | None = None  # locks in force before the guard locked
    locks: Locks = Locks()
    # False when `locks` is a default, not what the platform reported: then the locks
    # before a recording are unknown and are not guessed (no restore, audited).
    locks_known: bool = True
    # Per-user lock flags before the guard locked everyone (None: that user's was unknown).
    users_before: tuple[tuple[str, bool | None], ...] = ()
    participants: tuple[Participant, ...] = ()
    announced: bool = False  # the running recording has been announced (G8)
    objection_url: str | None = None  # where to object to a recording (G12), from the adapter

    def participant(self, participant_id: str) -> Participant | None:
        return next((p for p in self.participants if p.id == participant_id), None)


# ---- events ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordingStarted:
    started_by: str | None = None  # participant id; None: the platform itself (autostart)


@dataclass(frozen=True, slots=True)
class RecordingStopped:
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class CameraStarted:
    participant_id: str


@dataclass(frozen=True, slots=True)
class CameraStopped:
    participant_id: str


@dataclass(frozen=True, slots=True)
class MicOpened:
    participant_id: str


@dataclass(frozen=True, slots=True)
class MicClosed:
    participant_id: str


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    participant: Participant


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    participant_id: str


@dataclass(frozen=True, slots=True)
class LocksChanged:
    locks: Locks


@dataclass(frozen=True, slots=True)
class PurposeDeclared:
    purpose: PurposeName
    approval_reference: str | None = None


@dataclass(frozen=True, slots=True)
class AnnouncementFailed:
    """The platform did not take an announcement within the adapter's deadline (G8)."""

    phase: AnnouncePhase


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Re-apply the rules to a meeting found recording after a (re)connect."""


Event = (RecordingStarted | RecordingStopped | CameraStarted | CameraStopped | MicOpened
         | MicClosed | ParticipantJoined | ParticipantLeft | LocksChanged | PurposeDeclared
         | Reconcile | AnnouncementFailed)


# ---- actions --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Announce:
    nl: str
    en: str
    phase: AnnouncePhase


@dataclass(frozen=True, slots=True)
class TellParticipant:
    participant_id: str
    key: TellKey
    nl: str
    en: str


@dataclass(frozen=True, slots=True)
class TellTeacher:
    reason: StopReason | Literal["purpose_next_recording"]
    nl: str
    en: str


@dataclass(frozen=True, slots=True)
class LockViewers:
    locks: Locks


@dataclass(frozen=True, slots=True)
class MuteAllExceptPresenters:
    pass


@dataclass(frozen=True, slots=True)
class MuteParticipant:
    participant_id: str


@dataclass(frozen=True, slots=True)
class EjectCameras:
    participant_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopRecording:
    reason: StopReason


@dataclass(frozen=True, slots=True)
class RestoreLocks:
    locks: Locks
    unlock: tuple[str, ...] = ()  # participants who were not locked before the recording


Action = (Announce | TellParticipant | TellTeacher | LockViewers | MuteAllExceptPresenters
          | MuteParticipant | EjectCameras | StopRecording | RestoreLocks)
