"""Facts an adapter learns outside the guard's event stream, written into the
engine's state (gateway.policy.guard_model.MeetingState) in one place.

The platform adapters read their platform and their store; they never edit the
engine's state themselves (tests/test_architecture.py, README "Development").
Pure: frozen state in, frozen state out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gateway.policy.guard_model import (
    Action,
    Locks,
    MeetingState,
    Participant,
    StopRecording,
)
from gateway.policy.model import MeetingTypeName, PurposeName


def livestream_started(state: MeetingState) -> tuple[MeetingState, tuple[Action, ...]]:
    """Livestreaming is never allowed (G21): stop it, change nothing else."""
    return state, (StopRecording("recording_not_allowed"),)


def with_flags(state: MeetingState, participant_id: str, *, presenter: bool | None = None,
               moderator: bool | None = None) -> MeetingState:
    """One participant's presenter/moderator flag as the platform reports it."""
    def changed(p: Participant) -> Participant:
        if p.id != participant_id:
            return p
        return replace(p, presenter=p.presenter if presenter is None else presenter,
                       moderator=p.moderator if moderator is None else moderator)
    return replace(state, participants=tuple(changed(p) for p in state.participants))


def with_presenter(state: MeetingState, presenter_id: str) -> MeetingState:
    """One presenter at a time: the new one, and nobody else."""
    for p in state.participants:
        if p.presenter:
            state = with_flags(state, p.id, presenter=False)
    return with_flags(state, presenter_id, presenter=True)


def with_meeting_type(state: MeetingState, meeting_type: MeetingTypeName) -> MeetingState:
    return replace(state, meeting_type=meeting_type)


def with_saved(state: MeetingState, *, locks: Locks | None, locks_before: Locks | None,
               users_before: tuple[tuple[str, bool | None], ...], announced: bool,
               active_purpose: PurposeName | None) -> MeetingState:
    """The bookkeeping the gateway saved for a meeting (locks, announcement, purpose)."""
    return replace(state, locks=locks or state.locks,
                   locks_known=state.locks_known or locks is not None,
                   locks_before=locks_before, users_before=users_before,
                   announced=announced, active_purpose=active_purpose)


def with_lock_flags(state: MeetingState, flags: Mapping[str, bool]) -> MeetingState:
    """Saved per-user lock flags, for the participants whose flag is not known yet."""
    return replace(state, participants=tuple(
        replace(p, locked=flags[p.id]) if p.locked is None and p.id in flags else p
        for p in state.participants))


def with_declared(state: MeetingState, purpose: PurposeName | None,
                  reference: str | None) -> MeetingState:
    """The purpose a teacher declared (G11) and the officer's reference, if any."""
    return replace(state, purpose=purpose, approval_reference=reference)


def observed(base: MeetingState, *, meeting_type: MeetingTypeName, recording: bool,
             participants: tuple[Participant, ...], locks: Locks, locks_known: bool,
             known_lock_flags: Mapping[str, bool | None] | None) -> MeetingState:
    """The meeting as the platform describes it now, on top of what the guard kept.

    `known_lock_flags`: the per-user lock flags the guard saw before, kept when the
    platform's description has none (None: nothing kept)."""
    if known_lock_flags is not None:
        participants = tuple(replace(p, locked=known_lock_flags.get(p.id))
                             for p in participants)
    return replace(base, meeting_type=meeting_type, recording=recording,
                   participants=participants, locks=locks, locks_known=locks_known)
