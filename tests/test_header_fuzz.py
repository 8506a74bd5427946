"""Hostile cookies and headers on every route: never a 5xx, never an empty reply.

Black-box testing found `Cookie: pgw_session=\\xff` gave HTTP 500 on every page that looks
at the session. Here hypothesis sends arbitrary bytes (not valid UTF-8, control
characters, huge values, many cookies) in the headers browsers and platforms send, to
every route of a gateway with the Jitsi and BBB adapters and the development IdP on,
over a raw socket (HTTP clients refuse to send such bytes)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from privacy_gateway import create_app
from tests.bbb.support import bbb_changes
from tests.gateway_fixtures import wait_for_idp
from tests.jitsi.support import jitsi_settings
from tests.support import deep_merge, free_port

SAMPLE = {"room": "lesson-7a", "kind": "room", "what": "created", "name": "x.pem",
          "ticket": "abc", "call": "create", "filename": "gateway.css", "record_id": "r1",
          "id": "1"}
HEADERS = ["Cookie", "Accept-Language", "Origin", "Accept", "Referer", "Authorization",
           "Content-Type", "X-Privacy-Gateway-Timestamp", "X-Privacy-Gateway-Signature",
           "User-Agent", "X-Forwarded-For"]
COOKIES = ["pgw_session", "pgw_lang", "pgw_login_0123456789abcdef", "__Host-pgw_session"]


def _route_paths(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) for every route, dynamic parts filled with sample values."""
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if not path:
            continue
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: SAMPLE.get(m.group(1), "x"), path)
        if "prefix" in info and "formatter" not in info and "path" not in info:
            path = path.rstrip("/") + "/" + ("gateway.css" if "static" in path else "x")
        method = route.method if route.method != "*" else "GET"
        if method in ("GET", "POST", "HEAD"):
            out.add((method, path))
    return sorted(out)


class RunningGateway:
    """The gateway on its own event loop in a thread, so hypothesis can drive it with
    plain blocking sockets."""

    def __init__(self, app: web.Application, port: int) -> None:
        self.app, self.port = app, port
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> RunningGateway:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        await wait_for_idp(self.app)  # the development IdP is discovered in the background

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def send(self, raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(raw)
            chunks = []
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    unreachable_bbb = SimpleNamespace(url=f"http://127.0.0.1:{free_port()}/bigbluebutton",
                                      secret="s" * 48)
    changes = deep_merge(bbb_changes(tmp_path, [unreachable_bbb], ["l" * 48]),  # type: ignore[list-item]
                         {"retention": {"jibri_recordings_dir": str(tmp_path)}})
    app = create_app(jitsi_settings(tmp_path, changes, port=port))
    with RunningGateway(app, port) as gateway:
        yield gateway


_byte = st.integers(min_value=0, max_value=255).filter(lambda b: b not in (10, 13))
_value = st.one_of(
    st.lists(_byte, max_size=200).map(bytes),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")
                             .replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x01\x7f",
                     b"a" * 7000, b"%ff%fe", b'"\xff"', b"=;=;;", b"\xef\xbb\xbf"]),
)
_cookie = st.lists(st.tuples(st.sampled_from(COOKIES), _value), max_size=4).map(
    lambda pairs: b"; ".join(n.encode() + b"=" + v for n, v in pairs))


# No "explain" phase: it imports libcst, which warns (and warnings are errors here).
@settings(max_examples=300, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_header_or_cookie_gives_a_server_error(running: RunningGateway,
                                                  data: st.DataObject) -> None:
    method, path = data.draw(st.sampled_from(_route_paths(running.app)), label="route")
    headers = data.draw(st.lists(st.tuples(st.sampled_from(HEADERS), _value), max_size=5),
                        label="headers")
    cookie = data.draw(_cookie, label="cookie")
    raw = (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           + b"Cookie: " + cookie + b"\r\n"
           + b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers)
           + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    reply = running.send(raw)
    assert reply, f"empty reply for {method} {path}"
    status = int(reply.split(b" ", 2)[1])
    if path == "/readyz" and status == 503:
        assert method == "HEAD" or b'"checks"' in reply  # its contract: this BBB is down
        return
    assert status < 500, (method, path, reply[:400])


def test_every_route_is_fuzzed(running: RunningGateway) -> None:
    paths = {p for _, p in _route_paths(running.app)}
    for expected in ("/", "/login", "/oidc/callback", "/jitsi/auth", "/jitsi/lesson-7a",
                     "/hooks/jitsi/events", "/privacy"):
        assert expected in paths
    assert any(p.startswith("/bigbluebutton/api/") for p in paths)
