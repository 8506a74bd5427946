"""Kept-alive GETs to BBB servers whose whole answer is read at once: the proxy's hot path.

aiohttp's ClientSession costs ~65 µs of CPU per call (request and response
objects, tracing, cookies, URL handling, timeout contexts) against ~15 µs for
the HTTP exchange itself (bench/bbb_proxy.py: it was most of the gateway's CPU
per getMeetings). This client keeps only the exchange and reuses aiohttp's own
protocol and C response parser (`aiohttp.client_proto.ResponseHandler`):
llhttp parses the status line and headers, Content-Length and chunked bodies,
gzip/deflate, and enforces header size limits, as for every other call.

What it keeps from the session it stands in for (bbb_hooks.app._proxy_ctx):
- kept-alive connections per origin (idle ones closed after `keepalive`
  seconds, by a timer per origin even when no further call comes), at most
  `limit_per_host` open at once (further calls wait);
- timeouts: connect, total per call, and between two reads of the socket;
  each names itself TimeoutError (BBBError "timeout");
- no redirects followed, no cookies, no proxy from the environment, TLS
  verified against the system's CA store with the server's host name;
- a call that fails on a reused connection before any answer arrived is sent
  once more on a new one (the server may have closed it while idle), as
  aiohttp does for GET;
- interim 1xx answers (100 Continue, 103 Early Hints) skipped, as
  ClientResponse does: the status is the final answer's;
- once closed, no call sends anything more: those in flight or waiting for a
  connection fail with ClientConnectionError("closed").

Only plain GETs come here (bbb_hooks.client.fetch): POST bodies, forms and
streamed answers stay on aiohttp.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

READ_BUFSIZE = 64 * 1024
MAX_LINE = 8190  # aiohttp's defaults for a status line and one header
MAX_FIELD = 8190


class TooLarge(Exception):
    """The answer is longer than the caller's bound."""


class Refused(Exception):
    """Not for this client (unsupported scheme, credentials in the URL): use aiohttp."""


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    tls: bool
    head: bytes  # the request's headers after the request line


@lru_cache(maxsize=256)
def origin_of(base: str, user_agent: str) -> Origin:
    """`scheme://authority` of a server URL, parsed once."""
    url = URL(base)
    if url.scheme not in ("http", "https") or not url.host or url.user or url.password:
        raise Refused(base)
    port = url.port or (443 if url.scheme == "https" else 80)
    head = (f"Host: {url.host_port_subcomponent}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\n\r\n").encode("ascii")
    return Origin(url.raw_host or url.host, port, url.scheme == "https", head)


def split_url(url: str) -> tuple[str, str]:
    """(`scheme://authority`, `/path?query`) of an absolute URL, without re-encoding."""
    scheme_end = url.find("://")
    slash = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
    if slash < 0:
        raise Refused(url)
    return url[:slash], url[slash:]


class Upstream:
    """A pool of kept-alive HTTP/1.1 connections for whole-answer GETs."""

    def __init__(self, *, connect_timeout: float = 5.0, total_timeout: float = 120.0,
                 read_timeout: float = 60.0, keepalive: float = 30.0,
                 limit_per_host: int = 512, user_agent: str = "privacy-gateway",
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.connect_timeout, self.total_timeout = connect_timeout, total_timeout
        self.read_timeout, self.keepalive = read_timeout, keepalive
        self.limit_per_host, self.user_agent = limit_per_host, user_agent
        self._ssl = ssl_context
        self._idle: dict[Origin, list[tuple[ResponseHandler, float]]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._busy: set[ResponseHandler] = set()
        self._reapers: dict[Origin, asyncio.TimerHandle] = {}
        self._closed = False

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def close(self) -> None:
        self._closed = True
        for reaper in self._reapers.values():
            reaper.cancel()
        self._reapers.clear()
        for idle in self._idle.values():
            for conn, _ in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()

    def idle_connections(self) -> int:
        return sum(len(v) for v in self._idle.values())

    async def get(self, url: str, limit: int) -> tuple[int, str, bytes]:
        """(status, content type, body) of `GET url` (sent exactly as given).

        The body is read only for a 200 (b"" otherwise). Raises TimeoutError,
        aiohttp.ClientError or OSError when the exchange fails, TooLarge past
        `limit`, Refused for a URL this client does not take.
        """
        if self._closed:
            raise aiohttp.ClientConnectionError("closed")
        base, target = split_url(url)
        if " " in target or "\r" in target or "\n" in target:
            raise Refused(url)
        origin = origin_of(base, self.user_agent)
        request = b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + origin.head
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = asyncio.Semaphore(self.limit_per_host)
        deadline = time.monotonic() + self.total_timeout
        if slots.locked():  # as many calls as allowed are out: wait, within the total
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can drop an acquire
            # that completed as the timeout fired, and the slot would never come back.
            async with asyncio.timeout(self.total_timeout):
                await slots.acquire()
        else:
            await slots.acquire()
        try:
            if self._closed:  # closed while this call waited for a slot
                raise aiohttp.ClientConnectionError("closed")
            conn = self._take(origin)
            if conn is not None:
                try:
                    return await self._exchange(origin, conn, request, limit, deadline)
                except _Stale:
                    # Closed by the server while idle: once more, on a new connection;
                    # unless it is the pool that closed it (then nothing more is sent).
                    if self._closed:
                        raise aiohttp.ClientConnectionError("closed") from None
            conn = await self._connect(origin, deadline)
            if self._closed:  # closed while connecting: this socket is never used
                conn.close()
                raise aiohttp.ClientConnectionError("closed")
            try:
                return await self._exchange(origin, conn, request, limit, deadline)
            except _Stale as stale:
                if self._closed:
                    raise aiohttp.ClientConnectionError("closed") from None
                raise stale.cause from None
        finally:
            slots.release()

    def _take(self, origin: Origin) -> ResponseHandler | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn, expires = idle.pop()
            if expires > now and conn.is_connected() and not conn.should_close:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, deadline: float) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        timeout = min(self.connect_timeout, max(0.0, deadline - time.monotonic()))
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: ResponseHandler(loop), origin.host, origin.port,
                ssl=self._tls() if origin.tls else None,
                server_hostname=origin.host if origin.tls else None)
        return conn

    async def _exchange(self, origin: Origin, conn: ResponseHandler, request: bytes,
                        limit: int, deadline: float) -> tuple[int, str, bytes]:
        loop = asyncio.get_running_loop()
        # read_until_eof: an answer with neither length nor chunks ends where the server
        # closes, as the session reads it (its default).
        conn.set_response_params(read_timeout=self.read_timeout, read_bufsize=READ_BUFSIZE,
                                 read_until_eof=True, auto_decompress=True,
                                 max_line_size=MAX_LINE, max_field_size=MAX_FIELD)
        expired = False
        reading: aiohttp.StreamReader | None = None

        def expire() -> None:
            # As aiohttp's own read timeout: the waiting read is woken with the error
            # (abort alone would leave a half-read body waiting), then the socket goes.
            nonlocal expired
            expired = True
            exc = TimeoutError("total timeout")
            conn.set_exception(exc)
            if reading is not None:
                reading.set_exception(exc)
            conn.abort()

        timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), expire)
        self._busy.add(conn)
        reusable = False
        try:
            transport = conn.transport
            if transport is None or transport.is_closing():
                raise _Stale(aiohttp.ServerDisconnectedError())
            transport.write(request)
            conn.start_timeout()
            try:
                message, payload = await conn.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if expired:
                    raise TimeoutError("total timeout") from None
                raise _Stale(exc) from None
            # Interim answers (100 Continue, 103 Early Hints) come before the final one,
            # which is read next, as ClientResponse does; 101 would be a protocol switch.
            # An answer has begun: a failure from here on is not retried.
            while 100 <= message.code < 200 and message.code != 101:
                message, payload = await conn.read()
            status = message.code
            content_type = (message.headers.get("Content-Type") or "application/octet-stream")
            content_type = content_type.partition(";")[0].strip().lower()
            if status != 200:
                return status, content_type, b""
            length = message.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise TooLarge()
            reading = payload
            body = await _read(payload, limit)
            reusable = not message.should_close
            return status, content_type, body
        except (aiohttp.ClientError, OSError):
            if expired:
                raise TimeoutError("total timeout") from None
            raise
        except HttpProcessingError as exc:  # not HTTP: as aiohttp's session names it
            raise aiohttp.ClientConnectionError(f"not an HTTP answer: {exc.message}") from None
        finally:
            timer.cancel()
            self._busy.discard(conn)
            if reusable and not self._closed and conn.is_connected() and not conn.should_close:
                self._put_back(origin, conn)
            else:
                conn.close()

    def _put_back(self, origin: Origin, conn: ResponseHandler) -> None:
        """Idle again. The list is oldest first (calls take the newest), so connections
        idle past `keepalive` are closed from its front, as others come back or when
        the origin's reaper fires."""
        now = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        self._expire(idle, now)
        idle.append((conn, now + self.keepalive))
        if origin not in self._reapers:
            self._reapers[origin] = asyncio.get_running_loop().call_later(
                self.keepalive, self._reap, origin)

    @staticmethod
    def _expire(idle: list[tuple[ResponseHandler, float]], now: float) -> None:
        while idle and idle[0][1] <= now:
            idle.pop(0)[0].close()

    def _reap(self, origin: Origin) -> None:
        """Closes the origin's connections idle past `keepalive`, with no call needed:
        a quiet origin keeps no socket open. Runs again when the oldest left expires."""
        del self._reapers[origin]
        idle = self._idle.get(origin)
        if self._closed or not idle:
            return
        now = time.monotonic()
        self._expire(idle, now)
        if idle:
            self._reapers[origin] = asyncio.get_running_loop().call_later(
                max(0.0, idle[0][1] - now), self._reap, origin)
        else:
            del self._idle[origin]


class _Stale(Exception):
    """A connection failed before any answer: worth one more try on a fresh one."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _read(payload: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await payload.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        chunks.append(chunk)
