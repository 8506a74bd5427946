"""`privacy-gateway bbb-purge`: the agent that really deletes a BBB recording on disk.

BBB's `deleteRecordings` only moves the format directories to
`deleted/<format>/<id>` and leaves the raw data (bbb.md §6). This removes what
`bbb-record --delete <id>` removes under `/var/bigbluebutton`:
- `recording/status/{recorded,archived,sanity,processed,published,ended}/<id>*`
- `{published,unpublished,deleted}/<format>/<id>*`
- `recording/{process,publish}/<format>/<id>*`
- `recording/raw/<id>*`, `screenshare/<id>*`, and `<id>` (presentations)
plus `captions/<id>*` and `events/<id>*` (kept by newer BBB), and `<id>*` in
the media directories outside the tree (FreeSWITCH audio, Kurento / webrtc
recorder video) when given. It then looks again and reports what is left.

Safety: the id must match BBB's record id pattern (`<sha1>-<13 digits>`, as
`bbb-record` itself checks), so it cannot name a path; entries are found by
listing known parent directories, never by joining untrusted text; a matching
symlink is removed itself and never followed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

RECORD_ID_RE = re.compile(r"^[0-9a-f]{40}-[0-9]{13}$")
DEFAULT_ROOT = "/var/bigbluebutton"
DEFAULT_MEDIA_DIRS = ("/var/freeswitch/meetings", "/var/kurento/recordings",
                      "/var/lib/bbb-webrtc-recorder/recordings")
STATUS_STEPS = ("recorded", "archived", "sanity", "processed", "published", "ended")
FORMAT_PARENTS = ("published", "unpublished", "deleted", "recording/process",
                  "recording/publish")
PLAIN_PARENTS = ("recording/raw", "screenshare", "captions", "events")
_FORMAT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PurgeError(Exception):
    """The purge cannot run at all (bad id, no recordings tree)."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    recording_id: str
    removed: tuple[str, ...]
    remaining: tuple[str, ...]

    def as_json(self) -> str:
        return json.dumps({"recording_id": self.recording_id, "removed": list(self.removed),
                           "remaining": list(self.remaining)}, sort_keys=True)


def validate_record_id(recording_id: str) -> str:
    if not RECORD_ID_RE.fullmatch(recording_id):
        raise PurgeError("not a BBB record id (<40 hex>-<13 digits>)")
    return recording_id


def _matches(directory: Path, recording_id: str) -> Iterator[Path]:
    """Entries of `directory` whose name starts with the id (bbb-record's `$ID*`)."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(recording_id):
                    yield directory / entry.name
    except (FileNotFoundError, NotADirectoryError):
        return


def _format_dirs(parent: Path) -> Iterator[Path]:
    try:
        with os.scandir(parent) as entries:
            for entry in entries:
                if _FORMAT_NAME_RE.fullmatch(entry.name) and entry.is_dir():
                    yield parent / entry.name
    except (FileNotFoundError, NotADirectoryError):
        return


def purge_targets(root: Path, recording_id: str,
                  media_dirs: Sequence[Path] = ()) -> list[Path]:
    """Every path on disk that belongs to this recording, found by listing."""
    validate_record_id(recording_id)
    found: list[Path] = []
    for step in STATUS_STEPS:
        found.extend(_matches(root / "recording" / "status" / step, recording_id))
    for parent in FORMAT_PARENTS:
        for format_dir in _format_dirs(root / parent):
            found.extend(_matches(format_dir, recording_id))
    for parent in PLAIN_PARENTS:
        found.extend(_matches(root / parent, recording_id))
    found.extend(p for p in _matches(root, recording_id) if p.name == recording_id)
    for media in media_dirs:
        found.extend(_matches(media, recording_id))
    return found


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)  # a link is removed itself, never followed
    else:
        shutil.rmtree(path)


def purge(root: Path, recording_id: str, media_dirs: Sequence[Path] = ()) -> PurgeReport:
    """Remove the recording's files, then list again: `remaining` must be empty."""
    validate_record_id(recording_id)
    if not root.is_dir():
        raise PurgeError(f"{root} is not a BBB recordings tree")
    # Status files first, as bbb-record does, so processing does not restart meanwhile.
    removed: list[str] = []
    for path in purge_targets(root, recording_id, media_dirs):
        try:
            _remove(path)
            removed.append(str(path))
        except FileNotFoundError:
            continue
        except OSError:
            continue  # reported below as remaining
    remaining = tuple(str(p) for p in purge_targets(root, recording_id, media_dirs))
    return PurgeReport(recording_id, tuple(removed), remaining)


def default_media_dirs(root: str) -> list[Path]:
    """The system media directories, only with the system tree (never in tests)."""
    if root != DEFAULT_ROOT:
        return []
    return [Path(d) for d in DEFAULT_MEDIA_DIRS if Path(d).is_dir()]


def main(argv: Sequence[str] | None = None) -> int:
    """`privacy-gateway bbb-purge ID [ID...] [--root DIR] [--media-dir DIR]...` (also
    `python -m`). Many ids per call: the sweeper batches its deletions.

    Prints one JSON report line per id; exit 0 when nothing is left, 1 when
    something is, 2 when the purge cannot run (a bad id: then nothing is touched,
    or no tree).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="privacy-gateway bbb-purge")
    parser.add_argument("recording_ids", nargs="+", metavar="recording_id")
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--media-dir", action="append", default=None)
    args = parser.parse_args(argv)
    media = ([Path(d) for d in args.media_dir] if args.media_dir is not None
             else default_media_dirs(args.root))
    try:
        for recording_id in args.recording_ids:  # every id checked before anything is removed
            validate_record_id(recording_id)
        reports = [purge(Path(args.root), r, media) for r in dict.fromkeys(args.recording_ids)]
    except PurgeError as exc:
        print(f"privacy-gateway bbb-purge: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print(report.as_json())
    return 0 if not any(report.remaining for report in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
