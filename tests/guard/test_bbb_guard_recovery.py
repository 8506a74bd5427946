"""The BBB guard when BBB is messy: meetings ending mid-reconcile, null metadata,
huge answers; and what the guard leaves behind and tells people (G10, G12)."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from bbb_hooks import guard_api
from bbb_hooks.client import BBBError
from tests.guard import bbb_bus as bus
from tests.guard.guard_rig import (
    EXT,
    MEETING,
    POLICY,
    PUPIL_A,
    TEACHER,
    Rig,
    command_of,
    lesson_with_pupils,
    record_meeting,
)

TEACHER_ROW = {"userID": TEACHER, "fullName": "T", "role": "MODERATOR", "isPresenter": "true"}


async def test_G10_reconcile_guards_the_others_when_one_meeting_ended_meanwhile(
        rig: Rig) -> None:
    """getMeetingInfo says notFound for a meeting getMeetings listed a moment ago: the
    other recording meetings still get their locks, mutes and ejects back."""
    ended = rig.emu.add_meeting("ended-meanwhile", [TEACHER_ROW], recording=True)
    rig.emu.gone_on_info.add("ended-meanwhile")
    rig.emu.add_meeting(EXT, [TEACHER_ROW, {"userID": PUPIL_A, "fullName": "A",
                                            "role": "VIEWER", "hasVideo": "true"}],
                        recording=True)
    await record_meeting(rig.store)
    await rig.guard.reconcile()
    names = [command_of(c) for c in await rig.wait_for(3)]
    assert ("ChangeLockSettingsInMeetingCmdMsg", MEETING, TEACHER) in names
    assert ("EjectUserCamerasCmdMsg", MEETING, TEACHER) in names
    assert ended not in rig.guard.meetings  # nothing kept for a meeting that is gone


async def test_meeting_created_with_null_metadata_is_guarded_without_a_leader_restart(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await record_meeting(rig.store)
    created = json.loads(bus.created(MEETING, EXT))
    created["core"]["body"]["props"]["metadataProp"] = None
    await rig.send(json.dumps(created).encode(),
                   bus.joined(MEETING, TEACHER, "MODERATOR", presenter=True),
                   bus.joined(MEETING, PUPIL_A, "VIEWER"),
                   bus.camera(MEETING, PUPIL_A, started=True))
    await rig.settle(lambda: MEETING in rig.guard.meetings and any(
        p.camera_on for p in rig.guard.meetings[MEETING].state.participants))
    await rig.send(bus.recording(MEETING, TEACHER, True))
    names = [command_of(c)[0] for c in await rig.wait_for(3)]
    assert "EjectUserCamerasCmdMsg" in names
    assert not [r for r in caplog.records if "failed while leading" in r.getMessage()]


async def test_public_note_throttle_goes_with_the_meeting(rig: Rig) -> None:
    """When a meeting ends, nothing about it stays in the guard's memory."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.send(bus.camera(MEETING, PUPIL_A, started=True))
    await rig.settle(lambda: any("pupil's camera" in t for _, t in rig.emu.chat))
    assert "camera_off" in rig.guard.meetings[MEETING].told
    await rig.send(bus.evt("MeetingEndedEvtMsg", MEETING, "system", {"meetingId": MEETING}))
    await rig.settle(lambda: MEETING not in rig.guard.meetings)
    assert MEETING not in repr(vars(rig.guard))


async def test_G12_recording_announcement_says_where_to_object(rig: Rig) -> None:
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    for _, text in rig.emu.chat:
        link = next(w for w in text.split() if "/objections/new" in w)
        assert link.startswith(POLICY.gateway.public_url + "/objections/new?")
        # What gateway/objections_web.py reads; the registry knows BBB recordings by
        # their internal meeting id.
        assert parse_qs(urlsplit(link).query) == {"platform": ["bbb"], "meeting": [MEETING]}


async def test_guard_reads_bbb_answers_bounded(rig: Rig,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rig.emu.add_meeting(EXT, [TEACHER_ROW] * 20)
    server = next(iter(rig.guard.servers.values()))
    assert await guard_api.running_meetings(rig.guard.http, server)
    monkeypatch.setattr(guard_api, "MAX_ANSWER", 2048)
    with pytest.raises(BBBError, match="too_large"):
        await guard_api.running_meetings(rig.guard.http, server)
