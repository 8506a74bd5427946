"""Retention commands: `sweep [--dry-run]`, `audit export`,
`hold add|release RECORDING_KEY --reason REF` (a legal hold, G16)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from gateway.adapter import Adapter, recording_sources
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
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(func=_sweep)
    p = sub.add_parser("audit", help="the audit log (G20: pseudonymous entries only)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    e = audit_sub.add_parser("export", help="verify the journal's hash chain and write "
                                            "every entry as JSON lines")
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
    from gateway.cli.main import load_or_exit

    yield load_or_exit(path)


def shared_store_or_refuse(settings: Any, command: str) -> bool:
    """State-reading commands need the store the server uses: with the embedded
    store that state lives inside the running gateway, and a fresh one would show
    nothing (and take a lease no server sees). True when the command may run."""
    if settings.secrets.has("store.redis_url"):
        return True
    print(f"privacy-gateway {command}: the policy uses the embedded store (no "
          "store.redis_url_env / redis_url_file), whose state lives inside the running "
          "gateway; this command cannot read it. Configure Redis for the gateway and this "
          "command, or use /admin/retention on the gateway.", file=sys.stderr)
    return False


def _sweep(args: argparse.Namespace) -> int:
    from gateway import logs

    # The operator output names each failure with its key and reason; of the service's
    # own log lines only errors are shown here (JSON, allow-listed fields), never
    # Python's bare last-resort lines. An embedding program's logging is left alone.
    if not logging.getLogger().handlers:
        logs.configure("ERROR")
    with _settings(args.config) as settings:
        if not shared_store_or_refuse(settings, "sweep"):
            return 2
        return asyncio.run(_run_sweep(settings, args.dry_run, args.within_days, args.json,
                                      args.adapters))


async def _build(settings: Any, http: aiohttp.ClientSession, clock: SystemClock,
                 adapters: Sequence[Adapter]) -> Any:
    from gateway.audit.log import audit_log
    from gateway.metrics import Metrics
    from gateway.pseudonym import Pseudonymiser
    from gateway.retention.wiring import build_sweeper
    from gateway.web.app import make_store

    store = make_store(settings, clock)
    return build_sweeper(
        settings, store=store, sources=recording_sources(adapters, settings, http, store),
        clock=clock,
        metrics=Metrics(), pseudonyms=Pseudonymiser(
            settings.secrets.get("gateway.pseudonym_key")),
        audit=audit_log(settings, store, clock))


async def _run_sweep(settings: Any, dry_run: bool, within_days: float, as_json: bool,
                     adapters: Sequence[Adapter]) -> int:
    from gateway.retention.output import SweepProgress, summary, when
    from gateway.retention.output import as_json as result_json
    from gateway.retention.sweeper import LOCK_NAME

    clock = SystemClock()
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        sweeper = await _build(settings, http, clock, adapters)
        progress = SweepProgress()
        sweeper.on_progress = progress
        try:
            if dry_run:
                from gateway.retention.dryrun import dry_run as run_dry

                return await run_dry(sweeper, within_days * 86400.0, sys.stdout,
                                     Progress("reading recordings"))
            result = await sweeper.sweep_if_leader()
            info = await sweeper.store.lease_info(LOCK_NAME) if result is None else None
        finally:
            await sweeper.store.close()
    if result is None:
        holder = (f": lease held by {info.holder} until "
                  f"{when(clock.time() + info.expires_in)} (in {info.expires_in:.0f} s)"
                  if info is not None else "")
        print(f"privacy-gateway sweep: another replica is sweeping right now{holder}",
              file=sys.stderr)
        return 1
    progress.done(result)
    grace = settings.policy.retention.failure_grace_seconds
    print(json.dumps(result_json(result)) if as_json
          else summary(result, grace, time.monotonic() - started))
    # Failures within the grace are retried by the next sweep; past it, someone must act.
    return 0 if not (result.alerting or result.source_errors or result.lost_lease) else 1


def _audit_export(args: argparse.Namespace) -> int:
    from gateway.audit.journal import AuditJournal
    from gateway.audit.log import journal_dir

    with _settings(args.config) as settings:
        journal = AuditJournal(journal_dir(settings),
                               settings.policy.retention.audit_retention_days)
        checked = journal.verify_all()
        out = Path(args.output).open("w", encoding="utf-8") if args.output else sys.stdout
        try:
            for entry in checked.entries:
                data = entry["data"] if isinstance(entry.get("data"), dict) else {}
                line = {"id": f"{entry['writer']}:{entry['seq']}", "at_ms": entry["at_ms"],
                        "kind": entry["kind"], "platform": entry["platform"], **data,
                        "hash": entry["hash"]}
                out.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
    print(f"privacy-gateway audit export: {len(checked.entries)} entries from "
          f"{checked.files} files in {journal.directory}", file=sys.stderr)
    for where in checked.broken:
        print(f"privacy-gateway audit export: error: the hash chain breaks at {where} "
              "(an entry was changed, removed or reordered)", file=sys.stderr)
    if not checked.broken:
        print("privacy-gateway audit export: hash chain verified", file=sys.stderr)
    return 1 if checked.broken else 0


# A file reference: the same shape the approvals register accepts (no free text).
HOLD_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{1,99}$")


def _hold(args: argparse.Namespace) -> int:
    if not HOLD_REFERENCE_RE.fullmatch(args.reason):
        print("privacy-gateway hold: --reason must be a file reference "
              "(letters, digits, . _ / -; at most 100)", file=sys.stderr)
        return 2
    with _settings(args.config) as settings:
        if not shared_store_or_refuse(settings, "hold"):
            return 2
        return asyncio.run(_change_hold(settings, args.action, args.recording_key, args.reason,
                                        args.adapters))


async def _change_hold(settings: Any, action: str, key: str, reference: str,
                       adapters: Sequence[Adapter]) -> int:
    """Place or release `legal:<reference>` on one recording, in the store and on the
    recording itself (G12); audited either way."""
    from gateway.policy.retention import HOLD_LEGAL, hold_name

    hold = hold_name(HOLD_LEGAL, reference)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        sweeper = await _build(settings, http, SystemClock(), adapters)
        try:
            if action == "add":
                change = await sweeper.holds.place(key, hold)
            else:
                change = await sweeper.holds.release(key, hold)
            if change is None:
                print(f"privacy-gateway hold: {key}: "
                      + ("no platform has this recording" if action == "add"
                         else "no platform has this recording with that hold"),
                      file=sys.stderr)
                return 1
            await sweeper.audit.record("hold_placed" if action == "add" else "hold_released",
                                       change.row.platform, recording=change.row.key,
                                       hold=hold, by="cli", written=int(change.written))
        finally:
            await sweeper.store.close()
    print(f"{change.row.key}: holds {', '.join(sorted(change.row.holds)) or 'none'}")
    if not change.written:
        print(f"privacy-gateway hold: error: {change.row.key}: not yet written onto the "
              f"recording ({change.reason}); the store holds it and every sweep writes it "
              "again before deleting anything", file=sys.stderr)
        return 1
    return 0
