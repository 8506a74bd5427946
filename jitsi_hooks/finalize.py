"""`privacy-gateway jibri-finalize DIR`: Jibri's finalize-script (G16, G17, minimisation).

Jibri runs `[finalize-script, <session directory>]` after writing
`metadata.json` (reference/jitsi.md §5). This command:
1. reads `metadata.json` (`meeting_url` names the room);
2. writes the sidecar `privacy-gateway.json` beside the recording with the
   meeting, purpose and retain-until (gateway.store.registry.write_sidecar): the due
   date travels with the recording and survives a lost store;
3. removes the participant identity list from `metadata.json` unless
   `jitsi.keep_recording_participants` (it names everyone present);
4. registers the recording in the store's registry exactly as a sweep does
   (gateway.store.registry.register_recording), audit entry included.

Any problem: a clear message on stderr, a non-zero exit, and the recording
and its metadata left exactly as they were (checks run before any write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.audit.log import audit_log
from gateway.clock import Clock, SystemClock
from gateway.config.loading import Settings, load_settings
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.model import ConfigError
from gateway.policy.retention import DeclaredRecording, plan_registration
from gateway.pseudonym import Pseudonymiser
from gateway.store.base import Store
from gateway.store.registry import (
    JIBRI_SESSION_RE,
    SIDECAR_NAME,
    Registry,
    register_recording,
    row_key,
    write_json_atomic,
    write_sidecar,
)
from gateway.web.errors import BadRequest
from jitsi_hooks.rooms import RoomStore, normalise_room

METADATA = "metadata.json"
MAX_METADATA_BYTES = 4 * 1024 * 1024
EXIT_BAD_INPUT = 3
EXIT_STORE = 4


class FinalizeError(Exception):
    """A reason not to touch this recording; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class SessionDir:
    path: Path
    metadata: dict[str, Any]
    room: str
    created: float


def _media_files(path: Path) -> list[Path]:
    return [p for p in path.iterdir()
            if p.is_file() and not p.is_symlink() and p.name not in (METADATA, SIDECAR_NAME)
            and not p.name.startswith(".")]


def inspect(directory: str) -> SessionDir:
    """Everything checked before anything is written."""
    path = Path(directory)
    if path.is_symlink() or not path.is_dir():
        raise FinalizeError(f"{directory}: not a Jibri session directory")
    if not JIBRI_SESSION_RE.fullmatch(path.name):
        raise FinalizeError(f"{directory}: unexpected directory name (Jibri sanitises it)")
    meta_path = path / METADATA
    if meta_path.is_symlink() or not meta_path.is_file():
        raise FinalizeError(f"{meta_path}: missing (Jibri writes it before finalize)")
    if meta_path.stat().st_size > MAX_METADATA_BYTES:
        raise FinalizeError(f"{meta_path}: larger than {MAX_METADATA_BYTES} bytes")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FinalizeError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise FinalizeError(f"{meta_path}: not a JSON object")
    url = metadata.get("meeting_url")
    if not isinstance(url, str) or not url:
        raise FinalizeError(f"{meta_path}: no meeting_url")
    try:
        room = normalise_room(urlsplit(url).path.strip("/"))  # exactly one segment: no tenants
    except BadRequest:
        raise FinalizeError(f"{meta_path}: meeting_url does not name a valid room") from None
    media = _media_files(path)
    if not media:
        raise FinalizeError(f"{directory}: no recording file found")
    return SessionDir(path, metadata, room, min(p.stat().st_mtime for p in media))


async def finalize(settings: Settings, store: Store, session: SessionDir, clock: Clock,
                   tag: Callable[[str], str] | None = None) -> DeclaredRecording:
    """Sidecar, minimised metadata, then the registry entry the sweep would write."""
    policy = settings.policy
    rooms = RoomStore(store)
    room_settings = await rooms.settings(session.room)
    meeting_type = jitsi_policy.meeting_type_of_room(policy, session.room,
                                                     room_settings.created_as)
    # What the guard announced: the running recording's purpose, else as guard.resolve_purpose.
    purpose = ((await rooms.recording(session.room)).purpose or room_settings.purpose
               or policy.meeting_types[meeting_type].default_purpose)
    declared = DeclaredRecording(platform="jitsi", recording_id=session.path.name,
                                 meeting_ref=session.room, meeting_type=meeting_type,
                                 purpose=purpose, created=session.created)
    registry = Registry(store)
    existing = await registry.get(row_key("jitsi", session.path.name))
    decision = plan_registration(policy, existing, declared, clock.time()).decision
    write_sidecar(session.path, meeting_ref=session.room, meeting_type=meeting_type,
                  purpose=decision.purpose, created=decision.created,
                  retain_until=decision.retain_until,
                  policy_version=policy.gateway.policy_version)  # G16: travels with it
    if not policy.jitsi.keep_recording_participants and "participants" in session.metadata:
        minimised = {k: v for k, v in session.metadata.items() if k != "participants"}
        write_json_atomic(session.path / METADATA, minimised)
    declared = replace(declared, purpose=decision.purpose, retain_until=decision.retain_until)
    audit = audit_log(settings, store, clock)
    registration = await register_recording(registry, policy, declared, clock.time(), audit,
                                            tag or meeting_tag(settings))
    if registration.row.holds:  # an open objection of the room holds it (G12): on disk too
        write_sidecar(session.path, meeting_ref=session.room, meeting_type=meeting_type,
                      purpose=decision.purpose, created=decision.created,
                      retain_until=decision.retain_until,
                      policy_version=policy.gateway.policy_version,
                      holds=registration.row.holds)
    return declared


def meeting_tag(settings: Settings) -> Callable[[str], str]:
    """The keyed pseudonym the sweeper uses for meetings in the audit (G20)."""
    pseudonyms = Pseudonymiser(settings.secrets.get("gateway.pseudonym_key"))
    return pseudonyms.meeting


async def _run(settings: Settings, session: SessionDir) -> DeclaredRecording:
    from gateway.web.app import make_store

    clock = SystemClock()
    store = make_store(settings, clock)
    try:
        return await finalize(settings, store, session, clock)
    finally:
        await store.close()


def _command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        session = inspect(args.directory)
    except (ConfigError, FinalizeError, OSError) as exc:
        print(f"privacy-gateway jibri-finalize: {exc}; the recording was not changed",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = asyncio.run(_run(settings, session))
    except OSError as exc:
        print(f"privacy-gateway jibri-finalize: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # the store: the sidecar written already carries the due date
        print(f"privacy-gateway jibri-finalize: could not register in the store "
              f"({type(exc).__name__}); the sidecar keeps the due date and the next "
              "retention sweep registers it", file=sys.stderr)
        return EXIT_STORE
    # Jibri logs this line: the room only as the audit's keyed tag (G20).
    print(f"registered {session.path.name}: meeting {meeting_tag(settings)(session.room)}, "
          f"purpose {result.purpose}, retain until {int(result.retain_until or 0)}")
    return 0


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "jibri-finalize", help="Jibri finalize-script: sidecar, minimised metadata, registry")
    parser.add_argument("directory", help="the Jibri session directory")
    parser.add_argument("--config", default=os.environ.get("PRIVACY_GATEWAY_CONFIG",
                                                           "config/example.toml"))
    parser.set_defaults(func=_command)
