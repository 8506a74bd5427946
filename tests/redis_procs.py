"""Real redis-server and redis-sentinel processes on free ports, for the HA and soak tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis as redis_sync

from tests.support import free_port


@dataclass
class RedisProc:
    port: int
    proc: subprocess.Popen[bytes]
    args: list[str]
    admin: dict[str, str]  # how the test itself logs in (user, password, TLS files)

    def client(self) -> redis_sync.Redis:
        return redis_sync.Redis(port=self.port, socket_timeout=2, **self.admin)  # type: ignore[arg-type]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start the same server again on the same port (its AOF/dir is kept)."""
        self.proc = _spawn(self.args)
        wait_ready(self)


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(server: RedisProc, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with server.client() as client:
                client.ping()
            return
        except redis_sync.RedisError:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                server.kill()
                raise RuntimeError("redis did not start") from None
            time.sleep(0.05)


def start_redis(workdir: Path, extra: list[str] | None = None,
                admin: dict[str, str] | None = None, port: int | None = None,
                binary: str = "redis-server") -> RedisProc:
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is not installed: run scripts/test.sh, which installs it")
    port = port if port is not None else free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    args = [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--dir", str(workdir), *(extra or [])]
    server = RedisProc(port, _spawn(args), args, admin or {})
    wait_ready(server)
    return server


def start_sentinel(workdir: Path, master_port: int, service: str, lines: list[str]) -> RedisProc:
    """A redis-sentinel watching one master (quorum 1, fast failover for tests)."""
    path = shutil.which("redis-sentinel")
    if path is None:
        raise RuntimeError("redis-sentinel is not installed: run scripts/test.sh")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "sentinel.conf"  # Sentinel rewrites its own config file
    conf.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", f"dir {workdir}",
        f"sentinel monitor {service} 127.0.0.1 {master_port} 1",
        f"sentinel down-after-milliseconds {service} 1000",
        f"sentinel failover-timeout {service} 3000",
        *lines, ""]))
    server = RedisProc(port, _spawn([path, str(conf)]), [path, str(conf)], {})
    return server
