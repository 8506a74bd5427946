"""The durable half of the audit log (G20, G22): JSON lines on disk, hash-chained.

The Redis stream (gateway.audit.log) is the fast index; this journal is what
survives the loss of Redis. Layout under `retention.audit_dir`:

    <audit_dir>/<writer>/<YYYY-MM-DD>.jsonl

`<writer>` is the host's name: each replica appends to its own chain, and the
server and the CLI on one host share it under an exclusive `flock`. Each line
is one entry:

    {"seq": 12, "at_ms": ..., "kind": ..., "platform": ..., "data": {...},
     "prev": "<hash of the entry before>", "hash": sha256(prev + canonical entry)}

so removing, changing or reordering a line breaks the chain at that point,
which `audit export` reports. Rotation: a new file each day (UTC; its first
entry chains to the last of the previous file); files whose day ended more than
`audit_retention_days` ago are removed when the next file is started, so no
entry outlives the retention by more than a day, and the oldest file kept then
anchors the chain (its first `prev` is taken as given).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
_FILE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.jsonl$")
_WRITER_RE = re.compile(r"[^A-Za-z0-9._-]")
_TAIL_BYTES = 65536


def entry_hash(prev: str, entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()


def default_writer() -> str:
    return _WRITER_RE.sub("_", socket.gethostname())[:64] or "gateway"


def _day(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d")


def _day_end(name: str) -> float:
    match = _FILE_RE.fullmatch(name)
    if match is None:
        return float("inf")
    year, month, day = (int(part) for part in match.groups())
    return datetime(year, month, day, tzinfo=UTC).timestamp() + 86400.0


class AuditJournal:
    """Appends to this writer's chain; `verify_all` reads every writer's."""

    def __init__(self, directory: Path, retention_days: int, writer: str | None = None) -> None:
        self.directory = directory
        self.retention_seconds = retention_days * 86400.0
        self.writer = writer or default_writer()

    @property
    def _own(self) -> Path:
        return self.directory / self.writer

    def writable(self) -> bool:
        """The journal can be written here (readiness: an audit entry must not be lost)."""
        try:
            self._own.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self._own, os.W_OK | os.X_OK)

    def append(self, at_ms: int, kind: str, platform: str, data: dict[str, Any]) -> str:
        """Append one entry under the writer's lock, fsynced; returns `<writer>:<seq>`."""
        self._own.mkdir(parents=True, exist_ok=True)
        with open(self._own / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            files = self._files(self._own)
            last = _last_entry(files[-1]) if files else None
            target = self._own / f"{_day(at_ms)}.jsonl"
            if files and target != files[-1] and target.name < files[-1].name:
                target = files[-1]  # the clock stepped back: stay in the newest file
            if not files or target != files[-1]:
                self._rotate(files, at_ms)
            entry: dict[str, Any] = {
                "seq": (int(last["seq"]) + 1) if last else 1, "at_ms": at_ms, "kind": kind,
                "platform": platform, "data": data,
                "prev": str(last["hash"]) if last else GENESIS}
            entry["hash"] = entry_hash(entry["prev"], entry)
            line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            return f"{self.writer}:{entry['seq']}"

    def _rotate(self, files: list[Path], now_ms: int) -> None:
        """Remove days that ended more than the retention ago (the newest file stays:
        it carries the chain on)."""
        horizon = now_ms / 1000 - self.retention_seconds
        for path in files[:-1]:
            if _day_end(path.name) < horizon:
                path.unlink(missing_ok=True)

    @staticmethod
    def _files(directory: Path) -> list[Path]:
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if _FILE_RE.fullmatch(p.name))

    def writers(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.is_dir())

    def verify_all(self) -> Verification:
        """Every writer's chain, checked; the entries in time order."""
        result = Verification()
        for writer_dir in self.writers():
            result.files += len(self._files(writer_dir))
            result.entries.extend(self._verify_writer(writer_dir, result))
        result.entries.sort(key=lambda e: (int(e["at_ms"]), str(e["writer"]), int(e["seq"])))
        return result

    def _verify_writer(self, writer_dir: Path, result: Verification) -> Iterator[dict[str, Any]]:
        prev: str | None = None  # the oldest kept file anchors the chain
        for path in self._files(writer_dir):
            for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                where = f"{path}:{number}"
                try:
                    entry = json.loads(raw)
                    ok = (isinstance(entry, dict) and (prev is None or entry["prev"] == prev)
                          and entry["hash"] == entry_hash(entry["prev"], entry))
                except (ValueError, KeyError, TypeError):
                    entry, ok = {}, False
                if not ok:
                    result.broken.append(where)
                    prev = entry.get("hash") if isinstance(entry, dict) else None
                    continue
                prev = entry["hash"]
                yield {"writer": writer_dir.name, **entry}


    def find(self, kind: str, **match: str) -> dict[str, Any] | None:
        """The data of the newest entry of `kind` whose data has every `match` value, in
        any writer's files; a line whose own hash does not hold is never taken."""
        needles = [json.dumps(value, ensure_ascii=False) for value in match.values()]
        found: dict[str, Any] | None = None
        for writer_dir in self.writers():
            for path in self._files(writer_dir):
                with contextlib.suppress(OSError):
                    for raw in path.read_text(encoding="utf-8").splitlines():
                        if all(n in raw for n in needles):  # cheap before parsing
                            found = _matching(raw, kind, match) or found
        return found


def _matching(raw: str, kind: str, match: dict[str, str]) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
        data = entry["data"]
        intact = entry["hash"] == entry_hash(entry["prev"], entry)
        if intact and entry["kind"] == kind and all(data.get(k) == v for k, v in match.items()):
            return dict(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


@dataclass
class Verification:
    entries: list[dict[str, Any]] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # "<file>:<line>" where the chain breaks
    files: int = 0


def _last_entry(path: Path) -> dict[str, Any] | None:
    """The last complete line of a file (a torn last write is ignored)."""
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        for raw in reversed(handle.read().splitlines()):
            with contextlib.suppress(ValueError):
                entry = json.loads(raw)
                if isinstance(entry, dict) and "hash" in entry:
                    return entry
    return None
