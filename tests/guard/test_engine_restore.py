"""The pure engine: exact restore of per-user locks, unknown prior state, undelivered
start announcements, and the purpose-required setting (G8, G10, G11)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.policy import guard
from gateway.policy.guard import (
    AnnouncementFailed,
    Locks,
    MeetingState,
    Participant,
    Reconcile,
    RecordingStarted,
    RecordingStopped,
    RestoreLocks,
    StopRecording,
    TellTeacher,
)
from gateway.policy.model import parse_policy
from tests.support import deep_merge, example_policy

POLICY = parse_policy(example_policy())
TEACHER = Participant("w_teacher01", "teacher", presenter=True, moderator=True, locked=False)
WAS_LOCKED = Participant("w_locked001", "pupil", locked=True)
WAS_FREE = Participant("w_free00001", "pupil", locked=False)
UNKNOWN = Participant("w_unknown01", "pupil")
LATE = Participant("w_late00001", "pupil", locked=True)
CUSTOM = Locks(lock_on_join=False, other=(("hideUserList", True),))


def _lesson(**changes: object) -> MeetingState:
    state = MeetingState(meeting_type="lesson", locks=CUSTOM,
                         participants=(TEACHER, WAS_LOCKED, WAS_FREE, UNKNOWN))
    return replace(state, **changes)  # type: ignore[arg-type]


def _stop(state: MeetingState) -> tuple[guard.Action, ...]:
    return guard.decide(POLICY, state, RecordingStopped(TEACHER.id))


@pytest.mark.parametrize(("name", "lock_on_join_before", "unlocked"), [
    ("G10 restore unlocks only who was free, and late joiners when join did not lock",
     False, (WAS_FREE.id, LATE.id)),
    ("G10 late joiners stay locked when the meeting locked on join", True, (WAS_FREE.id,)),
])
def test_stop_unlocks_exactly_who_was_not_locked(name: str, lock_on_join_before: bool,
                                                 unlocked: tuple[str, ...]) -> None:
    before = replace(CUSTOM, lock_on_join=lock_on_join_before)
    running = guard.advance(POLICY, _lesson(locks=before), RecordingStarted(TEACHER.id))
    assert running.locks_before == before
    assert dict(running.users_before) == {WAS_LOCKED.id: True, WAS_FREE.id: False,
                                          UNKNOWN.id: None}
    running = guard.advance(POLICY, running, guard.ParticipantJoined(LATE))
    restore = _stop(running)[0]
    assert restore == RestoreLocks(before, unlocked)


def test_unknown_prior_locks_are_not_guessed() -> None:
    """A meeting first seen recording: no locks before, so no restore at the stop."""
    state = _lesson(recording=True, locks_known=False)
    reconciled = guard.advance(POLICY, state, Reconcile())
    assert reconciled.locks_before is None
    assert not [a for a in _stop(reconciled) if isinstance(a, RestoreLocks)]


def test_reconcile_with_known_locks_keeps_them_as_before() -> None:
    reconciled = guard.advance(POLICY, _lesson(recording=True), Reconcile())
    assert reconciled.locks_before == CUSTOM


@pytest.mark.parametrize(("phase", "recording", "stops"), [
    ("start", True, True), ("repeat", True, False), ("stop", False, False),
    ("start", False, False),
])
def test_G8_undelivered_start_announcement_stops_the_recording(phase: str, recording: bool,
                                                               stops: bool) -> None:
    state = _lesson(recording=recording)
    actions = guard.decide(POLICY, state, AnnouncementFailed(phase))  # type: ignore[arg-type]
    if stops:
        assert actions[0] == StopRecording("announcement_failed")
        assert isinstance(actions[1], TellTeacher) and "announcement" in actions[1].en
    else:
        assert actions == ()
    assert guard.advance(POLICY, state, AnnouncementFailed("start")) == state


@pytest.mark.parametrize(("required", "reason"), [(True, "no_purpose"), (False, None)])
def test_G11_default_purpose_none(required: bool, reason: str | None) -> None:
    policy = parse_policy(deep_merge(example_policy(), {"meeting_types": {"lesson": {
        "default_purpose": "none", "purpose_required": required}}}))
    assert policy.meeting_types["lesson"].default_purpose is None
    assert guard.stop_reason(policy, _lesson(), TEACHER.id) == reason
    declared = replace(_lesson(), purpose="feedback")
    assert guard.stop_reason(policy, declared, TEACHER.id) is None
