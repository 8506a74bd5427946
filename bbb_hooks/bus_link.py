"""Lean connections to BBB's Redis bus: whole socket reads, parsed by hiredis.

BusReader subscribes; BusPublisher sends a reaction's commands in one write.
Why not redis-py's PubSub: it hands out one message per await and hides how
many messages one read brought in. The guard wants the whole read at once so
it can (1) time a reaction from the moment the bytes arrived, not from the
moment its turn came (the `privacy_gateway_guard_reaction_seconds` metric and
bench/guard_bus.py), (2) drop floods with byte checks, and (3) handle a
recording change before the other meetings' traffic that arrived in the same
read (bus_codec.guard_events; G10: pupils are silenced first).

Connection details (ACL user and password, TLS for `rediss://`, unix sockets)
come from the same URL redis-py reads (`redis.connection.parse_url`). Liveness:
TCP keepalive, and a PING when the bus has been quiet for `health_interval`
seconds; no answer within another interval counts as a lost connection.
Connecting (TCP, TLS, AUTH, SETNAME, SUBSCRIBE) must finish within
`connect_timeout` seconds: a Redis that accepts the connection and never
answers must not hold the guard while this replica keeps the lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import hiredis
from redis.exceptions import RedisError

from gateway.store.redis_urls import connection_options

READ_SIZE = 1 << 18  # one read takes everything the kernel buffered, up to 256 KiB
CONNECT_TIMEOUT = 5.0


class BusLost(ConnectionError):
    """The bus connection failed, closed, or stopped answering."""


def pack(*args: str | bytes) -> bytes:
    """One command in RESP, the way every Redis client sends it."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Link:
    """One authenticated, named RESP connection to BBB's Redis."""

    def __init__(self, url: str, client_name: str,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.url, self.client_name, self.connect_timeout = url, client_name, connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = hiredis.Reader()

    @contextlib.asynccontextmanager
    async def _connecting(self) -> AsyncIterator[None]:
        """Bound a whole connect, hello replies included; BusLost when it takes too long."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                yield
        except TimeoutError:
            self._drop()
            raise BusLost(f"connect: no answer within {self.connect_timeout:g} s") from None
        except BusLost:
            self._drop()  # a half-open link must not be used by the next publish
            raise

    async def _open(self, first: bytes = b"") -> int:
        """Connect and send AUTH, CLIENT SETNAME and `first`; the number of hello replies."""
        try:
            options = await connection_options(self.url)  # Sentinel: the master now
            if "path" in options:
                self._reader, self._writer = await asyncio.open_unix_connection(options["path"])
            else:
                tls = ssl.create_default_context(
                    cafile=options.get("ssl_ca_certs")) if options["tls"] else None
                self._reader, self._writer = await asyncio.open_connection(
                    options.get("host", "localhost"), options.get("port", 6379), ssl=tls)
                sock = self._writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except (OSError, ssl.SSLError, RedisError) as exc:
            raise BusLost(f"connect: {exc.__class__.__name__}") from None
        hello = []
        if options.get("password"):
            user = options.get("username")
            hello.append(pack("AUTH", user, options["password"]) if user
                         else pack("AUTH", options["password"]))
        hello.append(pack("CLIENT", "SETNAME", self.client_name))
        self._writer.write(b"".join(hello) + first)
        return len(hello)

    async def _replies(self) -> tuple[float, list[Any]]:
        """The replies of one socket read, and when the read returned."""
        assert self._reader is not None
        try:
            data = await self._reader.read(READ_SIZE)
        except OSError as exc:
            raise BusLost(f"read: {exc.__class__.__name__}") from None
        seen = time.perf_counter()
        if not data:
            raise BusLost("closed by the server")
        self._parser.feed(data)
        out = []
        while (reply := self._parser.gets()) is not False:
            if isinstance(reply, hiredis.ReplyError):
                # e.g. WRONGPASS or NOPERM: the ACL on BBB's Redis (config/bbb/redis-guard.md)
                raise BusLost(f"refused: {str(reply).split(' ')[0]}")
            out.append(reply)
        return seen, out

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._parser = hiredis.Reader()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass  # already gone: nothing left to flush
        self._reader = self._writer = None
        self._parser = hiredis.Reader()


class BusReader(_Link):
    """SUBSCRIBE to `channels` and yield (seen, messages) for every socket read."""

    def __init__(self, url: str, channels: tuple[str, ...], client_name: str,
                 health_interval: float = 15.0,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(url, client_name, connect_timeout)
        self.channels, self.health_interval = channels, health_interval

    async def connect(self) -> None:
        """Connect, authenticate, name the client and subscribe; BusLost on failure."""
        async with self._connecting():
            hello = await self._open(pack("SUBSCRIBE", *self.channels))
            confirmed = 0
            while confirmed < len(self.channels):
                for reply in (await self._replies())[1]:
                    if hello:
                        hello -= 1
                    elif isinstance(reply, list) and reply[:1] == [b"subscribe"]:
                        confirmed += 1

    async def batches(self) -> AsyncIterator[tuple[float, list[bytes]]]:
        """Forever: the time a read arrived and the published payloads it carried."""
        assert self._writer is not None
        pinged = False
        while True:
            try:
                async with asyncio.timeout(self.health_interval):
                    seen, replies = await self._replies()
            except TimeoutError:
                if pinged:
                    raise BusLost("no answer to PING") from None
                self._writer.write(pack("PING"))
                pinged = True
                continue
            pinged = False
            messages = [r[2] for r in replies
                        if isinstance(r, list) and len(r) == 3 and r[0] == b"message"]
            if messages:
                yield seen, messages


class BusPublisher(_Link):
    """PUBLISH many payloads in one write and wait for all the replies (one round trip).

    redis-py's pipeline costs about as much CPU per command as the guard's whole
    decision; a reaction publishes up to a few dozen commands (bench/guard_bus.py).
    """

    def __init__(self, url: str, client_name: str, timeout: float = 5.0,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__(url, client_name, connect_timeout)
        self.timeout = timeout
        self._lock = asyncio.Lock()  # the page handler may publish while the bus loop does

    async def connect(self) -> None:
        async with self._connecting():
            hello = await self._open()
            while hello:
                hello -= len((await self._replies())[1])

    async def publish(self, channel: str, payloads: list[str]) -> list[int]:
        """PUBLISH every payload; how many subscribers received each (0: nobody listened)."""
        async with self._lock:
            if self._writer is None:
                await self.connect()
            assert self._writer is not None
            self._writer.write(b"".join(pack("PUBLISH", channel, p) for p in payloads))
            received: list[int] = []
            try:
                async with asyncio.timeout(self.timeout):
                    while len(received) < len(payloads):
                        received += [r if isinstance(r, int) else 0
                                     for r in (await self._replies())[1]]
            except (BusLost, TimeoutError) as exc:
                self._drop()  # replies of this write would confuse the next one
                raise BusLost(f"publish not acknowledged: {exc or 'timeout'}") from None
            except asyncio.CancelledError:
                self._drop()
                raise
            return received
