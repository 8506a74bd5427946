"""The guard's promises where a school runs it: BBB 3.0 chat limits, an unreachable
chat, purpose required, no moderator left (G8, G10, G11), on a real redis-server bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bbb_hooks import guard_chat
from bbb_hooks.guard_state import purpose_key
from gateway.demo.bbb_server import CHAT_MESSAGE_MAX
from gateway.policy.model import parse_policy
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
    make_rig,
    record_meeting,
)
from tests.support import deep_merge, example_policy, metric_value

LONG_NL = " ".join(["Deze les wordt opgenomen als uitleg voor later."] * 14)
LONG_EN = " ".join(["This lesson is recorded as an explanation for later."] * 14)


async def _rig_with(redis_url: str, tmp_path: Path, changes: dict[str, object]
                    ) -> AsyncIterator[Rig]:
    policy = parse_policy(deep_merge(example_policy(), changes))
    async for running in make_rig(redis_url, tmp_path, policy):
        yield running


@pytest.fixture
async def long_texts(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """A school whose lecture announcement is longer than one chat message per language."""
    async for r in _rig_with(redis_url, tmp_path, {"purposes": {"lecture": {
            "announcement_nl": LONG_NL + " Bewaard {days} dagen.",
            "announcement_en": LONG_EN + " Kept {days} days."}}}):
        yield r


EMOJI_NL = " ".join(["Deze les 📚 wordt opgenomen 🎥 voor later 🙂."] * 16)


@pytest.fixture
async def emoji_texts(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """A school text with emoji: each one is two UTF-16 units in bbb-web (Java)."""
    async for r in _rig_with(redis_url, tmp_path, {"purposes": {"lecture": {
            "announcement_nl": EMOJI_NL + " Bewaard {days} dagen."}}}):
        yield r


@pytest.fixture
async def purpose_required(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _rig_with(redis_url, tmp_path, {"meeting_types": {"lesson": {
            "default_purpose": "none", "purpose_required": True}}}):
        yield r


@pytest.fixture
async def bbb27(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _rig_with(redis_url, tmp_path, {"bbb": {"bbb_version": "2.7"}}):
        yield r


async def test_long_announcement_arrives_whole_within_500_characters(long_texts: Rig) -> None:
    """G8 on BBB 3.0: sendChatMessage refuses more than 500 characters (the emulator too);
    a long policy text is cut between sentences, Dutch and English apart, nothing lost."""
    rig = long_texts
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.settle(lambda: len(rig.emu.chat) >= 8)
    await rig.guard.chat.idle()
    texts = [t for _, t in rig.emu.chat]
    assert all(0 < len(t) <= CHAT_MESSAGE_MAX for t in texts)
    repeat_at = next(i for i, t in enumerate(texts) if t.startswith("Herhaling: "))
    start, repeat = texts[:repeat_at], texts[repeat_at:]
    assert any(t.startswith("Reminder: ") for t in repeat)
    unmarked = " ".join(repeat).replace("Herhaling: ", "", 1).replace("Reminder: ", "", 1)
    assert unmarked.split() == " ".join(start).split(), \
        "the repeat right after the start says the same, marked as a repeat"
    nl = [t for t in start if "opgenomen" in t or "dagen" in t or "Bezwaar" in t
          or "bezwaar" in t]
    assert " ".join(nl).count("Deze les wordt opgenomen") == 14
    assert "Bewaard 30 dagen." in " ".join(nl)
    assert not any("This lesson" in t for t in nl), "no message mixes the languages"
    assert " ".join(start).count("This lesson is recorded") == 14
    failed = rig.metrics.guard_announcements.labels(platform="bbb", phase="start",
                                                    result="failed")
    assert metric_value(failed) == 0


async def test_emoji_announcement_fits_bbb_webs_utf16_limit(emoji_texts: Rig) -> None:
    """G8: bbb-web counts `String.length()`; a text with emoji is cut to at most 500 UTF-16
    units per message, so none is refused and the whole text arrives."""
    rig = emoji_texts
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.guard.chat.idle()
    texts = [t for _, t in rig.emu.chat]
    assert all(0 < len(t.encode("utf-16-le")) // 2 <= CHAT_MESSAGE_MAX for t in texts)
    assert " ".join(texts).count("🎥") == 2 * 16  # start and repeat, nothing lost
    failed = rig.metrics.guard_announcements.labels(platform="bbb", phase="start",
                                                    result="failed")
    assert failed._value.get() == 0


async def test_failed_announcement_is_retried_counted_and_audited(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_chat, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    await lesson_with_pupils(rig)
    rig.emu.chat_failures = 2  # bbb-web answers 500 twice, then recovers
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    await rig.guard.chat.idle()
    m = rig.metrics.guard_announcements
    assert metric_value(m.labels(platform="bbb", phase="start", result="retried")) == 2
    assert metric_value(m.labels(platform="bbb", phase="start", result="sent")) == 1
    assert not [c for c in rig.commands if command_of(c)[0] == "SetRecordingStatusCmdMsg"]


async def test_recording_that_cannot_be_announced_is_stopped(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """G8: no recording runs unannounced. bbb-web keeps failing: within the deadline the
    guard stops the recording as the teacher, counts it and audits it."""
    monkeypatch.setattr(guard_chat, "START_DEADLINE", 0.6)
    monkeypatch.setattr(guard_chat, "RETRY_DELAYS", (0.1, 0.1, 0.1, 0.1, 0.1, 0.1))
    await lesson_with_pupils(rig)
    rig.emu.chat_failures = 10**6
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.settle(lambda: any(command_of(c)[0] == "SetRecordingStatusCmdMsg"
                                 for c in rig.commands), timeout=3)
    stop = next(c for c in rig.commands if command_of(c)[0] == "SetRecordingStatusCmdMsg")
    assert command_of(stop) == ("SetRecordingStatusCmdMsg", MEETING, TEACHER)
    assert stop["core"]["body"] == {"recording": False, "setBy": TEACHER}
    assert metric_value(rig.metrics.recordings_stopped.labels(
        platform="bbb", reason="announcement_failed")) == 1
    assert metric_value(rig.metrics.guard_announcements.labels(
        platform="bbb", phase="start", result="failed")) == 1
    entries = [e async for e in rig.audit.entries()]
    assert {"phase": "start", "result": "failed"}.items() <= next(
        e for e in entries if e["kind"] == "announcement").items()
    rig.emu.chat_failures = 0  # the teacher is told why once the chat works again
    await rig.guard.chat.idle()


async def test_purpose_required_recording_without_purpose_is_stopped(
        purpose_required: Rig) -> None:
    """G11: default_purpose = "none": no declared purpose, no recording; the teacher
    is told where to declare one."""
    rig = purpose_required
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("SetRecordingStatusCmdMsg", MEETING, TEACHER)]
    await rig.settle(lambda: len(rig.emu.chat) == 2)
    nl, en = (t for _, t in rig.emu.chat)
    assert "geen doel" in nl and "no purpose was declared" in en
    assert en.endswith(f"/meetings/bbb/{EXT}/purpose")
    assert metric_value(rig.metrics.recordings_stopped.labels(
        platform="bbb", reason="no_purpose")) == 1


async def test_purpose_required_recording_with_declared_purpose_runs(
        purpose_required: Rig) -> None:
    rig = purpose_required
    await lesson_with_pupils(rig)
    await rig.guard.declare_purpose(EXT, "lecture", None)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    names = [command_of(c)[0] for c in await rig.wait_for(4)]
    assert "SetRecordingStatusCmdMsg" not in names and "EjectUserCamerasCmdMsg" in names


async def test_no_moderator_left_nothing_is_claimed_and_it_is_counted(rig: Rig) -> None:
    """Honest chat: with no moderator to command as, a pupil's camera cannot be switched
    off; the chat must not say it was. The guard counts and audits what it could not do."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    rig.commands.clear()
    told_before = len(rig.emu.chat)
    await rig.send(bus.evt("UserLeftMeetingEvtMsg", MEETING, TEACHER, {
        "intId": TEACHER, "eject": False, "ejectedBy": "", "reason": "", "reasonCode": ""}))
    await rig.send(bus.camera(MEETING, PUPIL_A, started=True))
    unable = rig.metrics.guard_unable.labels(platform="bbb", reason="no_moderator")
    await rig.settle(lambda: metric_value(unable) == 1)
    await rig.guard.chat.idle()
    assert rig.commands == []
    assert rig.emu.chat[told_before:] == [], "never claim an action not taken"
    entries = [e async for e in rig.audit.entries()]
    assert any(e.get("action") == "not_carried_out" and e.get("reason") == "no_moderator"
               and e.get("actions") == "EjectCameras" for e in entries)


async def test_moderator_back_switches_off_what_came_on_meanwhile(rig: Rig) -> None:
    """G10: a pupil's camera that came on while no moderator was present goes off when a
    moderator joins again, before the notice saying cameras go off; audited as done."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    start = await rig.wait_for(4)
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    lock = {k: v for k, v in start[0]["core"]["body"].items() if k != "setBy"}
    # What BBB reports back for the start's commands: locks in force, A muted, B's camera off.
    await rig.send(bus.evt("LockSettingsInMeetingChangedEvtMsg", MEETING, TEACHER,
                           {**lock, "setBy": TEACHER}),
                   bus.muted(MEETING, PUPIL_A, is_muted=True),
                   bus.camera(MEETING, PUPIL_B, started=False),
                   bus.evt("UserLeftMeetingEvtMsg", MEETING, TEACHER, {
                       "intId": TEACHER, "eject": False, "ejectedBy": "", "reason": "",
                       "reasonCode": ""}),
                   bus.camera(MEETING, PUPIL_A, started=True))
    unable = rig.metrics.guard_unable.labels(platform="bbb", reason="no_moderator")
    await rig.settle(lambda: unable._value.get() == 1)
    rig.commands.clear()
    told_before = len(rig.emu.chat)
    mentor = "w_mntr8q2k5z"
    await rig.send(bus.joined(MEETING, mentor, "MODERATOR"))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("EjectUserCamerasCmdMsg", MEETING, mentor)]
    assert commands[0]["core"]["body"] == {"userId": PUPIL_A}
    await rig.settle(lambda: len(rig.emu.chat) == told_before + 2)
    assert "switched off now" in rig.emu.chat[-1][1]  # said once it was done
    entries = [e async for e in rig.audit.entries()]
    assert any(e.get("action") == "carried_out" and e.get("reason") == "moderator_present"
               and e.get("actions") == "EjectCameras" for e in entries)


async def test_bbb27_announcements_go_per_language_over_the_bus(bbb27: Rig) -> None:
    """Before 3.0 the chat goes with the commands (SendGroupChatMessageMsg), one message
    per language; its delivery is checked from PUBLISH's receiver count and counted."""
    rig = bbb27
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(8)
    chat = [c["core"]["body"]["msg"]["message"] for c in commands
            if command_of(c)[0] == "SendGroupChatMessageMsg"]
    assert len(chat) == 4 and all(len(t) <= CHAT_MESSAGE_MAX for t in chat)
    assert "30 dagen" in chat[0] and "30 days" in chat[1]
    assert chat[2:] == ["Herhaling: " + chat[0], "Reminder: " + chat[1]]
    assert all(command_of(c)[2] == TEACHER for c in commands)
    await rig.guard.chat.idle()
    assert metric_value(rig.metrics.guard_announcements.labels(
        platform="bbb", phase="start", result="sent")) == 1


async def test_purpose_declared_while_a_recording_starts_is_applied_in_order(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """One writer per meeting: the start reads the declared purpose (slowly, as a busy
    store would) while the teacher declares another. The declaration waits for the
    start, so the meeting is never told "feedback" while a lecture records."""
    await lesson_with_pupils(rig)
    reading = asyncio.Event()
    original = rig.store.hgetall

    async def slow_purpose_read(key: str) -> dict[str, bytes]:
        result = await original(key)
        if key == purpose_key(EXT):
            reading.set()
            await asyncio.sleep(0.3)
        return result

    monkeypatch.setattr(rig.store, "hgetall", slow_purpose_read)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await asyncio.wait_for(reading.wait(), 5)
    outcome = await rig.guard.declare_purpose(EXT, "feedback", None)
    assert outcome == "announced"
    await rig.guard.chat.idle()
    texts = [t for _, t in rig.emu.chat]
    state = rig.guard.meetings[MEETING].state
    assert state.active_purpose == "lecture" and state.purpose == "feedback"
    assert "The new purpose applies to the next recording." in texts
    assert not any("feedback within this lesson" in t for t in texts)
    assert (await original(purpose_key(EXT)))["purpose"] == b"feedback"


async def test_reaction_metric_starts_at_the_envelope_timestamp(rig: Rig) -> None:
    """An event that waited 300 ms in queues before the guard read it: the metric shows
    the wait (akka's envelope timestamp), not just the time after the socket read."""
    await lesson_with_pupils(rig)
    start = json.loads(bus.recording(MEETING, TEACHER, True))
    start["envelope"]["timestamp"] -= 300
    await rig.send(json.dumps(start).encode())
    await rig.wait_for(4)
    reaction = rig.metrics.guard_reaction.labels(platform="bbb")
    assert 0.3 <= reaction._sum.get() < 5


async def test_a_failing_message_costs_no_other_message(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug met by one message is counted; the lead stays and the next event is handled."""
    from bbb_hooks import guard_bbb

    await lesson_with_pupils(rig)
    real = guard_bbb.translate

    def failing_once(rt: Any, msg: Any) -> Any:
        if msg.name == "UserMutedVoiceEvtMsg":
            raise ZeroDivisionError("a bug")
        return real(rt, msg)

    monkeypatch.setattr(guard_bbb, "translate", failing_once)
    await rig.send(bus.muted(MEETING, PUPIL_A, False), bus.recording(MEETING, TEACHER, True))
    assert len(await rig.wait_for(4)) == 4
    assert metric_value(rig.metrics.guard_bus_rejected.labels(reason="handler_error")) == 1
    assert rig.guard.leadership.leading() and rig.guard.connected


async def test_bbb27_without_a_moderator_the_start_cannot_be_announced(bbb27: Rig) -> None:
    """Before 3.0 a chat line needs a moderator to speak as: with none, the start
    announcement fails, is counted and audited, and the guard reports it cannot stop."""
    rig = bbb27
    await record_meeting(rig.store)
    # The teacher started it and left; only a pupil is there.
    await rig.send(bus.created(MEETING, EXT), bus.joined(MEETING, PUPIL_A, "VIEWER"),
                   bus.recording(MEETING, TEACHER, True))
    failed = rig.metrics.guard_announcements.labels(platform="bbb", phase="start",
                                                    result="failed")
    await rig.settle(lambda: metric_value(failed) == 1)
    await rig.guard.chat.idle()
    assert rig.commands == []
    assert metric_value(rig.metrics.guard_unable.labels(
        platform="bbb", reason="announcement_failed")) == 1
    assert metric_value(rig.metrics.guard_unable.labels(
        platform="bbb", reason="no_moderator")) >= 1
    entries = [e async for e in rig.audit.entries()]
    assert any(e["kind"] == "announcement" and e.get("result") == "failed" for e in entries)
    started = next(e for e in entries if e["kind"] == "recording_started")
    # The audit names what was carried out: nothing could go out.
    assert started["actions"] == ""


async def test_bus_failing_at_the_start_still_announces_on_bbb30(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' PUBLISH fails (the bus drops): the guard reconnects and re-locks,
    and the announcements, which go by HTTP on 3.0, are not lost with the bus (G8)."""
    from bbb_hooks.bus_link import BusLost, BusPublisher

    await lesson_with_pupils(rig)
    real = BusPublisher.publish
    failed: list[int] = []

    async def drop_once(self: BusPublisher, channel: str, payloads: list[str]) -> list[int]:
        if not failed:
            failed.append(len(payloads))
            raise BusLost("publish not acknowledged: timeout")
        return await real(self, channel, payloads)

    monkeypatch.setattr(BusPublisher, "publish", drop_once)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.settle(lambda: len(rig.emu.chat) == 4)
    assert failed == [4]
