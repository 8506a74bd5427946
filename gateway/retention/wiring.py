"""Wiring for retention (G16) and objections (G12): sources, sweeper, pages.

`setup(app)` is always on: every replica runs the sweeper loop, and the store
lock makes only one of them sweep at a time. Sources: each enabled BBB server
(getRecordings / deleteRecordings / the purge agent) and the Jibri recordings
directory when `retention.jibri_recordings_dir` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.metrics import Metrics
from gateway.policy.retention import combined_purpose, private_purposes
from gateway.pseudonym import Pseudonymiser
from gateway.retention import objections_web
from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import RecordingSource, Sweeper, running
from gateway.store.base import Store
from gateway.web import keys
from jitsi_hooks.jibri_source import JibriSource


def build_sources(settings: Settings, http: aiohttp.ClientSession,
                  store: Store) -> list[RecordingSource]:
    policy = settings.policy
    sources: list[RecordingSource] = []
    if policy.bbb.enabled:
        from bbb_hooks.meetings import recording_purposes
        from bbb_hooks.recordings import BBBSource
        from bbb_hooks.servers import Server

        async def declared_purpose(internal_meeting_id: str) -> str | None:
            return combined_purpose(policy, await recording_purposes(store,
                                                                     internal_meeting_id))

        private = private_purposes(policy)  # G14: the rule the proxy applies too
        for i, server in enumerate(policy.bbb.servers):
            sources.append(BBBSource(
                Server(name=server.name, url=server.url,
                       secret=settings.secrets.get(f"bbb.servers[{i}].secret"),
                       algorithm=server.checksum_algorithm),
                http, policy.retention.bbb_purge_command, private_purposes=private,
                declared_purpose=declared_purpose))
    if policy.retention.jibri_recordings_dir:
        sources.append(JibriSource(Path(policy.retention.jibri_recordings_dir)))
    return sources


def build_sweeper(settings: Settings, *, store: Store, sources: list[RecordingSource],
                  clock: Clock, metrics: Metrics, audit: AuditLog,
                  pseudonyms: Pseudonymiser) -> Sweeper:
    return Sweeper(policy=settings.policy, store=store, sources=sources, clock=clock,
                   metrics=metrics, audit=audit,
                   tag=pseudonyms.meeting)


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    sweeper = build_sweeper(settings, store=app[keys.STORE],
                            sources=build_sources(settings, app[keys.HTTP], app[keys.STORE]),
                            clock=app[keys.CLOCK], metrics=app[keys.METRICS],
                            audit=app[keys.AUDIT], pseudonyms=app[keys.PSEUDONYMS])
    state = app[keys.ADAPTERS]["retention"]
    state["sweeper"] = sweeper
    state["objections"] = ObjectionDesk(
        store=app[keys.STORE], sweeper=sweeper, audit=app[keys.AUDIT], clock=app[keys.CLOCK],
        metrics=app[keys.METRICS],
        retention_days=settings.policy.retention.audit_retention_days,
        tag=sweeper.tag)
    try:
        if not state.get("background", True):
            yield
            return
        async with running(sweeper):
            yield
    finally:
        await state["objections"].close()  # an upheld objection's deletion in flight


def setup(app: web.Application, *, background: bool = True) -> None:
    """Routes and the sweeper task; `background=False` leaves sweeping to the caller."""
    app[keys.ADAPTERS]["retention"] = {"background": background}

    async def journal_ready() -> bool:
        journal = app[keys.AUDIT].journal
        return journal is None or await asyncio.to_thread(journal.writable)

    app[keys.READINESS]["audit_journal"] = journal_ready
    app.cleanup_ctx.append(_retention_ctx)
    objections_web.add_routes(app)
