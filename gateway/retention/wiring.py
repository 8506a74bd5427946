"""Wiring for retention (G16) and objections (G12): sources, sweeper, pages.

`setup(app)` is always on: every replica runs the sweeper loop, and the store
lock makes only one of them sweep at a time. Sources: whatever the platform
adapters offer (gateway.adapter.Adapter.recording_sources).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.adapter import Adapter, recording_sources
from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.metrics import Metrics
from gateway.pseudonym import Pseudonymiser
from gateway.retention import keys as retention_keys
from gateway.retention import objections_web
from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import RecordingSource, Sweeper
from gateway.store.base import Store
from gateway.web import keys


def build_sweeper(settings: Settings, *, store: Store, sources: list[RecordingSource],
                  clock: Clock, metrics: Metrics, audit: AuditLog,
                  pseudonyms: Pseudonymiser) -> Sweeper:
    return Sweeper(policy=settings.policy, store=store, sources=sources, clock=clock,
                   metrics=metrics, audit=audit,
                   tag=pseudonyms.meeting)


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    platforms: tuple[Adapter, ...] = app[keys.PLATFORMS]
    sweeper = build_sweeper(settings, store=app[keys.STORE],
                            sources=recording_sources(platforms, settings,
                                                      app[keys.HTTP], app[keys.STORE]),
                            clock=app[keys.CLOCK], metrics=app[keys.METRICS],
                            audit=app[keys.AUDIT], pseudonyms=app[keys.PSEUDONYMS])
    app[retention_keys.SWEEPER] = sweeper
    app[retention_keys.OBJECTIONS] = desk = ObjectionDesk(
        store=app[keys.STORE], sweeper=sweeper, audit=app[keys.AUDIT], clock=app[keys.CLOCK],
        metrics=app[keys.METRICS],
        retention_days=settings.policy.retention.audit_retention_days,
        tag=sweeper.tag)
    try:
        if not app[retention_keys.BACKGROUND]:
            yield
            return
        async with app[keys.BACKGROUND].running("retention-sweeper", sweeper.run_forever()):
            yield
    finally:
        await desk.close()  # an upheld objection's deletion in flight


def setup(app: web.Application, *, background: bool = True) -> None:
    """Routes and the sweeper task; `background=False` leaves sweeping to the caller."""
    app[retention_keys.BACKGROUND] = background

    async def journal_ready() -> bool:
        journal = app[keys.AUDIT].journal
        return journal is None or await asyncio.to_thread(journal.writable)

    app[keys.READINESS]["audit_journal"] = journal_ready
    app.cleanup_ctx.append(_retention_ctx)
    objections_web.add_routes(app)
