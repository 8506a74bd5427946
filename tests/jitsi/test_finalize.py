"""`privacy-gateway jibri-finalize DIR` on sample Jibri session directories (G16, minimisation)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.store.base import MemoryStore
from gateway.store.registry import Registry, read_sidecar
from jitsi_hooks.finalize import finalize, inspect
from jitsi_hooks.rooms import RecordingState, RoomStore
from privacy_gateway import main
from tests.jitsi.support import jitsi_settings

DAY = 86400
PARTICIPANTS = [{"user": {"id": "p_1", "name": "Lotte Bakker", "email": "l@school.example"}}]


def session_dir(root: Path, name: str = "abc_def-123", metadata: object | None = None,
                media: bool = True, room: str = "Lesson-7a") -> Path:
    path = root / "recordings" / name
    path.mkdir(parents=True)
    if media:
        (path / f"{room.lower()}_2026-09-01-10-00-00.mp4").write_bytes(b"\x00\x00\x00\x18ftyp")
    if metadata is None:
        metadata = {"meeting_url": f"https://meet.school.example/{room}",
                    "participants": PARTICIPANTS, "share": "false"}
    if metadata != "absent":
        (path / "metadata.json").write_text(
            metadata if isinstance(metadata, str) else json.dumps(metadata))
    return path


def snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_cli_writes_sidecar_and_removes_identities(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = jitsi_settings(tmp_path)
    path = session_dir(tmp_path)
    video = (path / "lesson-7a_2026-09-01-10-00-00.mp4").read_bytes()
    assert main(["jibri-finalize", str(path), "--config", settings.source]) == 0
    declared = read_sidecar(path)
    assert (declared.meeting_ref, declared.meeting_type, declared.purpose) == (
        "lesson-7a", "lesson", "lecture")  # the lesson's default purpose
    assert declared.retain_until is not None and declared.created is not None
    assert round((declared.retain_until - declared.created) / DAY) == 30
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata == {"meeting_url": "https://meet.school.example/Lesson-7a", "share": "false"}
    assert (path / "lesson-7a_2026-09-01-10-00-00.mp4").read_bytes() == video
    assert "registered abc_def-123" in capsys.readouterr().out


def test_policy_may_keep_the_participant_list(tmp_path: Path) -> None:
    settings = jitsi_settings(tmp_path, {"jitsi": {"keep_recording_participants": True}})
    path = session_dir(tmp_path)
    assert main(["jibri-finalize", str(path), "--config", settings.source]) == 0
    assert json.loads((path / "metadata.json").read_text())["participants"] == PARTICIPANTS


@pytest.mark.parametrize("metadata,media,message", [
    ("absent", True, "metadata.json: missing"),
    ("{not json", True, "not valid JSON"),
    ([1, 2], True, "not a JSON object"),
    ({"participants": PARTICIPANTS}, True, "no meeting_url"),
    ({"meeting_url": "https://meet.school.example/../etc"}, True, "valid room"),
    (None, False, "no recording file"),
], ids=["missing", "broken_json", "not_object", "no_meeting_url", "bad_room", "no_media"])
def test_bad_sessions_are_left_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         metadata: object, media: bool, message: str) -> None:
    settings = jitsi_settings(tmp_path)
    path = session_dir(tmp_path, metadata=metadata, media=media)
    before = snapshot(path)
    assert main(["jibri-finalize", str(path), "--config", settings.source]) == 3
    assert snapshot(path) == before  # nothing written, nothing removed
    err = capsys.readouterr().err
    assert message in err and "the recording was not changed" in err


def test_not_a_session_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = jitsi_settings(tmp_path)
    assert main(["jibri-finalize", str(tmp_path / "nope"), "--config", settings.source]) == 3
    assert "not a Jibri session directory" in capsys.readouterr().err


async def test_registers_purpose_declared_for_the_recording(tmp_path: Path) -> None:
    settings = jitsi_settings(tmp_path)
    clock = ManualClock(time.time())
    store = MemoryStore("pgw", clock)
    rooms = RoomStore(store)
    await rooms.set_recording("exam-5", RecordingState(recording=False, purpose="exam_evidence"))
    path = session_dir(tmp_path, room="exam-5")
    result = await finalize(settings, store, inspect(str(path)), clock)
    assert result.purpose == "exam_evidence"
    row = await Registry(store).get("jitsi:abc_def-123")
    assert row is not None and row.purpose == "exam_evidence" and row.meeting_ref == "exam-5"
    assert round((row.retain_until - row.created) / DAY) == 180
    assert await Registry(store).due_keys(row.retain_until + 1, 10) == ["jitsi:abc_def-123"]


async def test_objection_filed_during_the_meeting_holds_the_finalized_recording(
        tmp_path: Path) -> None:
    """G12: Jibri finishes after a pupil objected: the new recording is held at once."""
    from gateway.store.registry import pending_objections_key

    settings = jitsi_settings(tmp_path)
    clock = ManualClock(time.time())
    store = MemoryStore("pgw", clock)
    await store.hset(pending_objections_key("jitsi", "exam-5"), {"obj-123456": b"1"}, 3600)
    path = session_dir(tmp_path, room="exam-5")
    await finalize(settings, store, inspect(str(path)), clock)
    row = await Registry(store).get("jitsi:abc_def-123")
    assert row is not None and row.holds == frozenset({"objection:obj-123456"})
    assert await Registry(store).due_keys(row.retain_until + 1, 10) == []
