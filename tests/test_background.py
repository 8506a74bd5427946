"""Background work (OIDC discovery, sweeper, BBB guard) shares one start/stop/health
base (gateway.background): a task that dies turns /readyz red instead of leaving
recordings undeleted or unguarded behind green checks (G10, G16)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.adapter import Adapter
from gateway.background import BackgroundTasks, Service
from gateway.web import app as web_app
from gateway.web import keys
from privacy_gateway import ADAPTERS, create_app
from tests.support import make_settings


async def _readiness(client: TestClient) -> dict[str, bool]:
    async with client.get("/readyz") as resp:
        checks: dict[str, bool] = (await resp.json())["checks"]
        return checks


async def test_readyz_reports_a_crashed_task(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(tmp_path))
    async with TestClient(TestServer(app)) as client:
        running = app[keys.BACKGROUND]
        # The app's own tasks run: discovery and the sweeper.
        assert {"oidc-discovery", "retention-sweeper"} <= set(running.names())
        assert (await _readiness(client))["background_tasks"] is True

        async def broken() -> None:
            raise RuntimeError("a bug in a loop")

        async with running.running("probe", broken()) as task:
            await asyncio.gather(task, return_exceptions=True)
            assert running.crashed() == ["probe"]
            async with client.get("/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["checks"]["background_tasks"] is False
        assert (await _readiness(client))["background_tasks"] is True  # stopped on purpose
    ended = [r for r in caplog.records if r.getMessage() == "background task ended"]
    assert [(r.task, r.reason) for r in ended] == [("probe", "RuntimeError")]  # type: ignore[attr-defined]


async def test_a_loop_that_returns_counts_as_crashed() -> None:
    tasks = BackgroundTasks()

    async def gave_up() -> None:
        return None

    async with tasks.running("loop", gave_up()) as task:
        await task
        assert not tasks.healthy()
    assert tasks.healthy() and tasks.crashed() == []


async def test_work_that_may_finish_is_not_a_crash_when_it_does() -> None:
    """OIDC discovery ends once every IdP answered; an error is still a crash."""
    tasks = BackgroundTasks()

    async def done() -> None:
        return None

    async def broken() -> None:
        raise OSError("unreachable")

    async with tasks.running("discovery", done(), forever=False) as finished, \
            tasks.running("other", broken(), forever=False) as failed:
        await asyncio.gather(finished, failed, return_exceptions=True)
        assert tasks.crashed() == ["other"]


async def test_stopping_cancels_and_awaits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    tasks = BackgroundTasks()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async with tasks.running("loop", forever()) as task:
        await started.wait()
        assert tasks.healthy()
    assert task.cancelled()
    assert not caplog.records  # a stop on purpose is not a crash


async def test_a_service_is_restarted_and_down_meanwhile(
        caplog: pytest.LogCaptureFixture) -> None:
    """A declared Service (the BBB guard's bus loop and chat worker) fails: reported down
    (crashed, its own report), restarted after its backoff, then up again."""
    tasks = BackgroundTasks()
    runs: list[int] = []
    reports: list[bool] = []
    failing = asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            failing.set()
            raise RuntimeError("a bug")
        await asyncio.Event().wait()

    service = Service("probe", work, report=reports.append, first_backoff=0.3)
    async with tasks.serving([service]):
        await failing.wait()
        await asyncio.sleep(0.05)
        assert tasks.crashed() == ["probe"] and not tasks.healthy("probe")
        assert tasks.healthy("other")
        await asyncio.sleep(0.5)
        assert runs == [0, 1] and tasks.healthy()
    assert reports == [False, True, False]
    failed = [r for r in caplog.records if r.getMessage() == "background service failed"]
    assert [(r.task, r.reason) for r in failed] == [("probe", "RuntimeError")]  # type: ignore[attr-defined]


async def test_the_app_runs_the_services_an_adapter_declares(tmp_path: Path) -> None:
    """Adapter.background: the core starts, watches and stops them without naming them."""
    started = asyncio.Event()

    async def listen() -> None:
        started.set()
        await asyncio.Event().wait()

    probe = Adapter(name="probe", enabled=lambda settings: True, setup=lambda app: None,
                    background=lambda app: [Service("probe-listener", listen)])
    app = web_app.create_app(make_settings(tmp_path), adapters=(*ADAPTERS, probe))
    async with TestClient(TestServer(app)):
        await asyncio.wait_for(started.wait(), 5)
        assert "probe-listener" in app[keys.BACKGROUND].names()
    assert "probe-listener" not in app[keys.BACKGROUND].names()


async def test_stop_ends_a_task_that_swallowed_its_cancellation() -> None:
    # As redis-py's read inside asyncio.timeout can on Python 3.11: the first
    # cancellation comes out as an ordinary error, the service's loop goes back to sleep.
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)

    tasks = BackgroundTasks()
    async with asyncio.timeout(5):  # without re-cancelling, shutdown waits an hour
        async with tasks.running("stubborn", stubborn()) as task:
            await asyncio.sleep(0)
    assert swallowed and task.cancelled()
