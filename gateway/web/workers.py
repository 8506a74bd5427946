"""`serve --workers N`: N processes answering on one port (SO_REUSEPORT), one metrics view.

Why processes: one Python process uses one core; a host with several cores runs one
worker per core. Each worker is a whole gateway (its own event loop, Redis pool,
guard and sweeper candidates), so workers behave exactly like replicas: they share
state through Redis only, and the guard and the sweeper elect one leader among all
workers of all hosts. That is why more than one worker needs `store.redis_url`.

Metrics: with PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported,
every worker writes its samples to memory-mapped files there, and `/metrics` (on
whichever worker answers) merges the files of all workers: counters and histograms
are summed, gauges (state of the shared store or of the leader) take the maximum
over live workers (`SharedGauge`). The directory is emptied at start, and a worker's
gauge files are marked dead when it exits.

Shutdown: SIGTERM or SIGINT to the parent is passed to every worker; each stops
accepting, lets requests in flight finish (aiohttp's shutdown_timeout, 10 s), runs
its cleanup (leases released, connections closed) and exits. A worker that dies
on its own is started again.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RESTART_PAUSE = 1.0  # seconds between restarts of a crashing worker


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def metrics_registry(own: Any) -> Any:
    """The registry `/metrics` renders: the merged one when workers share a directory."""
    if not multiprocess_enabled():
        return own
    from prometheus_client import CollectorRegistry, multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


def prepare_metrics_dir() -> Path:
    """Create or empty the shared metrics directory (before any worker starts)."""
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="pgw-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        entry.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


class Supervisor:
    """Fork `count` workers running `serve`, restart the ones that die, stop them all."""

    def __init__(self, count: int, serve: Callable[[], int]) -> None:
        self.count, self.serve = count, serve
        self.children: dict[int, int] = {}  # pid -> worker index
        self.stopping = False

    def run(self) -> int:
        metrics_dir = prepare_metrics_dir()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.count):
            self._spawn(index)
        print(f"privacy-gateway: {self.count} workers, metrics merged in {metrics_dir}",
              file=sys.stderr)
        status = 0
        while self.children:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid not in self.children:
                continue
            index = self.children.pop(pid)
            self._mark_dead(pid)
            if not self.stopping:
                print(f"privacy-gateway: worker {index} exited ({code}); starting it again",
                      file=sys.stderr)
                time.sleep(RESTART_PAUSE)
                self._spawn(index)
            elif os.waitstatus_to_exitcode(code) != 0:
                status = 1
        if not os.environ.get("PGW_KEEP_METRICS_DIR"):
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return status

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, then serve until told to stop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            from prometheus_client import values

            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call] # the shared directory, set above
            code = 1
            try:
                code = self.serve()
            finally:
                os._exit(code)
        self.children[pid] = index

    def _stop(self, signum: int, _frame: Any) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    @staticmethod
    def _mark_dead(pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def shared_gauge_class() -> Any:
    """Gauge whose multiprocess value is the maximum over live workers: every gauge of
    the gateway describes the shared store or the leader, never one worker."""
    from prometheus_client import Gauge

    class SharedGauge(Gauge):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("multiprocess_mode", "livemax")
            super().__init__(*args, **kwargs)

    return SharedGauge
