"""What an operator sees of a sweep, and what /metrics shows of CLI sweeps (G16, G20)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import secrets
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as redis_async

from gateway.demo.bbb_server import BBBEmulator
from gateway.metrics import DELETION_RESULTS, PLATFORMS, RECORDING_STATES, Metrics
from gateway.policy.model import PURPOSES
from gateway.policy.retention import DAY
from gateway.retention.output import SweepProgress
from gateway.retention.sweeper import SweepResult
from gateway.store.redis_store import RedisStore
from privacy_gateway import main
from tests.retention.fakes import recording, rig
from tests.retention.harness import counter
from tests.retention.test_killed_sweep import policy
from tests.support import deep_merge, example_policy, to_toml, write_secret


def bbb_recordings(emulator: BBBEmulator, count: int, age_days: float) -> list[str]:
    start_ms = int((time.time() - age_days * DAY) * 1000)
    return [emulator.add_recording(f"m{i}-{secrets.token_hex(3)}",
                                   meta={"privacy-meeting-type": "lesson",
                                         "privacy-purpose": "feedback"}, start_ms=start_ms + i)
            for i in range(count)]


async def test_g16_sweep_reports_progress_failures_by_key_held_and_waiting(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp_path / "var-bigbluebutton")
    await emulator.start()
    try:
        failing = bbb_recordings(emulator, 2, age_days=30)
        held = bbb_recordings(emulator, 1, age_days=30)[0]
        config = policy(tmp_path, emulator, redis_url, ["false"])  # the agent cannot purge
        hold = ["hold", "add", f"bbb:{held}", "--reason", "case-5", "--config", str(config)]
        assert await asyncio.to_thread(main, hold) == 0  # not registered yet: looked up
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["sweep", "--config", str(config)]) == 0
        out, err = capsys.readouterr()
        for rid in failing:  # every error line names the recording and the reason
            assert f"privacy-gateway sweep: error: bbb:{rid}: purge_incomplete" in err
        assert "sweep: listed 3, due 2, deleted 0, failed 2, done" in err  # not a terminal
        assert "held (legal hold/objection):  1 recording\n" in out
        assert "waiting for a retry:          2 recordings" in out
        assert f"error: bbb:{failing[0]}: purge_incomplete" in out
        # Failing for longer than the grace: the run says so and exits non-zero.
        client = redis_async.Redis.from_url(redis_url)
        for rid in failing:
            await client.zadd("pgw:rec:failing", {f"bbb:{rid}": time.time() - 2 * DAY})
        await client.aclose()
        assert await asyncio.to_thread(main, ["sweep", "--config", str(config)]) == 1
        out, _ = capsys.readouterr()
        assert "failing past the grace (86400 s): 2 recordings" in out
    finally:
        await emulator.stop()


def test_g16_progress_is_a_bar_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = SweepProgress(stream)
    result = SweepResult(reconciled=10, due=4, deleted=2)
    progress(result)
    result.failures.append(("bbb:x", "bbb_unreachable"))
    result.failed = 1
    progress.done(result)
    text = stream.getvalue()
    assert "\r[###############...............] listed 10, due 4, deleted 2, failed 0" in text
    assert "privacy-gateway sweep: error: bbb:x: bbb_unreachable\n" in text


async def test_g16_cli_sweeps_count_in_every_replicas_metrics(tmp_path: Path,
                                                             redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    old = time.time() - 30 * DAY
    cli = rig(tmp_path, store)  # a CLI sweep: its own process, its own metrics
    cli.source.recordings = [recording(f"s{i}", created=old) for i in range(3)]
    await cli.sweeper.sweep_if_leader()
    server = rig(tmp_path, store)  # a replica that did not sweep
    await server.sweeper.load_gauges()
    assert counter(server.metrics, "privacy_gateway_recording_deletions_total",
                   platform="jitsi", result="deleted") == 3
    assert counter(server.metrics, "privacy_gateway_recordings", platform="jitsi",
                   purpose="feedback", state="deleted") == 3
    failing = rig(tmp_path, store)
    failing.source.recordings = [recording("s9", created=old)]
    failing.source.refuse_deletes = True
    await failing.sweeper.sweep_if_leader()
    await server.sweeper.load_gauges()
    assert counter(server.metrics, "privacy_gateway_recording_deletions_total",
                   platform="jitsi", result="failed") == 1
    # Redis lost: the counters never go back, the replica puts its counts back.
    client = redis_async.Redis.from_url(redis_url)
    await client.flushall()
    await client.aclose()
    await server.sweeper.load_gauges()
    assert counter(server.metrics, "privacy_gateway_recording_deletions_total",
                   platform="jitsi", result="deleted") == 3
    another = rig(tmp_path, store)
    await another.sweeper.load_gauges()
    assert counter(another.metrics, "privacy_gateway_recording_deletions_total",
                   platform="jitsi", result="deleted") == 3
    await store.close()


def test_g20_every_labelled_retention_series_exists_from_the_start_at_zero() -> None:
    metrics = Metrics()
    for platform in PLATFORMS:
        for result in DELETION_RESULTS:
            assert metrics.registry.get_sample_value(
                "privacy_gateway_recording_deletions_total",
                {"platform": platform, "result": result}) == 0
        for purpose in (*PURPOSES, "undeclared"):
            for state in RECORDING_STATES:
                assert metrics.registry.get_sample_value("privacy_gateway_recordings", {
                    "platform": platform, "purpose": purpose, "state": state}) == 0
        assert metrics.registry.get_sample_value(
            "privacy_gateway_transcription_blocked_total", {"platform": platform}) == 0
        assert metrics.registry.get_sample_value(
            "privacy_gateway_guard_violations_remuted_total",
            {"platform": platform, "kind": "camera"}) == 0
    assert metrics.registry.get_sample_value("privacy_gateway_jwks_fetches_total",
                                             {"result": "error"}) == 0


@pytest.mark.parametrize("argv", [["sweep"], ["sweep", "--dry-run"],
                                  ["hold", "add", "jitsi:x", "--reason", "case-1"]],
                         ids=["sweep", "dry_run", "hold"])
async def test_g16_state_commands_refuse_the_embedded_store(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "pseudonym.key")
    for idp in data["identity"]["providers"]:
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(deep_merge(data, {})))
    assert await asyncio.to_thread(main, [*argv, "--config", str(path)]) == 2
    assert "embedded store" in capsys.readouterr().err


def test_g16_purge_agent_takes_many_ids_in_one_call(tmp_path: Path) -> None:
    import subprocess

    root = tmp_path / "var-bigbluebutton"
    ids = [f"{i:040x}-1700000000000" for i in range(3)]
    for rid in ids:
        (root / "recording" / "raw" / rid).mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "bbb_hooks.purge", *ids, "--root", str(root)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["recording_id"] for r in reports] == ids
    assert all(r["removed"] and not r["remaining"] for r in reports)
    assert not any((root / "recording" / "raw" / rid).exists() for rid in ids)
    bad = subprocess.run([sys.executable, "-m", "bbb_hooks.purge", ids[0], "../x",
                          "--root", str(root)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == ""  # a bad id: nothing is touched


async def test_g16_every_stderr_line_of_a_failing_sweep_names_the_recording_and_reason(
        tmp_path: Path, redis_url: str) -> None:
    """As run by cron: no bare `deletion failed` line without a recording or reason."""
    from tests.retention.test_killed_sweep import sweep

    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp_path / "var-bigbluebutton")
    await emulator.start()
    try:
        failing = bbb_recordings(emulator, 2, age_days=30)
        config = policy(tmp_path, emulator, redis_url, ["false"])
        proc = await sweep(config)
        _, err = await proc.communicate()
    finally:
        await emulator.stop()
    assert proc.returncode == 0, err  # within the grace: retried by the next sweep
    lines = err.decode().splitlines()
    errors = [line for line in lines if "error" in line or "fail" in line]
    assert errors and "deletion failed" not in err.decode()
    for line in errors:
        if line.startswith("sweep: "):
            continue  # the progress line: counts only
        assert re.search(r"error: bbb:[0-9a-f]{40}-\d{13}: purge_incomplete \(exit 1\)$",
                         line), line
    assert {f"bbb:{rid}" for rid in failing} <= set(re.findall(r"bbb:[0-9a-f-]+", err.decode()))


async def test_g16_a_failing_purge_agent_is_reported_with_its_exit_code_and_last_line(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`purge_failed` alone does not tell the operator what to fix: the error line and the
    summary carry the agent's exit code and last stderr line, its paths cut (they may
    name a room or a person); the audit keeps the bounded reason only."""
    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp_path / "var-bigbluebutton")
    await emulator.start()
    try:
        (rid,) = bbb_recordings(emulator, 1, age_days=30)
        no_tree = str(tmp_path / "jan-de-vries" / "missing")  # the agent exits 2
        config = policy(tmp_path, emulator, redis_url,
                        [sys.executable, "-m", "bbb_hooks.purge", "--root", no_tree])
        assert await asyncio.to_thread(main, ["sweep", "--config", str(config)]) == 0
        out, err = capsys.readouterr()
    finally:
        await emulator.stop()
    said = (f"bbb:{rid}: purge_failed (exit 2: privacy-gateway bbb-purge: <path> is not "
            "a BBB recordings tree)")
    assert f"privacy-gateway sweep: error: {said}" in err
    assert f"error: {said}" in out
    assert "jan-de-vries" not in out + err
    from gateway.audit.journal import AuditJournal

    failed = [e["data"] for e in AuditJournal(tmp_path / "audit-log", 365).verify_all().entries
              if e["kind"] == "deletion_failed"]
    assert failed and all(d["reason"] == "purge_failed" for d in failed)
