"""Hostile or odd bus input (G10): limits before parsing, strict field types, and one bad
message never costs the leadership or another message. Real redis-server bus."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_state import new_runtime, translate
from tests.guard import bbb_bus as bus
from tests.guard.guard_rig import (
    MEETING,
    PUPIL_A,
    TEACHER,
    Rig,
    command_of,
    lesson_with_pupils,
)
from tests.support import metric_value


def _rejected(rig: Rig, reason: str) -> float:
    value: float = metric_value(rig.metrics.guard_bus_rejected.labels(reason=reason))
    return value


def _deep(depth: int) -> bytes:
    """A RecordingStatusChangedEvtMsg whose body nests `depth` objects deep."""
    head = bus.recording(MEETING, TEACHER, True)
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    return head.replace(b'"body":{"recording":true', b'"body":{"x":' + nested
                        + b',"recording":true')


async def test_deeply_nested_message_costs_nothing_else(rig: Rig) -> None:
    """A 40,000-deep message is refused before parsing; the recording start right behind
    it in the same read is acted on, and the guard keeps its lease."""
    await lesson_with_pupils(rig)
    fence = rig.guard.leadership.lease.fence if rig.guard.leadership.lease else None
    await rig.send(_deep(40_000), bus.recording(MEETING, TEACHER, True))
    commands = await rig.wait_for(4)
    assert [command_of(c)[0] for c in commands][:2] == [
        "ChangeLockSettingsInMeetingCmdMsg", "LockUsersInMeetingCmdMsg"]
    assert _rejected(rig, "too_deep") == 1
    assert rig.guard.leadership.leading() and rig.guard.connected
    assert rig.guard.leadership.lease is not None and rig.guard.leadership.lease.fence == fence


async def test_oversized_message_is_refused_unparsed(rig: Rig) -> None:
    await lesson_with_pupils(rig)
    huge = bus.evt("UserJoinedMeetingEvtMsg", MEETING, "w_big", {
        "intId": "w_big", "role": "VIEWER", "name": "x" * (codec.MAX_MESSAGE_BYTES + 1)})
    await rig.send(huge, bus.recording(MEETING, TEACHER, True))
    assert len(await rig.wait_for(4)) == 4
    assert _rejected(rig, "too_large") == 1
    assert rig.guard.meetings[MEETING].state.participant("w_big") is None


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, [], {}],
                         ids=["string-true", "string-false", "one", "zero", "null", "list",
                              "object"])
async def test_non_boolean_recording_is_never_a_stop(rig: Rig, value: Any) -> None:
    """`"recording": "true"` during a lecture: ignored and counted, the locks stay, and a
    pupil's camera is still switched off afterwards (G10)."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    rig.commands.clear()
    odd = bus.evt("RecordingStatusChangedEvtMsg", MEETING, TEACHER,
                  {"recording": value, "setBy": TEACHER})
    await rig.send(odd, bus.camera(MEETING, PUPIL_A, started=True))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("EjectUserCamerasCmdMsg", MEETING, TEACHER)]
    assert rig.guard.meetings[MEETING].state.recording
    assert _rejected(rig, "bad_field") == 1


@pytest.mark.parametrize(("set_by", "reason"), [
    (b"12", "bad_field"), (b"null", "bad_field"), (b'["w_tchr4k2m9x"]', "bad_field"),
    (b'"w_\\ud800"', "bad_field"), (b"NaN", "not_json"), (b"-Infinity", "not_json"),
], ids=["int", "null", "list", "lone-surrogate", "NaN", "-Infinity"])
async def test_stop_with_a_bad_set_by_is_never_a_stop(rig: Rig, set_by: bytes,
                                                      reason: str) -> None:
    """akka's RecordingStatusChangedEvtMsg is `{recording: Boolean, setBy: String}`: a stop
    whose setBy is anything else (or no JSON at all) is refused and counted, the locks
    are not restored, and a pupil's camera still goes off (G10)."""
    await lesson_with_pupils(rig)
    await rig.send(bus.recording(MEETING, TEACHER, True))
    await rig.wait_for(4)
    rig.commands.clear()
    stop = bus.recording(MEETING, TEACHER, False)
    odd = stop.replace(b'"setBy":"' + TEACHER.encode() + b'"', b'"setBy":' + set_by)
    assert odd != stop
    await rig.send(odd, bus.camera(MEETING, PUPIL_A, started=True))
    commands = await rig.wait_for(1)
    assert [command_of(c) for c in commands] == [("EjectUserCamerasCmdMsg", MEETING, TEACHER)]
    assert rig.guard.meetings[MEETING].state.recording
    assert _rejected(rig, reason) == 1


async def test_non_boolean_lock_field_is_refused(rig: Rig) -> None:
    await lesson_with_pupils(rig)
    before = rig.guard.meetings[MEETING].state.locks
    await rig.send(bus.evt("LockSettingsInMeetingChangedEvtMsg", MEETING, TEACHER,
                           {"disableCam": "false", "hideUserList": False, "setBy": TEACHER}))
    await rig.settle(lambda: _rejected(rig, "bad_field") == 1)
    assert rig.guard.meetings[MEETING].state.locks == before


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"a": "{[" * 500, "b": {"c": [1]}}).encode()
    assert codec.nesting_depth(text) <= codec.MAX_DEPTH
    assert codec.decode(bus.evt("X", MEETING, TEACHER, {"t": "{" * 500})).body["t"]


# ---- fuzzing the decoder and the translation over BBB's envelope shapes -----------
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=20))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=30)
_names = st.sampled_from(sorted(codec.GUARD_EVENTS | {"UserTalkingVoiceEvtMsg", ""}))
_body_keys = st.sampled_from(["recording", "setBy", "intId", "userId", "stream", "muted",
                              "listenOnly", "role", "guest", "locked", "presenter",
                              "presenterId", "disableCam", "disableMic", "lockOnJoin",
                              "hideUserList", "props", "meetingId"])
_bodies = st.dictionaries(_body_keys, _json, max_size=8)


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    name = draw(_names)
    header = draw(st.one_of(
        st.fixed_dictionaries({"name": st.just(name), "meetingId": st.just(MEETING),
                               "userId": st.one_of(st.just(TEACHER), _json)}),
        st.dictionaries(st.sampled_from(["name", "meetingId", "userId"]), _json)))
    core = draw(st.one_of(st.fixed_dictionaries({"header": st.just(header), "body": _bodies}),
                          _json))
    envelope = draw(st.one_of(st.fixed_dictionaries({
        "name": st.just(name), "routing": st.dictionaries(st.text(max_size=8), _json),
        "timestamp": st.one_of(st.integers(), _json)}), _json))
    return json.dumps({"envelope": envelope, "core": core}).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(envelopes(), st.binary(max_size=200),
                     st.integers(1, 3000).map(lambda d: b"[" * d + b"]" * d)))
def test_decoder_and_translation_only_ever_refuse_cleanly(raw: bytes) -> None:
    """Whatever arrives, the decoder and the translation either work or raise BusError:
    never another exception that would end the bus loop."""
    try:
        msg = codec.decode(raw)
    except codec.BusError as exc:
        assert exc.reason in ("too_large", "too_deep", "not_json", "bad_shape")
        return
    assert isinstance(msg.name, str) and isinstance(msg.body, dict)
    assert msg.sent_ms is None or isinstance(msg.sent_ms, int)
    rt = new_runtime(MEETING, "lesson", "https://gw.example")
    try:
        events = translate(rt, msg)
    except codec.BusError as exc:
        assert exc.reason == "bad_field"
        return
    for event in events:
        if type(event).__name__ in ("RecordingStarted", "RecordingStopped"):
            assert msg.body.get("recording") in (True, False)
