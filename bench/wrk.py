"""Out-of-process load for the HTTP benchmarks: `wrk` (Debian package `wrk`) and child servers.

The servers under test run in their own processes and the load comes from
wrk (C, one thread, epoll), so a benchmark measures the server and not a
Python load generator sharing its interpreter. wrk's Lua cannot compute
anything dynamic here (no checksums, no HMAC), so every request path is
pre-computed by the benchmark and wrk cycles through the list. Each answer
is checked in Lua (status, and a needle in the body or a header) and the
count of unexpected answers is reported with the figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = r"""
local paths, idx, threads = {}, 0, {}
bad = 0  -- a global: done() reads it through thread:get
local expect_status = tonumber(os.getenv("WRK_STATUS"))
local needle = os.getenv("WRK_NEEDLE")
local header = os.getenv("WRK_HEADER")
local method = os.getenv("WRK_METHOD") or "GET"

setup = function(thread) table.insert(threads, thread) end

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end

request = function()
  idx = idx % #paths + 1
  return wrk.format(method, paths[idx])
end

response = function(status, headers, body)
  local ok = status == expect_status
  if ok and needle ~= nil and needle ~= "" then
    local hay = body
    if header ~= nil and header ~= "" then hay = headers[header] or "" end
    ok = string.find(hay, needle, 1, true) ~= nil
  end
  if not ok then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %f %f %f\n", summary.requests,
    summary.duration, b, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    unexpected: int  # answers with the wrong status or without the needle
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(base: str, paths: Sequence[str], *, connections: int, seconds: float,
            status: int = 200, needle: str = "", header: str = "",
            headers: Sequence[str] = ()) -> Load:
    """wrk against base + each path in turn, one thread, `connections` kept-alive connections."""
    if not wrk_available():
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "20s",
                   "-s", str(script)]
        for header_line in headers:
            command += ["-H", header_line]
        command += [base, "--", str(listing)]
        env = dict(os.environ, WRK_STATUS=str(status), WRK_NEEDLE=needle, WRK_HEADER=header)
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    out = done.stdout + done.stderr
    line = next((x for x in out.splitlines() if x.startswith("WRKRESULT")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{out}")
    parts = line.split()
    return Load(requests=int(parts[1]), seconds=int(parts[2]) / 1e6, unexpected=int(parts[3]),
                socket_errors=int(parts[4]), p50_ms=float(parts[5]) / 1000,
                p99_ms=float(parts[6]) / 1000)


class Child:
    """A server in its own process that prints READY once it listens."""

    def __init__(self, command: Sequence[str], *, announces: bool = True) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(list(command), stdout=subprocess.PIPE if announces else
                                     subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
        self.announced = ""  # what the child printed after READY (a cookie, say)
        if announces:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if not line.startswith("READY"):
                self.stop()
                raise SystemExit(f"{command[:4]} did not start")
            self.announced = line[len("READY"):].strip()

    @classmethod
    def python(cls, module: str, *args: str) -> Child:
        return cls([sys.executable, "-m", module, *args])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis(port: int, workdir: Path) -> Child:
    """A throw-away redis-server (no persistence), answering PING when this returns."""
    child = Child(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(workdir)], announces=False)
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return child
        time.sleep(0.05)
    child.stop()
    raise SystemExit("redis-server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
