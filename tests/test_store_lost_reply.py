"""A reply lost after Redis ran the command: the store sends it again (redis-py's retry
after a connection error), and the second run must not change the outcome.

A proxy between the store and a real redis-server forwards the command, lets Redis run
it, and then breaks the connection instead of passing the reply on, as a Redis restart
or a network cut can. Before, the ticket's GETDEL ran twice and the ticket was gone
(bench/soak.py lost one across a Redis restart), SET NX lost against itself, a lock was
held by nobody who knew it, and compare-and-set applied an update twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from gateway.store.atomic import update
from gateway.store.redis_store import RedisStore


class ReplyDropper:
    """A TCP proxy to Redis that, when armed, lets `skip` replies through and then cuts
    the connection as the next reply arrives (that command HAS run)."""

    def __init__(self, port: int) -> None:
        self.port, self.armed, self.skip, self.dropped = port, False, 0, 0
        self._tasks: set[asyncio.Task[None]] = set()

    def arm(self, skip: int = 0) -> None:
        self.armed, self.skip = True, skip

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        forward = asyncio.create_task(self._pump(reader, up_writer))
        try:
            while data := await up_reader.read(65536):
                if self.armed:
                    if self.skip == 0:
                        self.armed = False
                        self.dropped += 1
                        break  # the reply is lost with the connection
                    self.skip -= 1
                writer.write(data)
                await writer.drain()
        finally:
            forward.cancel()
            for w in (writer, up_writer):
                w.close()
            with contextlib.suppress(Exception):
                await forward
            self._tasks.discard(task)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@pytest.fixture
async def dropping(redis_url: str) -> AsyncIterator[tuple[RedisStore, ReplyDropper]]:
    dropper = ReplyDropper(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    port = await dropper.start()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", "t")
    assert await store.ping()  # connected: the next reply is the command's own
    # Each script once, so Redis knows it: otherwise the lost reply would be NOSCRIPT (the
    # command did not run) rather than the command's own.
    await store.take("warm")
    await store.set_nx("warm", b"1", 1)
    await store.set_if("warm", None, b"1", 1)
    await store.hset_if("warm-h", "f", None, {"f": b"1"}, 1)
    lease = await store.acquire("warm", 1)
    assert lease is not None
    yield store, dropper
    await store.close()
    await dropper.close()


async def test_a_ticket_taken_once_survives_a_lost_reply(
        dropping: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = dropping
    await store.set("ticket:abc", b"meeting", 60)
    dropper.arm()
    assert await store.take("ticket:abc") == b"meeting"
    assert dropper.dropped == 1
    assert await store.get("ticket:abc") is None  # still single use
    assert await store.take("ticket:abc") is None


async def test_set_nx_does_not_lose_against_itself(
        dropping: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = dropping
    dropper.arm()
    assert await store.set_nx("nonce:1", b"1", 60)
    assert dropper.dropped == 1
    assert not await store.set_nx("nonce:1", b"1", 60)  # a real second use is refused


async def test_a_lock_whose_reply_was_lost_is_held_by_its_taker(
        dropping: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = dropping
    dropper.arm()
    lease = await store.acquire("guard", 30, holder="a")
    assert dropper.dropped == 1
    assert lease is not None and await store.renew(lease, 30)
    assert await store.acquire("guard", 30) is None


async def test_compare_and_set_applies_an_update_once(
        dropping: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = dropping
    await store.set("list", b"[]", 60)

    def appended(raw: bytes | None) -> bytes:
        return json.dumps([*json.loads(raw or b"[]"), "x"]).encode()

    dropper.arm(skip=1)  # the GET's reply passes, the compare-and-set's is lost
    await update(store, "list", appended, 60)
    assert dropper.dropped == 1
    assert json.loads(await store.get("list") or b"") == ["x"]  # not ["x", "x"]


async def test_hset_if_whose_reply_was_lost_reports_success(
        dropping: tuple[RedisStore, ReplyDropper]) -> None:
    store, dropper = dropping
    await store.hset("objection", {"status": b"open"}, None)
    dropper.arm()
    assert await store.hset_if("objection", "status", b"open", {"status": b"done"}, None)
    assert dropper.dropped == 1
    assert await store.hgetall("objection") == {"status": b"done"}
