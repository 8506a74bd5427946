"""jibri-finalize registers a recording exactly as a sweep would (G16, G20)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.audit.log import AuditLog
from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.policy.retention import DAY
from gateway.pseudonym import Pseudonymiser
from gateway.retention.wiring import build_sweeper
from gateway.store.base import MemoryStore
from jitsi_hooks.finalize import finalize, inspect
from jitsi_hooks.jibri_source import JibriSource
from privacy_gateway import main
from tests.jitsi.support import jitsi_settings
from tests.jitsi.test_finalize import session_dir


async def test_g16_finalize_and_the_sweep_audit_the_same_recording_the_same_way(
        tmp_path: Path) -> None:
    settings = jitsi_settings(tmp_path)
    clock = ManualClock(time.time())
    store = MemoryStore("pgw", clock)
    path = session_dir(tmp_path, room="les-7a")
    await finalize(settings, store, inspect(str(path)), clock)
    pseudonyms = Pseudonymiser(settings.secrets.get("gateway.pseudonym_key"))
    audit = AuditLog(store, clock, 365)
    sweeper = build_sweeper(settings, store=store, sources=[JibriSource(path.parent)],
                            clock=clock, metrics=Metrics(), audit=audit,
                            pseudonyms=pseudonyms)
    await sweeper.sweep_if_leader()  # sees the same recording: nothing new to register
    clock.advance(31 * DAY)  # a lesson's lecture: 30 days
    result = await sweeper.sweep_if_leader()
    assert result is not None and result.deleted == 1 and not path.exists()
    entries = [e async for e in audit.entries()]
    registered = [e for e in entries if e["kind"] == "recording_registered"]
    deleted = [e for e in entries if e["kind"] == "recording_deleted"]
    assert len(registered) == 1 and len(deleted) == 1
    assert registered[0]["recording"] == deleted[0]["recording"] == "jitsi:abc_def-123"
    assert registered[0]["meeting"] == pseudonyms.tag("meeting", "les-7a")
    assert {"purpose", "meeting_type", "retain_until", "source"} <= set(registered[0])


def test_g20_jibri_log_line_names_the_meeting_by_its_tag_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = jitsi_settings(tmp_path)
    path = session_dir(tmp_path, room="les-geheim")
    assert main(["jibri-finalize", str(path), "--config", settings.source]) == 0
    out = capsys.readouterr().out
    assert "registered abc_def-123" in out and "les-geheim" not in out


async def test_g12_a_recording_of_a_room_with_an_open_objection_carries_the_hold_on_disk(
        tmp_path: Path) -> None:
    """Finalized while an objection of its room is open: held in the store and in the
    sidecar, so a lost store still holds it."""
    from gateway.retention.objections import ObjectionDesk
    from gateway.store.registry import read_sidecar

    settings = jitsi_settings(tmp_path)
    clock = ManualClock(time.time())
    store = MemoryStore("pgw", clock)
    path = session_dir(tmp_path, room="les-7b")
    audit = AuditLog(store, clock, 365)
    sweeper = build_sweeper(settings, store=store, sources=[JibriSource(path.parent)],
                            clock=clock, metrics=Metrics(), audit=audit,
                            pseudonyms=Pseudonymiser(settings.secrets.get(
                                "gateway.pseudonym_key")))
    desk = ObjectionDesk(store=store, sweeper=sweeper, audit=audit, clock=clock,
                         metrics=Metrics(), retention_days=365, tag=lambda value: "t")
    objection = await desk.file(platform="jitsi", meeting_ref="les-7b", person="p_x",
                                reason="")
    await finalize(settings, store, inspect(str(path)), clock)
    hold = f"objection:{objection.objection_id}"
    assert read_sidecar(path).holds == {hold}
    clock.advance(31 * DAY)
    lost = MemoryStore("pgw", clock)  # the store is lost
    sweeper = build_sweeper(settings, store=lost, sources=[JibriSource(path.parent)],
                            clock=clock, metrics=Metrics(), audit=AuditLog(lost, clock, 365),
                            pseudonyms=Pseudonymiser(settings.secrets.get(
                                "gateway.pseudonym_key")))
    result = await sweeper.sweep_if_leader()
    assert result is not None and result.deleted == 0 and path.exists()
