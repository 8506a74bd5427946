"""A tiny Redis pub/sub broker for the demo. NOT FOR PRODUCTION, demo only.

The demo must run without installing anything, so there is no redis-server:
this speaks just enough RESP (RESP2) for BBB's bus between the recording guard
(bbb_hooks/bus_link.py) and the demo's BBB stand-in. Commands: AUTH, CLIENT
SETNAME, HELLO (protocol 2 only), PING, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, QUIT;
anything else gets a Redis-style error. No keys, no persistence, no password
check: it listens on localhost only, for one demo run.

In-process subscribers (the stand-in's akka-apps side) register a callback
with `listen`; `publish` reaches both them and the socket subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[[bytes], None]
MAX_ARGS = 1024
MAX_BULK = 16 * 1024 * 1024


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _array(*items: bytes) -> bytes:
    """A RESP array of already-encoded items."""
    return b"*%d\r\n" % len(items) + b"".join(items)


class _ProtocolError(Exception):
    pass


async def _read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    """One command: a RESP array of bulk strings, or an inline line. None at EOF."""
    line = await reader.readline()
    if not line:
        return None
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"*"):
        return line.split()  # inline command (telnet, redis-cli --no-raw PING)
    try:
        count = int(line[1:])
    except ValueError:
        raise _ProtocolError("invalid multibulk length") from None
    if not 0 <= count <= MAX_ARGS:
        raise _ProtocolError("invalid multibulk length")
    args = []
    for _ in range(count):
        head = (await reader.readline()).rstrip(b"\r\n")
        if not head.startswith(b"$"):
            raise _ProtocolError("expected '$'")
        try:
            size = int(head[1:])
        except ValueError:
            raise _ProtocolError("invalid bulk length") from None
        if not 0 <= size <= MAX_BULK:
            raise _ProtocolError("invalid bulk length")
        data = await reader.readexactly(size + 2)
        args.append(data[:-2])
    return args


class RespBroker:
    """SUBSCRIBE/PUBLISH over RESP on one pre-bound socket (`start(sock)`)."""

    def __init__(self) -> None:
        self._subscribers: dict[bytes, set[asyncio.StreamWriter]] = {}
        self._listeners: dict[bytes, list[Listener]] = {}
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.names: dict[int, str] = {}  # CLIENT SETNAME, per connection (for tests)

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def listen(self, channel: str, callback: Listener) -> None:
        self._listeners.setdefault(channel.encode(), []).append(callback)

    def subscribers(self, channel: str) -> int:
        key = channel.encode()
        return len(self._subscribers.get(key, ())) + len(self._listeners.get(key, ()))

    def publish(self, channel: str | bytes, message: bytes) -> int:
        """Deliver to every subscriber now; how many received it (PUBLISH's answer)."""
        key = channel.encode() if isinstance(channel, str) else channel
        writers = self._subscribers.get(key, set())
        frame = _array(_bulk(b"message"), _bulk(key), _bulk(message))
        for writer in writers:
            writer.write(frame)
        listeners = self._listeners.get(key, [])
        for callback in listeners:
            try:
                callback(message)
            except Exception:
                log.exception("demo broker: a listener failed")
        return len(writers) + len(listeners)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        subscribed: set[bytes] = set()
        try:
            while True:
                try:
                    command = await _read_command(reader)
                except _ProtocolError as exc:
                    writer.write(b"-ERR Protocol error: %s\r\n" % str(exc).encode())
                    break
                if command is None:
                    break
                if not command:
                    continue
                if not self._answer(command, writer, subscribed):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for channel in subscribed:
                self._subscribers.get(channel, set()).discard(writer)
            self._clients.discard(writer)
            self.names.pop(id(writer), None)
            writer.close()

    def _answer(self, command: list[bytes], writer: asyncio.StreamWriter,
                subscribed: set[bytes]) -> bool:
        """Write the reply to one command; False to close the connection."""
        name, args = command[0].upper(), command[1:]
        if name == b"QUIT":
            writer.write(b"+OK\r\n")
            return False
        if name == b"PING":
            if subscribed:  # RESP2 in subscribed mode: ["pong", message]
                writer.write(_array(_bulk(b"pong"), _bulk(args[0] if args else b"")))
            else:
                writer.write(_bulk(args[0]) if args else b"+PONG\r\n")
        elif subscribed and name not in (b"SUBSCRIBE", b"UNSUBSCRIBE"):
            writer.write(b"-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE "
                         b"/ PING / QUIT / RESET are allowed in this context\r\n"
                         % name.lower()[:32])
        elif name == b"AUTH" and 1 <= len(args) <= 2:
            writer.write(b"+OK\r\n")  # localhost, one demo run: any password will do
        elif name == b"CLIENT" and len(args) == 2 and args[0].upper() == b"SETNAME":
            self.names[id(writer)] = args[1].decode("utf-8", "replace")
            writer.write(b"+OK\r\n")
        elif name == b"HELLO":
            writer.write(self._hello(args))
        elif name == b"SUBSCRIBE" and args:
            for channel in args:
                subscribed.add(channel)
                self._subscribers.setdefault(channel, set()).add(writer)
                writer.write(_array(_bulk(b"subscribe"), _bulk(channel),
                                    b":%d\r\n" % len(subscribed)))
        elif name == b"UNSUBSCRIBE":
            for channel in args or sorted(subscribed):
                subscribed.discard(channel)
                self._subscribers.get(channel, set()).discard(writer)
                writer.write(_array(_bulk(b"unsubscribe"), _bulk(channel),
                                    b":%d\r\n" % len(subscribed)))
        elif name == b"PUBLISH" and len(args) == 2:
            writer.write(b":%d\r\n" % self.publish(args[0], args[1]))
        else:
            writer.write(b"-ERR unknown command '%s' (demo broker: pub/sub only)\r\n"
                         % name.lower()[:32])
        return True

    @staticmethod
    def _hello(args: list[bytes]) -> bytes:
        if args and args[0] not in (b"2",):
            return b"-NOPROTO sorry, this protocol version is not supported\r\n"
        fields = [(b"server", _bulk(b"redis")), (b"version", _bulk(b"7.0.0")),
                  (b"proto", b":2\r\n"), (b"id", b":1\r\n"), (b"mode", _bulk(b"standalone")),
                  (b"role", _bulk(b"master")), (b"modules", b"*0\r\n")]
        return _array(*(part for key, value in fields for part in (_bulk(key), value)))
