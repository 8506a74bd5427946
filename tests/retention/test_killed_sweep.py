"""A sweeper killed with SIGKILL mid-sweep frees its lease within a minute (G16).

The sweep runs as the operator runs it (`privacy-gateway sweep` in its own
process) against the BBB stand-in, with a purge agent that hangs; the whole
process group is SIGKILLed while it deletes. Meanwhile `sweep` names the lease
holder and until when; then a new sweep completes and deletes everything due.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from gateway.demo.bbb_server import BBBEmulator
from gateway.policy.retention import DAY
from tests.bbb.support import bbb_changes
from tests.support import deep_merge, example_policy, to_toml, write_secret

HANG = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(120)"


def policy(tmp_path: Path, emulator: BBBEmulator, redis_url: str, purge: list[str]) -> Path:
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "pseudonym.key")
    for idp in data["identity"]["providers"]:
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    (tmp_path / "redis_url").write_text(redis_url)
    data = deep_merge(data, bbb_changes(tmp_path, [emulator], [secrets.token_hex(24)]))
    data = deep_merge(data, {"store": {"redis_url_file": str(tmp_path / "redis_url")},
                             "retention": {"bbb_purge_command": purge}})
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    return path


async def sweep(config: Path, **options: object) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "sweep", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()}, **options)  # type: ignore[arg-type]


async def test_g16_sigkill_mid_sweep_then_a_new_sweep_completes_within_a_minute(
        tmp_path: Path, redis_url: str) -> None:
    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp_path / "var-bigbluebutton")
    await emulator.start()
    try:
        start_ms = int((time.time() - 30 * DAY) * 1000)
        due = [emulator.add_recording(f"m{i}", meta={"privacy-meeting-type": "lesson",
                                                     "privacy-purpose": "feedback"},
                                      start_ms=start_ms + i) for i in range(12)]
        marker = tmp_path / "agent-started"
        config = policy(tmp_path, emulator, redis_url, [sys.executable, "-c", HANG,
                                                        str(marker)])
        killed = await sweep(config, start_new_session=True)
        for _ in range(600):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the sweep never reached the purge agent"
        os.killpg(killed.pid, signal.SIGKILL)  # the sweep and its agent, mid-deletion
        await killed.wait()
        killed_at = time.monotonic()

        policy(tmp_path, emulator, redis_url,
               [sys.executable, "-m", "bbb_hooks.purge", "--root", str(emulator.root)])
        waited_message = ""
        while True:
            proc = await sweep(config)
            out, err = await proc.communicate()
            if proc.returncode == 0:
                break
            waited_message = err.decode()
            assert "another replica is sweeping right now" in waited_message, waited_message
            assert time.monotonic() - killed_at < 60, "the dead sweeper's lease still holds"
            await asyncio.sleep(2)
        assert time.monotonic() - killed_at < 60
        # While it waited, it said who holds the lease and until when.
        assert "lease held by" in waited_message and " until " in waited_message
        assert "deleted and verified gone:    12 recordings" in out.decode()
        assert all(emulator.recording_state(rid) is None for rid in due)
        assert not any((emulator.root / "recording" / "raw" / rid).exists() for rid in due)
    finally:
        await emulator.stop()


async def test_g16_the_heartbeat_keeps_a_live_sweepers_short_lease(tmp_path: Path,
                                                                   redis_url: str) -> None:
    """A sweep that runs longer than the lease keeps it (renewed by the heartbeat), and
    no other replica sweeps meanwhile."""
    from gateway.retention.sweeper import Sweeper
    from gateway.store.redis_store import RedisStore
    from tests.retention.fakes import FakeSource, recording, rig

    class Slow(FakeSource):
        async def delete(self, row):  # type: ignore[no-untyped-def]
            await asyncio.sleep(1.5)  # longer than the 0.6 s lease
            return await super().delete(row)

    store = RedisStore.from_url(redis_url)
    slow = Slow([recording("s1", created=time.time() - 30 * DAY)])
    first = rig(tmp_path, store, sources=[slow])
    sweeper = Sweeper(policy=first.sweeper.policy, store=store, sources=[slow],
                      clock=first.clock, metrics=first.metrics, audit=first.sweeper.audit,
                      lease_ttl=0.6)
    running = asyncio.create_task(sweeper.sweep_if_leader())
    await asyncio.sleep(1.0)  # the lease would have expired without a heartbeat
    other = rig(tmp_path, store)
    assert await other.sweeper.sweep_if_leader() is None
    result = await running
    assert result is not None and not result.lost_lease and result.deleted == 1
    await store.close()
