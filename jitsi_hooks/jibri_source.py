"""The Jitsi side of retention: Jibri recording directories (jitsi.md §5).

Jibri writes one directory per session under `recordings-directory`, then
runs the finalize script with that directory; `jibri-finalize` leaves the
sidecar (gateway.store.registry.write_sidecar) there. Deleting a recording removes
the whole session directory, sidecar included, and checks it is gone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path

from gateway.policy.retention import DeclaredRecording, RegistryRow
from gateway.retention.sweeper import DeletionFailed
from gateway.store.registry import (
    JIBRI_SESSION_RE,
    read_sidecar,
    sidecar_policy_version,
    write_sidecar,
)

_BATCH = 200


class JibriSource:
    """Recordings in a Jibri recordings directory (mounted on the gateway)."""

    platform = "jitsi"
    name = "jitsi"

    def __init__(self, root: Path) -> None:
        self.root = root

    def owns(self, row: RegistryRow) -> bool:
        return row.platform == "jitsi"

    def _session_dir(self, recording_id: str) -> Path:
        """The session directory: a direct child of the root, by a safe name only."""
        if not JIBRI_SESSION_RE.fullmatch(recording_id) or recording_id in (".", ".."):
            raise DeletionFailed("bad_id")
        return self.root / recording_id

    async def listing(self, *, read_only: bool = False
                      ) -> AsyncGenerator[DeclaredRecording, None]:
        """Every session directory's declared recording (listing never changes them)."""
        names = await asyncio.to_thread(self._session_names)
        for start in range(0, len(names), _BATCH):
            chunk = names[start:start + _BATCH]
            for declared in await asyncio.to_thread(self._read_chunk, chunk):
                yield declared

    def _session_names(self) -> list[str]:
        try:
            with os.scandir(self.root) as entries:
                return sorted(e.name for e in entries
                              if e.is_dir(follow_symlinks=False)
                              and JIBRI_SESSION_RE.fullmatch(e.name))
        except FileNotFoundError:
            return []

    def _read_chunk(self, names: list[str]) -> list[DeclaredRecording]:
        out = []
        for name in names:
            path = self.root / name
            try:
                created: float | None = _oldest_mtime(path)
            except OSError:
                continue  # removed while we looked
            out.append(read_sidecar(path, fallback_created=created))
        return out

    async def delete(self, row: RegistryRow) -> list[str]:
        path = self._session_dir(row.recording_id)
        return await asyncio.to_thread(self._remove, path)

    def _remove(self, path: Path) -> list[str]:
        if path.is_symlink():
            raise DeletionFailed("unsafe_path")  # never follow a link out of the tree
        if not path.exists():
            return []
        try:
            shutil.rmtree(path)
        except OSError:
            raise DeletionFailed("io_error") from None
        return [str(path)]

    async def write_holds(self, row: RegistryRow, holds: frozenset[str]) -> None:
        """The holds into the sidecar, beside the due date (G12, G16)."""
        path = self._session_dir(row.recording_id)
        await asyncio.to_thread(self._write_holds, path, row, holds)

    @staticmethod
    def _write_holds(path: Path, row: RegistryRow, holds: frozenset[str]) -> None:
        if path.is_symlink() or not path.is_dir():
            return  # gone: nothing left to hold
        try:
            write_sidecar(path, meeting_ref=row.meeting_ref, meeting_type=row.meeting_type,
                          purpose=row.purpose, created=row.created,
                          retain_until=row.retain_until,
                          policy_version=sidecar_policy_version(path), holds=holds)
        except OSError:
            raise DeletionFailed("sidecar_not_written") from None

    async def lookup(self, recording_id: str) -> DeclaredRecording | None:
        """One session directory, for `hold add` before a sweep has registered it."""
        if not JIBRI_SESSION_RE.fullmatch(recording_id) or recording_id in (".", ".."):
            return None
        path = self.root / recording_id
        if path.is_symlink() or not path.is_dir():
            return None
        found = await asyncio.to_thread(self._read_chunk, [recording_id])
        return found[0] if found else None

    async def is_gone(self, row: RegistryRow) -> bool:
        path = self._session_dir(row.recording_id)
        return not await asyncio.to_thread(os.path.lexists, path)


def _oldest_mtime(path: Path) -> float:
    """When the recording was made, as far as the files tell (sidecar-less fallback)."""
    oldest = path.stat().st_mtime
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                oldest = min(oldest, entry.stat(follow_symlinks=False).st_mtime)
    return oldest
