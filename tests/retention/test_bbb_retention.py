"""The BBB side of retention against fakes of old or slow servers and the emulator."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bbb_hooks.recordings import BBBRecordings, BBBSource, run_purge
from bbb_hooks.servers import Server
from gateway.policy.retention import DAY
from gateway.retention.dryrun import dry_run
from gateway.retention.objections import ObjectionDesk
from gateway.retention.output import summary
from gateway.retention.sweeper import DeletionFailed
from tests.retention.harness import bench

RIDS = [f"{i:040x}-1700000000000" for i in range(5)]


def recordings_xml(rids: list[str]) -> str:
    items = "".join(f"<recording><recordID>{rid}</recordID>"
                    f"<internalMeetingID>{rid}</internalMeetingID>"
                    "<startTime>1700000000000</startTime><published>true</published>"
                    "<metadata/></recording>" for rid in rids)
    return (f"<response><returncode>SUCCESS</returncode><recordings>{items}</recordings>"
            "</response>")


async def old_bbb(rids: list[str], delay: float = 0.0) -> TestServer:
    """A BBB before 2.6: offset and limit are ignored, every call lists everything."""

    async def api(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(text=recordings_xml(rids), content_type="text/xml")

    app = web.Application()
    app.router.add_get("/bigbluebutton/api/{call}", api)
    server = TestServer(app)
    await server.start_server()
    return server


async def _pages(server: TestServer, page_size: int, http: aiohttp.ClientSession
                 ) -> list[list[str]]:
    api = BBBRecordings(Server(name="old", url=str(server.make_url("/bigbluebutton")),
                               secret=b"s" * 32, algorithm="sha256"), http)
    seen: list[list[str]] = []
    async for page in api.pages(page_size):
        seen.append([node.findtext("recordID") or "" for node in page])
        assert len(seen) < 10, "the listing loops"
    return seen


@pytest.mark.parametrize(("count", "page_size"), [(3, 3), (5, 3), (2, 3)],
                         ids=["exactly_one_page", "more_than_a_page", "less_than_a_page"])
async def test_g16_listing_an_old_bbb_that_ignores_offset_ends(count: int,
                                                               page_size: int) -> None:
    server = await old_bbb(RIDS[:count])
    try:
        async with aiohttp.ClientSession() as http:
            pages = await asyncio.wait_for(_pages(server, page_size, http), 10)
    finally:
        await server.close()
    assert [rid for page in pages for rid in page] == RIDS[:count]  # each once


@pytest.fixture
async def slow_bbb() -> AsyncIterator[TestServer]:
    server = await old_bbb(RIDS[:1], delay=5.0)
    yield server
    await server.close()


async def test_g12_a_slow_bbb_is_a_bounded_failure_not_a_crash(slow_bbb: TestServer) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as http:
        api = BBBRecordings(Server(name="slow", url=str(slow_bbb.make_url("/bigbluebutton")),
                                   secret=b"s" * 32, algorithm="sha256"), http)
        with pytest.raises(DeletionFailed) as failure:
            await api.publish(RIDS[0], False)
    assert failure.value.reason == "bbb_timeout"


async def test_g16_a_cancelled_sweep_leaves_no_purge_agent_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agent = [sys.executable, "-c", "import os, sys, time; "
             f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]
    task = asyncio.create_task(run_purge(agent, timeout=60))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(pid, 9)


async def test_g14_a_rejected_objection_shows_a_lecture_again_but_not_feedback(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        lecture = b.add_bbb("lecture", age_days=1, meeting="meeting-1")
        feedback = b.add_bbb("feedback", age_days=1, meeting="meeting-2")
        sweeper = b.sweeper()
        await sweeper.sweep_if_leader()
        desk = ObjectionDesk(store=b.store, sweeper=sweeper, audit=sweeper.audit,
                             clock=b.clock, metrics=b.metrics, retention_days=365,
                             tag=lambda value: "t")
        for rid in (lecture, feedback):
            row = await sweeper.registry.get(f"bbb:{rid}")
            assert row is not None
            objection = await desk.file(platform="bbb", meeting_ref=row.meeting_ref,
                                        person="p_x", reason="")
            assert b.emulator.recording_state(rid) == "unpublished"
            await desk.decide(objection.objection_id, upheld=False, officer="p_o")
        assert b.emulator.recording_state(lecture) == "published"  # meant to be watched
        assert b.emulator.recording_state(feedback) == "unpublished"  # G14: never shown


async def test_g14_the_dry_run_changes_nothing_on_bbb(tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        feedback = b.add_bbb("feedback", age_days=1)
        assert b.emulator.recording_state(feedback) == "published"

        class Quiet:
            def step(self) -> None: ...
            def done(self) -> None: ...

        assert await dry_run(b.sweeper(), 86400.0, io.StringIO(), Quiet()) == 0
        assert b.emulator.recording_state(feedback) == "published"  # a real sweep unpublishes
        assert b.emulator.calls("publishRecordings") == []


async def test_g16_recordings_with_an_unexpected_id_are_reported_not_skipped_silently(
        tmp_path: Path, redis_url: str) -> None:
    server = await old_bbb([RIDS[0], "not-a-record-id"])
    try:
        async with bench(tmp_path, redis_url) as b:
            source = BBBSource(Server(name="odd", url=str(server.make_url("/bigbluebutton")),
                                      secret=b"s" * 32, algorithm="sha256"), b.http, ["true"])
            result = await b.sweeper(bbb=source).sweep_if_leader()
            assert result is not None and result.reconciled == 1 and result.skipped == 1
            assert "not managed (unexpected id):  1 recording" in summary(result, 60, 1.0)

            class Quiet:
                def step(self) -> None: ...
                def done(self) -> None: ...

            out = io.StringIO()
            await dry_run(b.sweeper(bbb=source), DAY, out, Quiet())
            assert "# bbb:odd: 1 recordings with an unexpected id are not managed" in \
                out.getvalue()
    finally:
        await server.close()
