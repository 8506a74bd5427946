"""The pure guard engine: tables over purposes x roles x events, each row naming its rule."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast, get_args

import pytest

from gateway.policy import guard, guard_texts
from gateway.policy.guard import (
    Announce,
    CameraStarted,
    EjectCameras,
    Locks,
    LockViewers,
    MeetingState,
    MicOpened,
    MuteAllExceptPresenters,
    MuteParticipant,
    Participant,
    RecordingStarted,
    RecordingStopped,
    RestoreLocks,
    StopRecording,
    TellParticipant,
    TellTeacher,
)
from gateway.policy.model import Policy, parse_policy
from tests.support import deep_merge, example_policy


def _policy(changes: dict[str, Any] | None = None) -> Policy:
    return parse_policy(deep_merge(example_policy(), changes or {}))


POLICY = _policy()
TEACHER = Participant("w_teacher01", "teacher", presenter=True, moderator=True)
STAFF = Participant("w_staff0001", "staff", moderator=True)
PUPIL_CAM = Participant("w_pupilcam1", "pupil", camera_on=True)
PUPIL_MIC = Participant("w_pupilmic1", "pupil", mic_open=True)
PUPIL = Participant("w_pupil0001", "pupil")
GUEST = Participant("w_guest0001", "guest", camera_on=True, mic_open=True)
EVERYONE = (TEACHER, STAFF, PUPIL_CAM, PUPIL_MIC, PUPIL, GUEST)
STARTERS = {"teacher": TEACHER.id, "staff": STAFF.id, "pupil": PUPIL.id, "guest": GUEST.id,
            "platform": None}


def meeting(mtype: str = "lesson", purpose: str | None = None, ref: str | None = None,
            **changes: Any) -> MeetingState:
    state = MeetingState(meeting_type=mtype, purpose=purpose,  # type: ignore[arg-type]
                         approval_reference=ref, participants=EVERYONE,
                         locks=Locks(other=(("disablePrivChat", True),)))
    return replace(state, **changes)


def recording(purpose: str | None = "lecture", mtype: str = "lesson") -> MeetingState:
    state = meeting(mtype, purpose)
    return guard.advance(POLICY, state, RecordingStarted(TEACHER.id))


# (rule, meeting type, declared purpose, approval ref, starter, expected outcome)
START_TABLE = [
    ("G10 lecture by teacher runs, pupils hidden", "lesson", "lecture", None, "teacher", "hidden"),
    ("G10 lesson default purpose is lecture", "lesson", None, None, "teacher", "hidden"),
    ("G11 feedback by teacher runs, pupils visible", "lesson", "feedback", None, "teacher",
     "visible"),
    ("G11 exam evidence by teacher", "lesson", "exam_evidence", None, "teacher", "visible"),
    ("G11 exam evidence by staff in a staff meeting", "meeting", "exam_evidence", None, "staff",
     "visible"),
    ("G11 meeting default purpose feedback", "meeting", None, None, "teacher", "visible"),
    ("G19 feedback may_start excludes staff", "meeting", None, None, "staff",
     "role_not_allowed"),
    ("G19 staff may not record in a lesson", "lesson", "exam_evidence", None, "staff",
     "role_not_allowed"),
    ("G19 lecture may_start excludes staff", "meeting", "lecture", None, "staff",
     "role_not_allowed"),
    ("G9 a pupil cannot start a lecture", "lesson", "lecture", None, "pupil", "role_not_allowed"),
    ("G9 a pupil cannot start feedback", "lesson", "feedback", None, "pupil", "role_not_allowed"),
    ("G2 a guest cannot start anything", "lesson", "feedback", None, "guest", "role_not_allowed"),
    ("G11 approved exception without reference", "lesson", "approved_exception", None, "teacher",
     "no_approval_reference"),
    ("G11 approved exception with blank reference", "lesson", "approved_exception", "  ",
     "teacher", "no_approval_reference"),
    ("G11 approved exception with reference", "lesson", "approved_exception", "PO-2024-17",
     "teacher", "visible"),
    ("G3 confidential never records (teacher)", "confidential", "feedback", None, "teacher",
     "confidential"),
    ("G3 confidential never records (lecture)", "confidential", "lecture", None, "teacher",
     "confidential"),
    ("G3 confidential never records (platform)", "confidential", None, None, "platform",
     "confidential"),
    ("G10 platform autostart lecture still guarded", "lesson", None, None, "platform", "hidden"),
]


@pytest.mark.parametrize(("rule", "mtype", "purpose", "ref", "starter", "expected"), START_TABLE,
                         ids=[row[0] for row in START_TABLE])
def test_recording_start(rule: str, mtype: str, purpose: str | None, ref: str | None,
                         starter: str, expected: str) -> None:
    state = meeting(mtype, purpose, ref)
    actions = guard.decide(POLICY, state, RecordingStarted(STARTERS[starter]))
    if expected in get_args(guard.StopReason):
        assert actions[0] == StopRecording(cast(guard.StopReason, expected))
        assert isinstance(actions[1], TellTeacher) and actions[1].reason == expected
        assert len(actions) == 2, "nothing is announced or locked for a recording stopped at once"
        return
    # G8: announced at the start and again right after, with purpose and retention.
    assert isinstance(actions[0], Announce) and actions[0].phase == "start"
    assert isinstance(actions[-1], Announce) and actions[-1].phase == "repeat"
    # The same text, marked as the repeat (word for word twice looked like a fault).
    assert actions[-1].nl == "Herhaling: " + actions[0].nl
    assert actions[-1].en == "Reminder: " + actions[0].en
    days = POLICY.purposes[guard.resolve_purpose(POLICY, state)  # type: ignore[index]
                           ].retention_days
    assert f"{days} days" in actions[0].en and f"{days} dagen" in actions[0].nl
    middle = actions[1:-1]
    if expected == "hidden":
        assert middle == (
            LockViewers(Locks(disable_cam=True, disable_mic=True, lock_on_join=True,
                              other=(("disablePrivChat", True),))),
            MuteAllExceptPresenters(),  # only the teacher presents; only protected mics open
            EjectCameras((PUPIL_CAM.id, GUEST.id)),
        )
    else:
        assert middle == (), "pupils may be seen for a stated necessity (G11)"


def test_no_purpose_where_required_stops() -> None:
    """G11: no declared purpose and no default where the policy demands one."""
    policy = POLICY
    no_default = policy.model_copy(update={"meeting_types": {
        **policy.meeting_types,
        "lesson": policy.meeting_types["lesson"].model_copy(update={"default_purpose": None}),
    }})
    actions = guard.decide(no_default, meeting("lesson"), RecordingStarted(TEACHER.id))
    assert actions[0] == StopRecording("no_purpose")
    assert "no purpose" in actions[1].en  # type: ignore[union-attr]
    # Declared: runs.
    declared = guard.decide(no_default, meeting("lesson", "feedback"),
                            RecordingStarted(TEACHER.id))
    assert isinstance(declared[0], Announce)
    # Not required and no default: runs, announced with the undeclared retention, pupils hidden.
    optional = no_default.model_copy(update={"meeting_types": {
        **no_default.meeting_types,
        "lesson": no_default.meeting_types["lesson"].model_copy(
            update={"purpose_required": False}),
    }})
    actions = guard.decide(optional, meeting("lesson"), RecordingStarted(TEACHER.id))
    assert isinstance(actions[0], Announce)
    assert f"{optional.retention.undeclared_retention_days} days" in actions[0].en
    assert EjectCameras((PUPIL_CAM.id, GUEST.id)) in actions  # G10


# (rule, purpose of the running recording or None for no recording, participant, event, expected)
MEDIA_TABLE = [
    ("G10 pupil camera on in a lecture", "lecture", PUPIL, "camera",
     (EjectCameras((PUPIL.id,)), "camera_off")),
    ("G10 pupil microphone on in a lecture", "lecture", PUPIL, "mic",
     (MuteParticipant(PUPIL.id), "microphone_off")),
    ("G10 guest camera on in a lecture", "lecture", GUEST, "camera",
     (EjectCameras((GUEST.id,)), "camera_off")),
    ("G10 teacher camera stays on in a lecture", "lecture", TEACHER, "camera", None),
    ("G10 staff microphone stays on in a lecture", "lecture", STAFF, "mic", None),
    ("G11 pupil camera allowed for feedback", "feedback", PUPIL, "camera", None),
    ("G11 pupil microphone allowed for exam evidence", "exam_evidence", PUPIL, "mic", None),
    ("G4 nothing is forced without a recording", None, PUPIL, "camera", None),
    ("G4 no recording, microphone free", None, PUPIL, "mic", None),
]


@pytest.mark.parametrize(("rule", "purpose", "who", "kind", "expected"), MEDIA_TABLE,
                         ids=[row[0] for row in MEDIA_TABLE])
def test_media_during_recording(rule: str, purpose: str | None, who: Participant, kind: str,
                                expected: tuple[guard.Action, str] | None) -> None:
    state = recording(purpose) if purpose else meeting()
    event = CameraStarted(who.id) if kind == "camera" else MicOpened(who.id)
    new_state, actions = guard.step(POLICY, state, event)
    if expected is None:
        assert actions == ()
    else:
        command, key = expected
        assert actions[0] == command
        told = actions[1]
        assert isinstance(told, TellParticipant) and told.participant_id == who.id
        assert told.key == key and "recorded" in told.en and "opgenomen" in told.nl
    changed = new_state.participant(who.id)
    assert changed is not None
    assert (changed.camera_on if kind == "camera" else changed.mic_open) is True


@pytest.mark.parametrize(("rule", "purpose", "restored"), [
    ("G10 lecture stop restores the exact locks", "lecture", True),
    ("G13 teacher stops a feedback recording: nothing was locked", "feedback", False),
], ids=["G10-restore", "G13-stop"])
def test_recording_stop(rule: str, purpose: str, restored: bool) -> None:
    before = Locks(disable_cam=False, disable_mic=True, lock_on_join=False,
                   other=(("disablePrivChat", True), ("hideUserList", False)))
    state = guard.advance(POLICY, meeting("lesson", purpose, locks=before),
                          RecordingStarted(TEACHER.id))
    # While it runs our lock is reported back by the platform.
    state = guard.advance(POLICY, state, guard.LocksChanged(guard.lecture_locks(before)))
    new_state, actions = guard.step(POLICY, state, RecordingStopped(TEACHER.id))
    expected: tuple[guard.Action, ...] = (Announce(*guard_texts.STOPPED_TEXT, "stop"),)
    if restored:
        expected = (RestoreLocks(before), *expected)
    assert actions == expected
    assert not new_state.recording and new_state.locks_before is None


def test_stop_twice_and_start_twice_do_nothing_more() -> None:
    state = recording("lecture")
    assert guard.decide(POLICY, state, RecordingStarted(TEACHER.id)) == ()
    stopped = guard.advance(POLICY, state, RecordingStopped())
    assert guard.decide(POLICY, stopped, RecordingStopped()) == ()


def test_mute_all_when_only_protected_microphones_are_open() -> None:
    """G10: one MuteAllExceptPresenters when it silences exactly the pupils."""
    state = meeting(participants=(replace(TEACHER, mic_open=True), PUPIL_MIC,
                                  replace(PUPIL, mic_open=True)))
    actions = guard.decide(POLICY, state, RecordingStarted(TEACHER.id))
    assert MuteAllExceptPresenters() in actions
    assert not any(isinstance(a, MuteParticipant) for a in actions)
    # A non-presenter teacher with an open mic is never muted by the guard.
    state = meeting(participants=(replace(TEACHER, mic_open=True, presenter=False), PUPIL_MIC))
    actions = guard.decide(POLICY, state, RecordingStarted(TEACHER.id))
    assert MuteAllExceptPresenters() not in actions
    assert MuteParticipant(PUPIL_MIC.id) in actions
    # A pupil presenter is muted individually (MuteAllExceptPresenters would spare them).
    state = meeting(participants=(TEACHER, replace(PUPIL_MIC, presenter=True)))
    actions = guard.decide(POLICY, state, RecordingStarted(TEACHER.id))
    assert MuteParticipant(PUPIL_MIC.id) in actions


def test_joiner_during_recording_is_told_and_silenced() -> None:
    """G8 a latecomer is told; G10 a pupil joining with camera and mic on is silenced."""
    late = Participant("w_latecomer", "pupil", camera_on=True, mic_open=True)
    state, actions = guard.step(POLICY, recording("lecture"), guard.ParticipantJoined(late))
    assert isinstance(actions[0], TellParticipant) and actions[0].key == "recording_notice"
    assert "30 days" in actions[0].en
    assert actions[1:] == (MuteParticipant(late.id), EjectCameras((late.id,)))
    assert state.participant(late.id) == late
    _, actions = guard.step(POLICY, recording("feedback"), guard.ParticipantJoined(late))
    assert [type(a) for a in actions] == [TellParticipant]  # G11: visible, but told (G8)
    assert guard.decide(POLICY, meeting(), guard.ParticipantJoined(late)) == ()


def test_moderator_back_silences_what_came_on_while_none_was_present() -> None:
    """G10: with no moderator nothing could be sent; the moderator who comes back is the
    moment every protected camera and microphone that came on meanwhile goes off."""
    alone = replace(recording("lecture"), participants=(PUPIL, PUPIL_CAM, GUEST))
    back = replace(TEACHER, presenter=False)
    actions = guard.decide(POLICY, alone, guard.ParticipantJoined(back))
    assert actions[:-1] == (LockViewers(guard.lecture_locks(alone.locks)),
                            MuteAllExceptPresenters(), EjectCameras((PUPIL_CAM.id, GUEST.id)))
    assert isinstance(actions[-1], TellParticipant)  # the notice after the actions
    # A second moderator joining a meeting that already had one adds only the notice.
    with_teacher = replace(alone, participants=(TEACHER, *alone.participants))
    assert [type(a) for a in guard.decide(POLICY, with_teacher,
                                          guard.ParticipantJoined(STAFF))] == [TellParticipant]
    # G11: a feedback recording shows pupils: nothing to switch off.
    visible = replace(recording("feedback"), participants=(PUPIL_CAM,))
    assert [type(a) for a in guard.decide(POLICY, visible,
                                          guard.ParticipantJoined(back))] == [TellParticipant]


@pytest.mark.parametrize(("rule", "purpose", "locks", "relock"), [
    ("G10 unlocking cameras during a lecture is undone", "lecture",
     Locks(disable_cam=False, disable_mic=True), True),
    ("G10 unlocking microphones during a lecture is undone", "lecture",
     Locks(disable_cam=True, disable_mic=False), True),
    ("G10 other lock changes are left alone", "lecture",
     Locks(disable_cam=True, disable_mic=True, other=(("disablePubChat", True),)), False),
    ("G11 feedback recording leaves locks alone", "feedback", Locks(), False),
], ids=["G10-cam", "G10-mic", "G10-other", "G11-feedback"])
def test_locks_changed_during_recording(rule: str, purpose: str, locks: Locks,
                                        relock: bool) -> None:
    actions = guard.decide(POLICY, recording(purpose), guard.LocksChanged(locks))
    assert actions == ((LockViewers(guard.lecture_locks(locks)),) if relock else ())


def test_purpose_declared_is_announced_beforehand() -> None:
    """G8/G11: the purpose is announced before the start; mid-recording it waits."""
    actions = guard.decide(POLICY, meeting(), guard.PurposeDeclared("feedback"))
    assert len(actions) == 1 and isinstance(actions[0], Announce)
    assert actions[0].phase == "before" and "14 days" in actions[0].en
    # Said before the start, so it must not read as a running recording (G8).
    assert actions[0].en.startswith("Notice in advance (not recording yet): ")
    assert actions[0].nl.startswith("Vooraankondiging (er wordt nog niet opgenomen): ")
    actions = guard.decide(POLICY, recording(), guard.PurposeDeclared("feedback"))
    assert isinstance(actions[0], TellTeacher) and actions[0].reason == "purpose_next_recording"
    state = guard.advance(POLICY, meeting(), guard.PurposeDeclared("approved_exception", "PO-1"))
    assert state.purpose == "approved_exception" and state.approval_reference == "PO-1"


@pytest.mark.parametrize(("rule", "announced", "mtype", "expect_announce", "expect_stop"), [
    ("G8 reconcile announces a recording nobody announced", False, "lesson", True, False),
    ("G10 reconcile after restart re-locks without re-announcing", True, "lesson", False, False),
    ("G3 reconcile stops a confidential recording", False, "confidential", False, True),
], ids=["G8-announce", "G10-relock", "G3-stop"])
def test_reconcile(rule: str, announced: bool, mtype: str, expect_announce: bool,
                   expect_stop: bool) -> None:
    state = meeting(mtype, recording=True, announced=announced)
    new_state, actions = guard.step(POLICY, state, guard.Reconcile())
    assert any(isinstance(a, Announce) for a in actions) is expect_announce
    assert any(isinstance(a, StopRecording) for a in actions) is expect_stop
    if not expect_stop:
        assert EjectCameras((PUPIL_CAM.id, GUEST.id)) in actions  # G10
        assert new_state.locks_before == state.locks and new_state.active_purpose == "lecture"
    assert guard.decide(POLICY, meeting(), guard.Reconcile()) == ()


def test_announcement_with_other_braces_is_safe() -> None:
    policy = _policy({"purposes": {"lecture": {"announcement_en": "Kept {days} days {x}",
                                               "announcement_nl": "{days} dagen {0}"}}})
    assert guard.announcement(policy, "lecture") == ("30 dagen {0}", "Kept 30 days {x}")


def test_participant_left_is_forgotten() -> None:
    state = guard.advance(POLICY, meeting(), guard.ParticipantLeft(PUPIL_CAM.id))
    assert state.participant(PUPIL_CAM.id) is None
    assert guard.decide(POLICY, recording(), CameraStarted("w_unknown00")) == ()


def test_G12_every_recording_announcement_says_where_to_object() -> None:
    """The adapter passes the objection link in as data; the engine repeats it (G8, G12)."""
    url = "https://gateway.school.example/objections/new?platform=bbb&meeting=abc-1"
    start = guard.decide(POLICY, meeting(objection_url=url), RecordingStarted(TEACHER.id))
    running = replace(recording(), objection_url=url)
    joined = guard.decide(POLICY, running, guard.ParticipantJoined(Participant("w_new", "pupil")))
    declared = guard.decide(POLICY, meeting(objection_url=url), guard.PurposeDeclared("lecture"))
    texts = [(a.nl, a.en) for a in (*start, *joined, *declared)
             if isinstance(a, Announce | TellParticipant)]
    assert len(texts) == 4  # start, repeat, the joiner's notice, the purpose beforehand
    assert all(url in nl and url in en for nl, en in texts)
    assert all("bezwaar" in nl and "object" in en for nl, en in texts)
    without = guard.decide(POLICY, meeting(), RecordingStarted(TEACHER.id))
    assert not any("/objections/" in a.nl for a in without if isinstance(a, Announce))
