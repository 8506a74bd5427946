"""Parts of bench/soak.py: options, the report, a replica process, and its metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.redis_procs import RedisProc

KILL_AT = 0.4  # of the run: the guard's leader is SIGKILLed (bench/soak.py)


@dataclass
class Options:
    seconds: float = 60.0
    joins: float = 200.0
    creates: float = 50.0
    events: float = 5000.0
    login_every: int = 50
    sessions: int = 8


@dataclass
class Report:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    guard_latency: list[float] = field(default_factory=list)
    guard_missed: int = 0
    notes: list[str] = field(default_factory=list)  # when each failure happened, and what
    failover: float | None = None
    rss: dict[str, tuple[int, int]] = field(default_factory=dict)  # after warm-up, last
    rss_series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    achieved: dict[str, float] = field(default_factory=dict)
    load: str = ""

    def count(self, kind: str, outcome: str) -> None:
        self.outcomes[(kind, outcome)] += 1

    def failures(self) -> int:
        return sum(n for (_, outcome), n in self.outcomes.items()
                   if outcome not in ("ok", "in_flight_on_killed"))


class Replica:
    def __init__(self, name: str, port: int, config: Path, env: dict[str, str]) -> None:
        self.name, self.port, self.base = name, port, f"http://127.0.0.1:{port}"
        self.alive, self.killed_at = True, 0.0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
             "--port", str(port), "--log-level", os.environ.get("SOAK_LOG_LEVEL", "ERROR")],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log(config.parent / f"{name}.log"))

    @staticmethod
    def _log(path: Path) -> Any:
        target = os.environ.get("SOAK_LOG_DIR")  # keep the replicas' logs for a post-mortem
        return open(Path(target) / path.name, "wb") if target else subprocess.DEVNULL

    def rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def kill(self) -> None:
        self.alive = False  # the load balancer stops sending new requests at once
        self.killed_at = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def metric(base: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=2) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith(name + "{") or line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
    except OSError:
        return None
    return None


async def wait_leader(replica: Replica, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = await asyncio.to_thread(metric, replica.base, "privacy_gateway_guard_connected")
        if value == 1.0:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise RuntimeError(f"replica {replica.name} never led the guard")


class Failed(Exception):
    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(outcome)
        self.outcome, self.detail = outcome, " ".join(detail.split())[:240]


def restart_gracefully(server: RedisProc) -> None:
    server.proc.send_signal(signal.SIGTERM)  # AOF flushed and fsynced on shutdown
    server.proc.wait(timeout=20)
    server.restart()


def print_report(options: Options, report: Report) -> None:
    print(f"soak: {options.seconds:g} s, load average {report.load}")
    print("achieved rates: " + ", ".join(f"{k} {v:.1f}/s" for k, v in report.achieved.items())
          + f" (asked: joins {options.joins:g}, creates {options.creates:g}, "
            f"events {options.events:g})")
    for (kind, outcome), n in sorted(report.outcomes.items()):
        print(f"  {kind:11s} {outcome:20s} {n}")
    lat = sorted(report.guard_latency)
    if lat:
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"guard actions: {len(lat)} on time, {report.guard_missed} missed; latency "
              f"p50 {statistics.median(lat) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {lat[-1] * 1000:.0f} ms")
    else:
        print(f"guard actions: none, {report.guard_missed} missed")
    for note in report.notes:
        print(f"  {note}")
    print(f"leader failover: {report.failover:.2f} s" if report.failover is not None
          else "leader failover: not observed")
    for name, (first, last) in sorted(report.rss.items()):
        print(f"replica {name}: RSS {first / 2**20:.1f} MiB after warm-up, "
              f"{last / 2**20:.1f} MiB at the end ({(last - first) / 2**20:+.1f} MiB)")
        series = report.rss_series.get(name, [])
        marks = [next((rss for t, rss in series if t >= options.seconds * tenth / 10), None)
                 for tenth in range(11)]
        print("  RSS by tenth of the run (MiB): " + " ".join(
            f"{rss / 2**20:.1f}" for rss in marks if rss is not None))
        if report.failover is not None and series:
            # The survivor's steps are its new roles (all the traffic, then the guard's
            # lead); what it does after those settled is what would keep growing.
            settled = options.seconds * KILL_AT + report.failover + 2.0
            after = [rss for t, rss in series if t >= settled]
            if after:
                print(f"  after the failover settled (t={settled:.1f} s): "
                      f"{after[0] / 2**20:.1f} -> {after[-1] / 2**20:.1f} MiB "
                      f"({(after[-1] - after[0]) / 2**20:+.1f} MiB)")
