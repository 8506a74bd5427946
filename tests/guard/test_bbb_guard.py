"""The BBB guard against a real redis-server: BBB-shaped events in, exact commands out."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bbb_hooks import bus_codec as codec
from tests.guard import bbb_bus as bus
from tests.guard.guard_rig import (
    EXT,
    MEETING,
    PUPIL_A,
    PUPIL_B,
    TEACHER,
    Rig,
    command_of,
    lesson_with_pupils,
    record_meeting,
)
from tests.support import metric_value


async def test_lecture_recording_locks_mutes_and_ejects_pupils(rig: Rig) -> None:
    """G8 + G10: announced twice, pupils locked, muted and their cameras ejected."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(4)
    assert [command_of(c) for c in commands] == [
        ("ChangeLockSettingsInMeetingCmdMsg", MEETING, TEACHER),
        ("LockUsersInMeetingCmdMsg", MEETING, TEACHER),
        ("MuteAllExceptPresentersCmdMsg", MEETING, TEACHER),
        ("EjectUserCamerasCmdMsg", MEETING, TEACHER),
    ]
    lock = commands[0]["core"]["body"]
    assert lock == {"disableCam": True, "disableMic": True, "disablePrivChat": True,
                    "disablePubChat": False, "disableNotes": False, "hideUserList": True,
                    "lockedLayout": False, "lockOnJoin": True, "lockOnJoinConfigurable": False,
                    "hideViewersCursor": False, "hideViewersAnnotation": False,
                    "setBy": TEACHER}
    assert commands[1]["core"]["body"] == {"lock": True, "lockedBy": TEACHER,
                                           "except": [TEACHER]}
    assert commands[2]["core"]["body"] == {"mutedBy": TEACHER, "mute": True}
    assert commands[3]["core"]["body"] == {"userId": PUPIL_B}
    # G8, BBB 3.0: before and right after the start, Dutch and English as separate
    # messages, each within sendChatMessage's 500 characters (the emulator refuses more).
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    assert {m for m, _ in rig.emu.chat} == {EXT}
    nl_start, en_start, nl_repeat, en_repeat = (t for _, t in rig.emu.chat)
    # The repeat says the same, marked as a repeat (not word for word twice).
    assert (nl_repeat, en_repeat) == ("Herhaling: " + nl_start, "Reminder: " + en_start)
    assert "30 dagen" in nl_start and "days" not in nl_start
    assert "30 days" in en_start and "switched off now" in en_start and "dagen" not in en_start
    assert "/objections/new" in nl_start and "/objections/new" in en_start
    assert all(r.checksum_ok for r in rig.emu.calls("sendChatMessage"))
    entries = [e async for e in rig.audit.entries()]
    started = [e for e in entries if e["kind"] == "recording_started"]
    assert len(started) == 1 and started[0]["purpose"] == "lecture"
    await rig.guard.chat.idle()
    told = [e for e in [e async for e in rig.audit.entries()] if e["kind"] == "announcement"]
    assert [(e["phase"], e["result"]) for e in told] == [("start", "sent"), ("repeat", "sent")]
    assert EXT not in json.dumps(entries)  # pseudonymous
    assert rig.metrics.guard_reaction.labels(platform="bbb")._sum.get() > 0
    # G16: retention will follow the purpose this recording ran under.
    from bbb_hooks.meetings import recording_purposes

    assert await recording_purposes(rig.guard.store, MEETING) == {"lecture"}


async def test_pupil_reenabling_camera_or_mic_is_switched_off(rig: Rig) -> None:
    """G10: a pupil's camera or microphone coming on in a lecture goes off again at once."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    rig.commands.clear()
    await rig.send(bus.camera(MEETING, PUPIL_A, started=True))
    await rig.send(bus.muted(MEETING, PUPIL_B, is_muted=False))
    commands = await rig.wait_for(2)
    assert [command_of(c) for c in commands] == [("EjectUserCamerasCmdMsg", MEETING, TEACHER),
                                          ("MuteUserCmdMsg", MEETING, TEACHER)]
    assert commands[0]["core"]["body"] == {"userId": PUPIL_A}
    assert commands[1]["core"]["body"] == {"userId": PUPIL_B, "mutedBy": TEACHER, "mute": True}
    await rig.settle(lambda: any("camera of a pupil" in t or "pupil's camera" in t
                                 for _, t in rig.emu.chat))
    violations = rig.metrics.guard_violations
    assert metric_value(violations.labels(platform="bbb", kind="camera")) == 1
    # The teacher's own camera is left alone.
    rig.commands.clear()
    await rig.send(bus.camera(MEETING, TEACHER, started=True))
    assert await rig.wait_for(1, timeout=0.3) == []


@pytest.mark.parametrize(("rule", "meeting_type", "reason"), [
    ("G3 confidential meeting", "confidential", "confidential"),
], ids=["G3"])
async def test_forbidden_recording_is_stopped_by_a_moderator(rig: Rig, rule: str,
                                                             meeting_type: str,
                                                             reason: str) -> None:
    await lesson_with_pupils(rig, meeting_type)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("SetRecordingStatusCmdMsg", MEETING, TEACHER)]
    assert commands[0]["core"]["body"] == {"recording": False, "setBy": TEACHER}
    await rig.settle(lambda: bool(rig.emu.chat))
    assert [t for _, t in rig.emu.chat] == [
        "De opname is meteen gestopt: een vertrouwelijk gesprek wordt nooit opgenomen.",
        "The recording was stopped at once: a confidential talk is never recorded."]
    assert metric_value(rig.metrics.recordings_stopped.labels(
        platform="bbb", reason=reason)) == 1


async def test_pupil_starting_recording_is_stopped(rig: Rig) -> None:
    """G9/G19: a pupil made moderator who starts a lecture is stopped, as the teacher."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, PUPIL_A, True))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("SetRecordingStatusCmdMsg", MEETING, TEACHER)]


async def test_recording_stop_restores_exact_locks(rig: Rig) -> None:
    """G10: the lock settings in force before the recording come back exactly."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, False))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [
        ("ChangeLockSettingsInMeetingCmdMsg", MEETING, TEACHER)]
    body = commands[0]["core"]["body"]
    assert body["disableCam"] is False and body["disableMic"] is False
    assert body["disablePrivChat"] is True and body["hideUserList"] is True
    await rig.settle(lambda: any("has stopped" in t for _, t in rig.emu.chat))


async def test_without_a_moderator_nothing_is_sent_as_anyone_else(rig: Rig) -> None:
    """akka ejects a requester without permission: never command as a pupil."""
    await record_meeting(rig.store)
    await rig.send(bus.created(MEETING, EXT), bus.joined(MEETING, PUPIL_A, "VIEWER"),
                   bus.camera(MEETING, PUPIL_A, True), bus.recording(MEETING, PUPIL_A, True))
    await rig.settle(lambda: MEETING in rig.guard.meetings
                     and rig.guard.meetings[MEETING].state.recording)
    assert await rig.wait_for(1, timeout=0.3) == []


async def test_talking_flood_never_reaches_the_json_parser(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """2000 UserTalkingVoiceEvtMsg are dropped by name: not one is JSON-parsed, and the
    recording start behind them is still acted on."""
    await lesson_with_pupils(rig)
    parsed: list[str] = []

    def counting_loads(raw: bytes | str, **options: Any) -> Any:
        text = raw.decode() if isinstance(raw, bytes) else raw
        parsed.append(codec.message_name(text.encode()) or "?")
        return json.loads(text, **options)

    monkeypatch.setattr(codec, "json", SimpleNamespace(loads=counting_loads, dumps=json.dumps))
    flood = [bus.talking(MEETING, PUPIL_A, i % 2 == 0) for i in range(2000)]
    await rig.send(*flood, bus.recording(MEETING, TEACHER, True))
    assert len(await rig.wait_for(4)) == 4
    assert "RecordingStatusChangedEvtMsg" in parsed  # the production path was observed
    assert "UserTalkingVoiceEvtMsg" not in parsed


async def test_reconnect_reconciles_a_recording_meeting(rig: Rig) -> None:
    """Lost bus: on reconnect the guard re-reads the API and re-applies G10."""
    rig.emu.add_meeting(EXT, [
        {"userID": TEACHER, "fullName": "T", "role": "MODERATOR", "isPresenter": "true"},
        {"userID": PUPIL_A, "fullName": "A", "role": "VIEWER", "hasVideo": "true"},
    ], recording=True)
    await record_meeting(rig.store)
    await rig.send(bus.created(MEETING, EXT))  # any event: the guard is listening
    for client in await rig.redis.client_list():  # cut the guard's own connection only
        if client["name"] == "privacy-gateway-guard-sub":
            await rig.redis.client_kill_filter(_id=client["id"])
    await rig.settle(lambda: not rig.guard.connected, timeout=5)
    await rig.settle(lambda: rig.guard.connected, timeout=10)
    commands = await rig.wait_for(3)
    names = [command_of(c) for c in commands]
    assert ("EjectUserCamerasCmdMsg", MEETING, TEACHER) in names
    assert ("ChangeLockSettingsInMeetingCmdMsg", MEETING, TEACHER) in names
    assert metric_value(rig.metrics.guard_connected.labels(platform="bbb")) == 1


async def test_gateway_restart_mid_recording(rig: Rig) -> None:
    """A restarted gateway rebuilds from the API, re-locks, and still restores exactly."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    await rig.stop()  # the gateway goes down mid-recording
    rig.commands.clear()
    rig.emu.add_meeting(EXT, [
        {"userID": TEACHER, "fullName": "T", "role": "MODERATOR", "isPresenter": "true"},
        {"userID": PUPIL_A, "fullName": "A", "role": "VIEWER", "hasJoinedVoice": "true"},
        {"userID": PUPIL_B, "fullName": "B", "role": "VIEWER", "hasVideo": "true"},
    ], recording=True)
    rig.guard = await rig.start()
    commands = await rig.wait_for(3)
    names = [command_of(c)[0] for c in commands]
    assert "EjectUserCamerasCmdMsg" in names and "MuteAllExceptPresentersCmdMsg" in names
    assert all(command_of(c)[2] == TEACHER for c in commands)
    assert len(rig.emu.chat) == 4, "already announced: not announced again"
    rig.commands.clear()
    await rig.send(bus.recording(MEETING, TEACHER, False))
    commands = await rig.wait_for(1)
    body = commands[0]["core"]["body"]
    assert body["disablePrivChat"] is True and body["disableCam"] is False
