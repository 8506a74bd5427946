"""How a platform adapter plugs into the core: one small, typed description.

The core (gateway/) never names a platform. The entry point (privacy_gateway)
lists the adapters and hands them to `create_app` and to the command line;
tests/test_architecture.py keeps it that way. A new platform is a new package
that provides one `Adapter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.config.loading import Settings
from gateway.retention.model import RecordingSource
from gateway.store.base import Store

# A message catalog: key -> {"nl": ..., "en": ...} (gateway.web.i18n).
Catalog = Mapping[str, Mapping[str, str]]
SourceFactory = Callable[[Settings, aiohttp.ClientSession, Store], Sequence[RecordingSource]]


def _no_sources(settings: Settings, http: aiohttp.ClientSession,
                store: Store) -> Sequence[RecordingSource]:
    return ()


def _no_commands(subparsers: Any) -> None:
    return None


@dataclass(frozen=True)
class Adapter:
    """One platform: what it adds to the web app, the command line and retention."""

    name: str
    # Whether this policy turns the web side on (routes, background services).
    enabled: Callable[[Settings], bool]
    # Adds routes, typed AppKeys, error renderers, readiness checks, background services.
    setup: Callable[[web.Application], None]
    # Its page templates, on the loader whether or not it is enabled (shared error pages).
    template_dir: Path | None = None
    # The recordings it holds, for the sweeper (G16); asked even when `enabled` is false:
    # a platform's recordings outlive its switch.
    recording_sources: SourceFactory = _no_sources
    # The texts its pages use (gateway.web.i18n), loaded by the app factory.
    messages: tuple[Catalog, ...] = ()
    # Its own sub-commands of `privacy-gateway`.
    add_commands: Callable[[Any], None] = _no_commands


def recording_sources(adapters: Sequence[Adapter], settings: Settings,
                      http: aiohttp.ClientSession, store: Store) -> list[RecordingSource]:
    return [source for adapter in adapters
            for source in adapter.recording_sources(settings, http, store)]
