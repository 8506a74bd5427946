"""The BigBlueButton adapter as the core sees it (gateway.adapter.Adapter).

Web side: the API proxy, join and playback (bbb_hooks.app) and, when
`bbb.redis_url` is configured, the recording guard on BBB's bus
(bbb_hooks.guard_page, G8-G13). Retention: one recording source per BBB server
(getRecordings / deleteRecordings / the purge agent). Command line: `bbb-purge`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bbb_hooks import app as bbb_app
from bbb_hooks import guard_page, join
from bbb_hooks.meetings import recording_purposes
from bbb_hooks.recordings import BBBSource
from bbb_hooks.servers import Server
from gateway.adapter import Adapter
from gateway.config.loading import Settings
from gateway.policy.retention import combined_purpose, private_purposes
from gateway.retention.model import RecordingSource
from gateway.store.base import Store
from gateway.web import keys


def _setup(app: web.Application) -> None:
    bbb_app.setup(app)
    settings = app[keys.SETTINGS]
    if settings.secrets.has("bbb.redis_url"):
        guard_page.setup(app)  # the recording guard (G8-G13) needs BBB's bus


def _sources(settings: Settings, http: aiohttp.ClientSession,
             store: Store) -> Sequence[RecordingSource]:
    policy = settings.policy
    if not policy.bbb.enabled:
        return ()

    async def declared_purpose(internal_meeting_id: str) -> str | None:
        return combined_purpose(policy, await recording_purposes(store, internal_meeting_id))

    private = private_purposes(policy)  # G14: the rule the proxy applies too
    return [BBBSource(Server(name=server.name, url=server.url,
                             secret=settings.secrets.get(f"bbb.servers[{i}].secret"),
                             algorithm=server.checksum_algorithm),
                      http, policy.retention.bbb_purge_command, private_purposes=private,
                      declared_purpose=declared_purpose)
            for i, server in enumerate(policy.bbb.servers)]


def _add_commands(sub: Any) -> None:
    p = sub.add_parser("bbb-purge", help="on a BBB host: remove a deleted recording's files")
    p.add_argument("recording_ids", nargs="+", metavar="recording_id")
    p.add_argument("--root", default="/var/bigbluebutton")
    p.add_argument("--media-dir", action="append", default=None,
                   help="also remove <id>* here (default with the system root: FreeSWITCH "
                        "and Kurento/webrtc-recorder media directories)")
    p.set_defaults(func=_bbb_purge)


def _bbb_purge(args: argparse.Namespace) -> int:
    from bbb_hooks.purge import main as purge_main

    argv = [*args.recording_ids, "--root", args.root]
    for directory in args.media_dir or ():
        argv += ["--media-dir", directory]
    return purge_main(argv)


ADAPTER = Adapter(name="bbb", enabled=lambda settings: settings.policy.bbb.enabled,
                  setup=_setup, template_dir=Path(__file__).parent / "templates",
                  messages=(join.MESSAGES, guard_page.MESSAGES),
                  recording_sources=_sources, add_commands=_add_commands)
