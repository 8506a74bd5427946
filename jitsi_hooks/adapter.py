"""The Jitsi Meet adapter as the core sees it (gateway.adapter.Adapter).

Web side: tokens, the meeting page, Prosody's hooks, playback (jitsi_hooks.app).
Retention: the Jibri recordings directory when `retention.jibri_recordings_dir`
is set (jitsi_hooks.jibri_source). Command line: `jibri-finalize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiohttp

from gateway.adapter import Adapter
from gateway.config.loading import Settings
from gateway.retention.model import RecordingSource
from gateway.store.base import Store
from jitsi_hooks import admission, entry, finalize, texts
from jitsi_hooks import app as jitsi_app
from jitsi_hooks.jibri_source import JibriSource


def _sources(settings: Settings, http: aiohttp.ClientSession,
             store: Store) -> Sequence[RecordingSource]:
    directory = settings.policy.retention.jibri_recordings_dir
    return [JibriSource(Path(directory))] if directory else []


ADAPTER = Adapter(name="jitsi", enabled=lambda settings: settings.policy.jitsi.enabled,
                  setup=jitsi_app.setup, template_dir=Path(__file__).parent / "templates",
                  messages=(texts.MESSAGES, admission.MESSAGES, entry.MESSAGES),
                  recording_sources=_sources, add_commands=finalize.add_commands)
