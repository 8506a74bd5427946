"""Background work (OIDC discovery, sweeper, BBB guard) shares one start/stop/health
base (gateway.background): a task that dies turns /readyz red instead of leaving
recordings undeleted or unguarded behind green checks (G10, G16)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.background import BackgroundTasks
from gateway.web import keys
from privacy_gateway import create_app
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
