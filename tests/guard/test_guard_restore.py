"""Exact restore across restarts (G10): the lock settings and per-user locks from before
the recording come back field by field, whenever the gateway restarted."""

from __future__ import annotations

from typing import Any

import pytest

from bbb_hooks import bus_codec as codec
from tests.guard import bbb_bus as bus
from tests.guard.guard_rig import (
    ATTENDEES,
    EXT,
    MEETING,
    PUPIL_A,
    PUPIL_B,
    TEACHER,
    Rig,
    command_of,
    record_meeting,
)
from tests.support import metric_value

# The school's own settings: stricter than BBB's defaults in three fields.
CUSTOM = {"disablePrivateChat": True, "hideUserList": True, "lockOnJoin": True}
BEFORE = {"disableCam": False, "disableMic": False, "disablePrivChat": True,
          "disablePubChat": False, "disableNotes": True, "hideUserList": True,
          "lockedLayout": False, "lockOnJoin": True, "lockOnJoinConfigurable": False,
          "hideViewersCursor": False, "hideViewersAnnotation": False}


def lock_change(**fields: bool) -> bytes:
    """LockSettingsInMeetingChangedEvtMsg: the same body as the command (bbb.md §5)."""
    return bus.evt("LockSettingsInMeetingChangedEvtMsg", MEETING, TEACHER,
                   {**fields, "setBy": TEACHER})


def joined(user: str, role: str, locked: bool) -> bytes:
    raw = bus.joined(MEETING, user, role, presenter=role == "MODERATOR")
    return raw.replace(b'"locked":' + (b"true" if role == "VIEWER" else b"false"),
                       b'"locked":' + (b"true" if locked else b"false"))


async def _meeting_with_custom_locks(rig: Rig) -> None:
    await record_meeting(rig.store)
    rig.emu.add_meeting(EXT, ATTENDEES)
    await rig.send(bus.created(MEETING, EXT, **CUSTOM),
                   lock_change(**{**BEFORE}),  # the teacher also locked shared notes
                   joined(TEACHER, "MODERATOR", False),
                   joined(PUPIL_A, "VIEWER", False),  # the teacher had unlocked this pupil
                   joined(PUPIL_B, "VIEWER", True))
    await rig.settle(lambda: MEETING in rig.guard.meetings
                     and len(rig.guard.meetings[MEETING].state.participants) == 3
                     and dict(rig.guard.meetings[MEETING].state.locks.other)["disableNotes"])


async def _restart(rig: Rig, recording: bool) -> None:
    await rig.stop()
    rig.emu.recording.discard(EXT)
    if recording:
        rig.emu.recording.add(EXT)
    rig.commands.clear()
    rig.guard = await rig.start()


def _body(command: dict[str, Any]) -> dict[str, Any]:
    body = dict(command["core"]["body"])
    body.pop("setBy", None)
    return body


async def _stop_and_check_restore(rig: Rig) -> None:
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, False))
    commands = await rig.wait_for(2)
    assert [command_of(c) for c in commands] == [
        ("ChangeLockSettingsInMeetingCmdMsg", MEETING, TEACHER),
        ("LockUserInMeetingCmdMsg", MEETING, TEACHER)]
    restored = _body(commands[0])
    for field, value in BEFORE.items():  # field by field, as before the recording
        assert restored[field] is value, field
    assert set(restored) == set(BEFORE)
    # Only the pupil who was not locked before is unlocked again.
    assert commands[1]["core"]["body"] == {"userId": PUPIL_A, "lock": False,
                                           "lockedBy": TEACHER}


@pytest.mark.parametrize("when", ["before_recording", "during_recording"])
async def test_restart_keeps_custom_locks_and_restores_them_exactly(rig: Rig, when: str) -> None:
    await _meeting_with_custom_locks(rig)
    if when == "before_recording":
        await _restart(rig, recording=False)
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(3)
    lock = next(c for c in commands if command_of(c)[0] == "ChangeLockSettingsInMeetingCmdMsg")
    # The lock during the recording keeps the school's own settings (G10 adds cam + mic).
    assert _body(lock) == {**BEFORE, "disableCam": True, "disableMic": True}
    if when == "during_recording":
        # akka reports the guard's own lock back, as it does on a real server.
        await rig.send(lock_change(**{**BEFORE, "disableCam": True, "disableMic": True}))
        await rig.settle(lambda: rig.guard.meetings[MEETING].state.locks.disable_cam)
        await _restart(rig, recording=True)
        await rig.wait_for(1)
    await _stop_and_check_restore(rig)


async def test_unknown_prior_state_is_audited_not_guessed(rig: Rig) -> None:
    """A recording found running that the gateway never saw created: it locks (G10) but
    does not invent what to restore; the audit log says so."""
    await record_meeting(rig.store)
    rig.emu.add_meeting(EXT, ATTENDEES, recording=True)
    await _restart(rig, recording=True)
    names = [command_of(c)[0] for c in await rig.wait_for(3)]
    assert "ChangeLockSettingsInMeetingCmdMsg" in names
    entries = [e async for e in rig.audit.entries()]
    assert any(e.get("action") == "locks_not_restorable"
               and e.get("reason") == "prior_state_unknown" for e in entries)
    assert metric_value(rig.metrics.guard_unable.labels(platform="bbb",
                                           reason="prior_state_unknown")) == 1
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, False))
    await rig.wait_for(1, timeout=0.5)
    assert not [c for c in rig.commands if command_of(c)[0].startswith(
        ("ChangeLockSettings", "LockUser"))], "no restore from a guess"


async def test_lock_changes_are_kept_current_in_the_store(rig: Rig) -> None:
    await _meeting_with_custom_locks(rig)
    await rig.send(lock_change(**{**BEFORE, "disablePubChat": True}))
    await rig.settle(
        lambda: dict(rig.guard.meetings[MEETING].state.locks.other)["disablePubChat"])
    saved = await rig.store.hgetall("guard:bbb:meeting:" + MEETING)
    assert codec.json.loads(saved["locks"])["disablePubChat"] is True


async def test_create_time_locks_survive_a_restart_before_any_change(rig: Rig) -> None:
    """Only MeetingCreatedEvtMsg carried the locks: they are stored at once, so a restart
    right after does not turn disablePrivChat, hideUserList or lockOnJoin into false."""
    await record_meeting(rig.store)
    rig.emu.add_meeting(EXT, ATTENDEES)
    await rig.send(bus.created(MEETING, EXT, **CUSTOM), joined(TEACHER, "MODERATOR", False))
    await rig.settle(lambda: MEETING in rig.guard.meetings
                     and rig.guard.meetings[MEETING].state.participants != ())
    await _restart(rig, recording=False)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    lock = next(c for c in await rig.wait_for(2)
                if command_of(c)[0] == "ChangeLockSettingsInMeetingCmdMsg")
    body = _body(lock)
    assert (body["disablePrivChat"], body["hideUserList"], body["lockOnJoin"]) == (
        True, True, True)
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, False))
    restored = _body((await rig.wait_for(1))[0])
    assert restored == {**BEFORE, "disableNotes": False}
