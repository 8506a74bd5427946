"""`privacy-gateway sweep [--dry-run]` and `audit export` against a real Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.audit.log import audit_log
from gateway.clock import SystemClock
from gateway.config.loading import load_settings
from gateway.policy.retention import DAY
from gateway.store.redis_store import RedisStore
from gateway.store.registry import write_sidecar
from privacy_gateway import main
from tests.support import deep_merge, example_policy, to_toml, write_secret


def policy_file(tmp_path: Path, jibri: Path, redis_url: str) -> str:
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "pseudonym.key")
    for idp in data["identity"]["providers"]:
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    (tmp_path / "redis_url").write_text(redis_url)
    data = deep_merge(data, {"store": {"redis_url_file": str(tmp_path / "redis_url")},
                             "retention": {"jibri_recordings_dir": str(jibri)}})
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    return str(path)


def session(jibri: Path, name: str, purpose: str, age_days: float) -> Path:
    folder = jibri / name
    folder.mkdir(parents=True)
    (folder / "x.mp4").write_bytes(b"\0")
    created = time.time() - age_days * DAY
    days = {"lecture": 30, "feedback": 14}[purpose]
    write_sidecar(folder, meeting_ref="room", meeting_type="lesson", purpose=purpose,
                  created=created, retain_until=created + days * DAY, policy_version="1")
    return folder


async def test_dry_run_lists_and_changes_nothing_then_sweep_deletes(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    jibri = tmp_path / "jibri"
    due = session(jibri, "session_due", "feedback", age_days=20)
    soon = session(jibri, "session_soon", "feedback", age_days=10)
    later = session(jibri, "session_later", "lecture", age_days=1)
    config = policy_file(tmp_path, jibri, redis_url)
    assert await _in_thread(main, ["sweep", "--config", config, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "DELETE NOW" in out.out and "jitsi:session_due" in out.out
    assert "jitsi:session_soon" in out.out and "jitsi:session_later" not in out.out
    assert "recordings, done" in out.err
    assert due.exists() and soon.exists()
    assert await _in_thread(main, ["sweep", "--config", config, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"] == 1 and not due.exists() and soon.exists() and later.exists()


async def test_audit_export_writes_json_lines(tmp_path: Path, redis_url: str) -> None:
    config = policy_file(tmp_path, tmp_path / "jibri", redis_url)
    store = RedisStore.from_url(redis_url)
    audit = audit_log(load_settings(config), store, SystemClock())
    for i in range(1203):  # more than one batch
        await audit.record("recording_deleted", "jitsi", recording=f"jitsi:s{i}",
                           reason="retention")
    await store.close()
    output = tmp_path / "audit.jsonl"
    assert await _in_thread(main, ["audit", "export", "--config", config,
                                   "--output", str(output)]) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 1203
    assert lines[0]["kind"] == "recording_deleted" and lines[-1]["recording"] == "jitsi:s1202"


async def _in_thread(func, argv):  # type: ignore[no-untyped-def]
    """The CLI runs its own event loop (asyncio.run), so keep it off the test's loop."""
    import asyncio

    return await asyncio.to_thread(func, argv)


async def test_g16_a_legal_hold_from_the_cli_keeps_a_recording_until_released(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.policy.retention import RegistryRow
    from gateway.store.registry import Registry
    from jitsi_hooks.jibri_source import JibriSource

    jibri = tmp_path / "jibri"
    kept = session(jibri, "session_case", "feedback", age_days=20)  # due 6 days ago
    config = policy_file(tmp_path, jibri, redis_url)
    store = RedisStore.from_url(redis_url)
    async for declared in JibriSource(jibri).listing():  # registered, not yet swept
        await Registry(store).put(RegistryRow(
            platform="jitsi", recording_id=declared.recording_id, server="",
            meeting_ref="room", meeting_type="lesson", purpose="feedback",
            created=declared.created or 0.0, retain_until=declared.retain_until or 0.0))
    await store.close()
    hold = ["hold", "add", "jitsi:session_case", "--reason", "case-2026/7", "--config", config]
    assert await _in_thread(main, hold) == 0
    assert "legal:case-2026/7" in capsys.readouterr().out
    assert await _in_thread(main, ["sweep", "--config", config]) == 0
    assert kept.exists()  # held: not deleted past its due date
    hold[1] = "release"
    assert await _in_thread(main, hold) == 0
    assert await _in_thread(main, ["sweep", "--config", config]) == 0
    assert not kept.exists()
    store = RedisStore.from_url(redis_url)
    entries = [e async for e in audit_log(load_settings(config), store, SystemClock()).entries()]
    await store.close()
    kinds = [e["kind"] for e in entries if e.get("hold") == "legal:case-2026/7"]
    assert kinds == ["hold_placed", "hold_released"]


@pytest.mark.parametrize(("argv", "code"), [
    (["hold", "add", "jitsi:nope", "--reason", "case-1"], 1),
    (["hold", "add", "jitsi:x", "--reason", "Jan <script>"], 2),
    (["hold", "release", "jitsi:nope", "--reason", "case-1"], 1),
], ids=["unknown_recording", "free_text_reason", "release_unknown"])
async def test_g16_bad_hold_commands_are_refused(tmp_path: Path, redis_url: str,
                                                 argv: list[str], code: int) -> None:
    config = policy_file(tmp_path, tmp_path / "jibri", redis_url)
    assert await _in_thread(main, [*argv, "--config", config]) == code
