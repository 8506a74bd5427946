"""Serving the app: aiohttp's runner with one change at the HTTP layer.

A request that aiohttp's parser cannot read (a request line past the app's
limit, a raw non-ASCII byte in the path or query, a broken header) never
reaches a handler or a middleware: aiohttp answers it itself, in plain text
that repeats the start of the request, checksums and passwords included. Here
that answer is a fixed BBB-style XML error with no echo (a BBB API caller can
parse it; a browser never sends such a request), and nothing of the request is
logged. Everything else is `web.run_app`'s behaviour: SIGINT/SIGTERM stop the
server gracefully, waiting up to `shutdown_timeout` for requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Callable, Sequence
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)

UNREADABLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<response><returncode>FAILED</returncode>'
    "<messageKey>badRequest</messageKey><message>The request could not be read: it is too "
    "long or not valid HTTP.</message></response>"
)


class _QuietHandler(RequestHandler):
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != HTTPStatus.BAD_REQUEST:  # 500/504: aiohttp's fixed texts, no echo
            return super().handle_error(request, status, exc, message)
        log.info("unreadable request", extra={"event": "unreadable_request",
                                              "exception_class": type(exc).__name__})
        response = web.Response(status=status, text=UNREADABLE, content_type="text/xml")
        response.force_close()
        return response


class _QuietServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """AppRunner whose connections answer unreadable requests with `UNREADABLE`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app's server, unchanged but for the class that makes each connection's
        # handler (aiohttp 3.x has no public hook for that).
        server.__class__ = _QuietServer
        return server


def listen(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for host:port, bound now (as asyncio's create_server binds them),
    so a busy port is known before anything is printed; OSError when one cannot be bound."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(
                (f, k, p, "", a) for f, k, p, _, a in found):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(128)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def run(app: web.Application, *, host: str, port: int, reuse_port: bool = False,
        print_line: Callable[[str], None] = print,
        socks: Sequence[socket.socket] | None = None) -> None:
    """Serve `app` until SIGINT or SIGTERM, then stop gracefully. `socks`: already bound
    (`listen`); without them host:port is bound here."""
    if socks is None:
        socks = listen(host, port, reuse_port=reuse_port)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port, socks, print_line))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def freeze_gc() -> None:
    """Move everything alive now (modules, the app, its routes, policy and templates) out of
    the cyclic GC's reach: its full collections then skip them (~10% less CPU per proxied
    call and /jitsi/auth, bench/bbb_proxy.py and bench/jitsi_tokens.py)."""
    gc.collect()
    gc.freeze()


async def _serve(app: web.Application, host: str, port: int, socks: Sequence[socket.socket],
                 print_line: Callable[[str], None]) -> None:
    runner = GatewayRunner(app, handle_signals=True, access_log=None, shutdown_timeout=10)
    await runner.setup()
    freeze_gc()  # the app is built and its contexts started: ~10% less CPU per request
    try:
        for sock in socks:
            await web.SockSite(runner, sock).start()
        print_line(f"======== Running on http://{host}:{port} ========")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
