"""Retention commands: `sweep [--dry-run]`, `audit export`, `bbb-purge RECORDING_ID`,
`hold add|release RECORDING_KEY --reason REF` (a legal hold, G16)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from gateway.clock import SystemClock

DEFAULT_CONFIG = "config/example.toml"
PROGRESS_EVERY = 1000


def add_commands(sub: Any) -> None:
    p = sub.add_parser("sweep", help="delete recordings that are due (G16)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be deleted and when; change nothing")
    p.add_argument("--within-days", type=float, default=7.0,
                   help="with --dry-run: also list recordings due within this many days")
    p.set_defaults(func=_sweep)
    p = sub.add_parser("audit", help="the audit log (G20: pseudonymous entries only)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    e = audit_sub.add_parser("export", help="write every audit entry as JSON lines")
    e.add_argument("--config", default=DEFAULT_CONFIG)
    e.add_argument("--output", help="file to write (default: standard output)")
    e.set_defaults(func=_audit_export)
    p = sub.add_parser("hold", help="a legal hold: keep a recording past its due date")
    p.add_argument("action", choices=("add", "release"))
    p.add_argument("recording_key", help="<platform>:<recording id>, as in the dry run")
    p.add_argument("--reason", required=True,
                   help="the case or file reference (no names: it goes into the audit)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(func=_hold)
    p = sub.add_parser("bbb-purge", help="on a BBB host: remove a deleted recording's files")
    p.add_argument("recording_id")
    p.add_argument("--root", default="/var/bigbluebutton")
    p.add_argument("--media-dir", action="append", default=None,
                   help="also remove <id>* here (default with the system root: FreeSWITCH "
                        "and Kurento/webrtc-recorder media directories)")
    p.set_defaults(func=_bbb_purge)


class Progress:
    """A one-line progress report on stderr for long runs."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr  # looked up now: stderr may have been replaced
        self.count = 0

    def step(self) -> None:
        self.count += 1
        if self.count % PROGRESS_EVERY == 0:
            self.stream.write(f"\r{self.label}: {self.count} recordings")
            self.stream.flush()

    def done(self) -> None:
        self.stream.write(f"\r{self.label}: {self.count} recordings, done\n")
        self.stream.flush()


@contextmanager
def _settings(path: str) -> Iterator[Any]:
    from gateway.cli import load_or_exit

    yield load_or_exit(path)


def _sweep(args: argparse.Namespace) -> int:
    with _settings(args.config) as settings:
        return asyncio.run(_run_sweep(settings, args.dry_run, args.within_days))


async def _run_sweep(settings: Any, dry_run: bool, within_days: float) -> int:
    from gateway.app import make_store
    from gateway.audit import AuditLog
    from gateway.metrics import Metrics
    from gateway.pseudonym import Pseudonymiser
    from gateway.retention import build_sources, build_sweeper

    clock = SystemClock()
    store = make_store(settings, clock)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        sweeper = build_sweeper(
            settings, store=store, sources=build_sources(settings, http, store), clock=clock,
            metrics=Metrics(), pseudonyms=Pseudonymiser(
                settings.secrets.get("gateway.pseudonym_key")),
            audit=AuditLog(store, clock, settings.policy.retention.audit_retention_days))
        try:
            if dry_run:
                from gateway.retention_dryrun import dry_run as run_dry

                return await run_dry(sweeper, within_days * 86400.0, sys.stdout,
                                     Progress("reading recordings"))
            result = await sweeper.sweep_if_leader()
        finally:
            await store.close()
    if result is None:
        print("privacy-gateway: another replica is sweeping right now", file=sys.stderr)
        return 1
    print(json.dumps({"reconciled": result.reconciled, "deleted": result.deleted,
                      "failed": result.failed, "held": result.held,
                      "source_errors": result.source_errors,
                      "lost_lease": result.lost_lease}))
    return 0 if not (result.failed or result.source_errors or result.lost_lease) else 1


def _audit_export(args: argparse.Namespace) -> int:
    with _settings(args.config) as settings:
        if args.output:
            with Path(args.output).open("w", encoding="utf-8") as out:
                count = asyncio.run(_export(settings, out))
        else:
            count = asyncio.run(_export(settings, sys.stdout))
    print(f"privacy-gateway: {count} audit entries exported", file=sys.stderr)
    return 0


async def _export(settings: Any, out: TextIO) -> int:
    from gateway.app import make_store
    from gateway.audit import AuditLog

    clock = SystemClock()
    store = make_store(settings, clock)
    audit = AuditLog(store, clock, settings.policy.retention.audit_retention_days)
    count = 0
    try:
        async for entry in audit.entries():
            out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    finally:
        await store.close()
    return count


# A file reference: the same shape the approvals register accepts (no free text).
HOLD_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{1,99}$")


def _hold(args: argparse.Namespace) -> int:
    if not HOLD_REFERENCE_RE.fullmatch(args.reason):
        print("privacy-gateway hold: --reason must be a file reference "
              "(letters, digits, . _ / -; at most 100)", file=sys.stderr)
        return 2
    with _settings(args.config) as settings:
        return asyncio.run(_change_hold(settings, args.action, args.recording_key, args.reason))


async def _change_hold(settings: Any, action: str, key: str, reference: str) -> int:
    """Place or release `legal:<reference>` on one recording; audited either way."""
    from gateway.app import make_store
    from gateway.audit import AuditLog
    from gateway.registry import Registry
    from gateway.retention_policy import HOLD_LEGAL, hold_name

    clock = SystemClock()
    store = make_store(settings, clock)
    hold = hold_name(HOLD_LEGAL, reference)
    try:
        registry = Registry(store)
        if action == "add":
            row = await registry.add_hold(key, hold)
        else:
            row = await registry.get(key)
            row = await registry.release_hold(key, hold) if row and hold in row.holds else None
        if row is None:
            print(f"privacy-gateway hold: {key} is not registered"
                  + (" or does not have that hold" if action == "release" else ""),
                  file=sys.stderr)
            return 1
        audit = AuditLog(store, clock, settings.policy.retention.audit_retention_days)
        await audit.record("hold_placed" if action == "add" else "hold_released",
                           row.platform, recording=row.key, hold=hold, by="cli")
    finally:
        await store.close()
    print(f"{row.key}: holds {', '.join(sorted(row.holds)) or 'none'}")
    return 0


def _bbb_purge(args: argparse.Namespace) -> int:
    from bbb_hooks.purge import main as purge_main

    argv = [args.recording_id, "--root", args.root]
    for directory in args.media_dir or ():
        argv += ["--media-dir", directory]
    return purge_main(argv)
