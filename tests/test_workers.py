"""`privacy-gateway serve --workers 2`: two processes on one port, one merged /metrics,
and a clean stop on SIGTERM (gateway.web.workers)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, demo_settings, free_port

HEALTHZ_COUNT = re.compile(
    r'^privacy_gateway_request_duration_seconds_count\{[^}]*route="/healthz"[^}]*\} (\S+)$',
    re.MULTILINE)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:  # a new connection every call
        body: bytes = answer.read()
        return body


def _policy(tmp_path: Path, port: int, redis: bool) -> Path:
    demo_settings(tmp_path, port)
    path = tmp_path / "policy.toml"
    if redis:  # the URL itself comes from the environment (G19)
        text = path.read_text()
        assert "\n[store]\n" in text
        path.write_text(text.replace(
            "\n[store]\n", '\n[store]\nredis_url_env = "PGW_TEST_REDIS"\n'))
    return path


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PGW_TEST_REDIS": redis_url,
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PGW_KEEP_METRICS_DIR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "2", "--config",
         str(_policy(tmp_path, port, True)), "--port", str(port), "--log-level", "WARNING"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            _get(f"http://127.0.0.1:{port}/healthz")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"workers did not start: {proc.communicate()[1].decode()[-2000:]}")
            time.sleep(0.2)
    try:
        yield proc, port, metrics_dir
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # also closes the stderr pipe


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return {int(p) for p in out.split()}


def test_two_workers_share_the_port_and_merge_metrics(
        workers: tuple[subprocess.Popen[bytes], int, Path]) -> None:
    proc, port, metrics_dir = workers
    children = _children(proc.pid)
    assert len(children) == 2
    # Wait until both workers answer (the second may still be starting).
    deadline = time.monotonic() + 20
    while len({p.name.split("_")[-1] for p in metrics_dir.glob("histogram_*.db")}) < 2:
        _get(f"http://127.0.0.1:{port}/healthz")
        assert time.monotonic() < deadline, "one worker never answered"
    before = _scrape_count(port)
    for _ in range(60):
        _get(f"http://127.0.0.1:{port}/healthz")
    # Whichever worker answers the scrape, it counts the requests of both.
    counts = {_scrape_count(port) for _ in range(10)}
    assert counts == {before + 60}
    served = {int(p.stem.split("_")[-1]) for p in metrics_dir.glob("histogram_*.db")}
    assert served == children, "both workers served requests"
    text = _get(f"http://127.0.0.1:{port}/metrics").decode()
    assert 'pid="' not in text  # gauges are merged (max over live workers), not per pid

    proc.send_signal(signal.SIGTERM)  # graceful: workers drain, clean up and exit
    assert proc.wait(timeout=20) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


def _scrape_count(port: int) -> float:
    text = _get(f"http://127.0.0.1:{port}/metrics").decode()
    found = HEALTHZ_COUNT.findall(text)
    return sum(float(v) for v in found)


def test_workers_need_redis(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "2", "--config",
         str(_policy(tmp_path, port, False)), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True,
        text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "--workers needs store.redis_url" in done.stderr
