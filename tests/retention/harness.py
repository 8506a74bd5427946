"""A retention test bench: the BBB emulator's /var/bigbluebutton tree, a Jibri
tree, a real Redis store and a sweeper on a manual clock."""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bbb_hooks.recordings import BBBSource
from bbb_hooks.servers import Server
from gateway.audit.journal import AuditJournal
from gateway.audit.log import AuditLog
from gateway.clock import ManualClock
from gateway.demo.bbb_server import BBBEmulator
from gateway.metrics import Metrics
from gateway.policy.model import Policy
from gateway.policy.retention import DAY, RegistryRow
from gateway.retention.sweeper import RecordingSource, Sweeper
from gateway.store.base import Store
from gateway.store.redis_store import RedisStore
from gateway.store.registry import write_sidecar
from jitsi_hooks.jibri_source import JibriSource
from tests.support import make_settings

SERVER = "bbb1"


def purge_command(root: Path) -> list[str]:
    """The agent as the sweeper runs it (lightweight module entry point)."""
    return [sys.executable, "-m", "bbb_hooks.purge", "--root", str(root)]


@dataclass
class Bench:
    policy: Policy
    clock: ManualClock
    store: Store
    emulator: BBBEmulator
    jibri_root: Path
    http: aiohttp.ClientSession
    metrics: Metrics
    audit_dir: Path

    def sources(self, **overrides: RecordingSource) -> list[RecordingSource]:
        server = Server(name=SERVER, url=self.emulator.url,
                        secret=self.emulator.secret.encode(), algorithm="sha256")
        private = frozenset(n for n, p in self.policy.purposes.items() if not p.distribute)
        bbb: RecordingSource = overrides.get("bbb") or BBBSource(
            server, self.http, purge_command(self.emulator.root), page_size=3,
            private_purposes=private)
        jitsi: RecordingSource = overrides.get("jitsi") or JibriSource(self.jibri_root)
        return [bbb, jitsi]

    def sweeper(self, store: Store | None = None, lease_ttl: float | None = None,
                **overrides: RecordingSource) -> Sweeper:
        store = store or self.store
        return Sweeper(policy=self.policy, store=store, sources=self.sources(**overrides),
                       clock=self.clock, metrics=self.metrics,
                       audit=self.audit(store), lease_ttl=lease_ttl)

    def audit(self, store: Store | None = None) -> AuditLog:
        """The audit log with its durable journal on disk, as the gateway writes it."""
        return AuditLog(store or self.store, self.clock, 365, AuditJournal(self.audit_dir, 365))

    def add_bbb(self, purpose: str | None, age_days: float, meeting: str | None = None) -> str:
        meta = {"privacy-meeting-type": "lesson"}
        if purpose is not None:
            meta["privacy-purpose"] = purpose
        start_ms = int((self.clock.time() - age_days * DAY) * 1000)
        return self.emulator.add_recording(meeting or secrets.token_hex(6), meta=meta,
                                           start_ms=start_ms)

    def add_jibri(self, purpose: str | None, age_days: float, sidecar: bool = True,
                  room: str = "wiskunde-3a") -> str:
        session = "session_" + secrets.token_hex(6)
        folder = self.jibri_root / session
        folder.mkdir(parents=True)
        (folder / f"{room}_2026-01-01-10-00-00.mp4").write_bytes(b"\0" * 64)
        (folder / "metadata.json").write_text('{"meeting_url": "https://meet/x"}')
        created = self.clock.time() - age_days * DAY
        if sidecar:
            days = {"lecture": 30, "feedback": 14}.get(purpose or "", 14)
            write_sidecar(folder, meeting_ref=room, meeting_type="lesson", purpose=purpose,
                          created=created, retain_until=created + days * DAY,
                          policy_version="2026.1")
        else:
            import os

            for path in [folder, *folder.iterdir()]:
                os.utime(path, (created, created))
        return session

    def bbb_exists_on_disk(self, rid: str) -> bool:
        root = self.emulator.root
        return any(root.glob(f"*/*/{rid}")) or (root / "recording" / "raw" / rid).exists()

    def jibri_exists(self, session: str) -> bool:
        return (self.jibri_root / session).exists()


def counter(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


@contextlib.asynccontextmanager
async def bench(tmp_path: Path, redis_url: str | None,
                changes: dict[str, Any] | None = None) -> AsyncIterator[Bench]:
    settings = make_settings(tmp_path, {"retention": {"sweep_interval_seconds": 60,
                                                      "failure_grace_seconds": 3600},
                                        **(changes or {})})
    clock = ManualClock(start=time.time())
    from gateway.store.base import MemoryStore

    store: Store = (RedisStore.from_url(redis_url) if redis_url
                    else MemoryStore("pgw", clock))
    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp_path / "var-bigbluebutton")
    await emulator.start()
    jibri_root = tmp_path / "jibri"
    jibri_root.mkdir()
    http = aiohttp.ClientSession()
    try:
        yield Bench(settings.policy, clock, store, emulator, jibri_root, http, Metrics(),
                    tmp_path / "audit-log")
    finally:
        await http.close()
        await emulator.stop()
        await store.close()


def due_rows(rows: list[RegistryRow | None]) -> list[RegistryRow]:
    return [r for r in rows if r is not None]
