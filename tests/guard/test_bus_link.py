"""The guard's own bus connections against a real redis-server with the documented ACL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.bus_link import BusLost, BusPublisher, BusReader

# config/bbb/redis-guard.md §2, word for word after the password.
ACL = ("resetchannels &from-akka-apps-redis-channel &to-akka-apps-redis-channel -@all "
       "+subscribe +publish +ping +client|setname").split()


def _as_user(url: str, user: str, password: str) -> str:
    return url.replace("redis://", f"redis://{user}:{password}@")


async def test_documented_acl_is_enough_to_listen_and_command(redis_url: str) -> None:
    admin: Any = Redis.from_url(redis_url)  # redis-py execute_command is untyped
    await admin.execute_command("ACL", "SETUSER", "privacy-gateway", "on", ">s3cret-pw", *ACL)
    url = _as_user(redis_url, "privacy-gateway", "s3cret-pw")
    reader = BusReader(url, codec.GUARD_CHANNELS, "privacy-gateway-guard-sub")
    publisher = BusPublisher(url, "privacy-gateway-guard-pub")
    try:
        await reader.connect()
        await admin.publish(codec.FROM_AKKA, b'{"envelope":{"name":"X"}}')
        seen, messages = await anext(aiter(reader.batches()))
        assert messages == [b'{"envelope":{"name":"X"}}'] and seen > 0
        await publisher.publish(codec.TO_AKKA, ["a", "b"])  # acknowledged, no error
        with pytest.raises(BusLost, match="NOPERM"):  # and nothing beyond the two channels
            await publisher.publish("some-other-channel", ["c"])
    finally:
        await reader.close()
        await publisher.close()
        await admin.execute_command("ACL", "DELUSER", "privacy-gateway")
        await admin.aclose()


async def test_wrong_password_is_a_clear_refusal(redis_url: str) -> None:
    admin: Any = Redis.from_url(redis_url)  # redis-py execute_command is untyped
    await admin.execute_command("ACL", "SETUSER", "privacy-gateway", "on", ">right", *ACL)
    reader = BusReader(_as_user(redis_url, "privacy-gateway", "wrong"), codec.GUARD_CHANNELS,
                       "privacy-gateway-guard-sub")
    try:
        with pytest.raises(BusLost, match="WRONGPASS"):
            await reader.connect()
    finally:
        await reader.close()
        await admin.execute_command("ACL", "DELUSER", "privacy-gateway")
        await admin.aclose()


@pytest.mark.parametrize("link", ["reader", "publisher"])
async def test_a_redis_that_accepts_but_never_answers_times_out(link: str) -> None:
    """Connecting is bounded: a silent Redis must not hold the guard while it keeps the lead."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"redis://:pw@127.0.0.1:{port}/0"
    started = time.monotonic()
    try:
        with pytest.raises(BusLost, match="no answer"):
            if link == "reader":
                await BusReader(url, codec.GUARD_CHANNELS, "sub", connect_timeout=0.3).connect()
            else:
                await BusPublisher(url, "pub", connect_timeout=0.3).publish(codec.TO_AKKA, ["x"])
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert accepted and time.monotonic() - started < 2
