"""A real nginx with the shipped snippet in front of a BBB-shaped recordings tree.

nginx (Debian package `nginx`, installed by scripts/test.sh) runs in the
foreground as one process (`master_process off`: no user switch, nothing
needs root) under a temporary prefix, on a free port. The snippet is
config/bbb/privacy-gateway-playback.nginx exactly as shipped, with only the
two things an admin replaces: the recordings root and the gateway address.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

SNIPPET = ROOT / "config" / "bbb" / "privacy-gateway-playback.nginx"
PLAYBACK_HOST = "bbb.test"  # Chromium maps it to 127.0.0.1 (a host of its own for cookies)
PLAYER_HTML = b"<!doctype html><title>BBB playback</title><p id=player>presentation player</p>"

_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    types {{
        text/html html; application/xml xml; application/json json; image/svg+xml svg;
        video/webm webm; video/mp4 mp4 m4v; application/javascript js; audio/ogg ogg;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        server_name {host};
        include {prefix}/privacy-gateway-playback.nginx;
    }}
}}
"""


def nginx_binary() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)
    if path is None:
        pytest.fail("nginx is not installed: run scripts/test.sh, which installs it")
    return path


@contextlib.contextmanager
def nginx_in_front(tmp_path: Path, tree: Path, gateway_base: str) -> Iterator[int]:
    """nginx on a free port; yields the port."""
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    snippet = SNIPPET.read_text().replace("/var/bigbluebutton", str(tree))
    (prefix / "privacy-gateway-playback.nginx").write_text(
        snippet.replace("https://gateway.school.example", gateway_base))
    port = free_port()
    (prefix / "nginx.conf").write_text(_CONF.format(prefix=prefix, port=port,
                                                    host=PLAYBACK_HOST))
    proc = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
         "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(proc, port, prefix)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, prefix: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            pytest.fail(f"nginx did not start: {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("nginx did not listen in time")


def add_bbb_files(tree: Path, record_id: str) -> dict[str, bytes]:
    """What BBB's presentation and video formats publish for one recording."""
    files = {
        f"published/presentation/{record_id}/video/webcams.webm": b"\x1aE\xdf\xa3webm" * 400,
        f"published/presentation/{record_id}/shapes.svg": b"<svg xmlns='http://www.w3.org/"
                                                          b"2000/svg'/>",
        f"published/presentation/{record_id}/captions.json": b"[]",
        f"published/video/{record_id}/video-0.m4v": b"\x00\x00\x00\x18ftypmp42" * 300,
    }
    player = tree / "playback" / "presentation" / "2.3" / "index.html"
    player.parent.mkdir(parents=True, exist_ok=True)
    player.write_bytes(PLAYER_HTML)
    for relative, data in files.items():
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def point_links_at(tree: Path, record_id: str, old_base: str, new_base: str) -> None:
    """The emulator's metadata.xml names its own host; on a real BBB it is nginx's."""
    for metadata in tree.glob(f"published/*/{record_id}/metadata.xml"):
        metadata.write_text(metadata.read_text().replace(old_base, new_base))


async def raw_get(port: int, target: str, headers: dict[str, str] | None = None
                  ) -> tuple[int, dict[str, str], bytes]:
    """A GET with the request target exactly as given (no client normalises `..`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", f"Host: {PLAYBACK_HOST}", "Connection: close",
             "Accept-Language: en",
             *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
    writer.write("\r\n".join(lines).encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return int(status_line.split()[1]), parsed, body


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)
