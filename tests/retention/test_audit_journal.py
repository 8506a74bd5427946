"""The durable audit journal (G20, G22): hash-chained JSON lines that survive Redis.

`audit export` reads the journal, not the store, verifies the chain and says
where it breaks; files rotate by month and go after `audit_retention_days`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as redis_async

from gateway.audit.journal import AuditJournal
from gateway.audit.log import audit_log
from gateway.clock import ManualClock
from gateway.config.loading import load_settings
from gateway.store.redis_store import RedisStore
from privacy_gateway import main
from tests.retention.test_cli import policy_file


def ts(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, 12, tzinfo=UTC).timestamp()


async def test_g22_audit_export_reads_the_journal_after_redis_is_lost(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = policy_file(tmp_path, tmp_path / "jibri", redis_url)
    store = RedisStore.from_url(redis_url)
    audit = audit_log(load_settings(config), store, ManualClock(ts(2026, 11, 2)))
    for i in range(30):
        await audit.record("recording_deleted", "bbb", recording=f"bbb:r{i}", reason="retention")
    client = redis_async.Redis.from_url(redis_url)
    await client.flushall()  # the stream is gone
    await client.aclose()
    await store.close()
    output = tmp_path / "export.jsonl"
    argv = ["audit", "export", "--config", config, "--output", str(output)]
    assert await asyncio.to_thread(main, argv) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["recording"] for line in lines] == [f"bbb:r{i}" for i in range(30)]
    assert "hash chain verified" in capsys.readouterr().err
    # The journal sits beside the policy file (retention.audit_dir = "audit-log").
    journal = tmp_path / "audit-log"
    files = list(journal.glob("*/2026-11-02.jsonl"))
    assert len(files) == 1
    # A changed entry breaks the chain, and the export says where.
    rows = files[0].read_text().splitlines()
    tampered = json.loads(rows[10])
    tampered["data"]["recording"] = "bbb:other"
    rows[10] = json.dumps(tampered)
    files[0].write_text("\n".join(rows) + "\n")
    assert await asyncio.to_thread(main, argv) == 1
    assert f"the hash chain breaks at {files[0]}:11" in capsys.readouterr().err
    # A removed entry too.
    del rows[10]
    files[0].write_text("\n".join(rows) + "\n")
    assert await asyncio.to_thread(main, argv) == 1
    assert f"breaks at {files[0]}:11" in capsys.readouterr().err


def test_g22_journal_rotates_daily_and_drops_days_past_the_retention(
        tmp_path: Path) -> None:
    journal = AuditJournal(tmp_path, retention_days=30, writer="gw-1")
    days = [(1, 10), (2, 7), (2, 9), (3, 10)]
    for n, (month, day) in enumerate(days):
        journal.append(int(ts(2026, month, day) * 1000), "hold_placed", "bbb", {"n": n})
        journal.append(int(ts(2026, month, day) * 1000) + 1, "hold_placed", "bbb", {"n": n})
    names = sorted(p.name for p in (tmp_path / "gw-1").glob("*.jsonl"))
    # Starting 10 March (noon): 10 January and 7 February ended more than 30 days before.
    assert names == ["2026-02-09.jsonl", "2026-03-10.jsonl"]
    checked = journal.verify_all()
    assert checked.broken == []  # the oldest kept file anchors the chain
    assert [e["data"]["n"] for e in checked.entries] == [2, 2, 3, 3]


def test_g22_each_replica_writes_its_own_chain_and_export_merges_them(tmp_path: Path) -> None:
    first = AuditJournal(tmp_path, 365, writer="gw-1")
    second = AuditJournal(tmp_path, 365, writer="gw-2")
    base = int(ts(2026, 5, 1) * 1000)
    for i in range(5):
        first.append(base + 2 * i, "recording_deleted", "bbb", {"i": 2 * i})
        second.append(base + 2 * i + 1, "recording_deleted", "jitsi", {"i": 2 * i + 1})
    checked = AuditJournal(tmp_path, 365).verify_all()
    assert checked.broken == [] and checked.files == 2
    assert [e["data"]["i"] for e in checked.entries] == list(range(10))
    assert {e["writer"] for e in checked.entries} == {"gw-1", "gw-2"}


async def test_g22_the_gateway_is_not_ready_while_its_audit_journal_cannot_be_written(
        tmp_path: Path) -> None:
    from tests.gateway_fixtures import browser, start_gateway
    from tests.support import demo_settings, free_port

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    port = free_port()
    settings = demo_settings(tmp_path, port, {"retention": {"audit_dir": str(blocker / "x")}})
    async with start_gateway(settings, port), browser() as session:
        async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["audit_journal"] is False
    settings = demo_settings(tmp_path, port, {"retention": {"audit_dir": "journal"}})
    async with start_gateway(settings, port), browser() as session:
        async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert (await resp.json())["checks"]["audit_journal"] is True
    assert (tmp_path / "journal").is_dir()  # beside the policy file


async def test_g22_lines_cut_off_the_end_are_found_by_counting_not_by_the_chain(
        tmp_path: Path, redis_url: str) -> None:
    """As README.md says: what is left after cutting the newest lines is still a valid
    chain; the Redis stream's length (or the backup) is the check that shows it."""
    config = policy_file(tmp_path, tmp_path / "jibri", redis_url)
    store = RedisStore.from_url(redis_url)
    audit = audit_log(load_settings(config), store, ManualClock(ts(2026, 11, 2)))
    for i in range(5):
        await audit.record("recording_deleted", "bbb", recording=f"bbb:r{i}", reason="retention")
    (newest,) = list((tmp_path / "audit-log").glob("*/2026-11-02.jsonl"))
    newest.write_text("".join(newest.read_text().splitlines(keepends=True)[:3]))
    checked = AuditJournal(tmp_path / "audit-log", 365).verify_all()
    assert checked.broken == [] and len(checked.entries) == 3  # the chain cannot tell
    client = redis_async.Redis.from_url(redis_url)
    assert await client.xlen("pgw:audit") == 5  # the count can
    await client.aclose()
    await store.close()


def test_g12_find_takes_only_an_intact_entry(tmp_path: Path) -> None:
    """A restored objection's filer comes from the journal: never from a changed line."""
    journal = AuditJournal(tmp_path, 365, writer="host-a")
    journal.append(1_700_000_000_000, "objection_filed", "bbb",
                   {"objection": "obj-12345678", "person": "p_pupil", "recordings": 1})
    assert journal.find("objection_filed", objection="obj-12345678") == {
        "objection": "obj-12345678", "person": "p_pupil", "recordings": 1}
    assert journal.find("objection_filed", objection="obj-other000") is None
    (path,) = list(tmp_path.glob("host-a/*.jsonl"))
    path.write_text(path.read_text().replace("p_pupil", "p_other"))
    assert journal.find("objection_filed", objection="obj-12345678") is None
