"""Several reads and writes in ONE store step: one round trip to Redis, atomic there.

A hot path that reads a session, a room and a field, then writes a few hashes, paid one
Redis round trip (and redis-py's ~40 µs of client CPU) for each. A `Batch` collects them:

    batch = Batch()
    session = batch.get("session:...", expect=cached_raw)   # a read; optionally checked
    room = batch.hgetall("jitsi:room:r")
    batch.hset("jitsi:roles:r", {person: b"teacher"}, ttl)  # written only if every check held
    applied = await store.run_batch(batch)

Reads come back in their slots (`session.value`). A read given `expect=` is also a check:
the writes are applied only if every checked read found exactly the expected value, in the
same atomic step (one Lua script on Redis; a step without await in memory). So a caller
can decide on values it remembered from before (a cached session, a room's settings) and
write the consequences in one round trip, safely: if anything it decided on changed in the
meantime (the session ended on another replica, the room was retyped), nothing is written,
`run_batch` answers False, and the fresh values are in the slots to decide again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ABSENT = object()  # `expect=None` means "must be absent"; no `expect` means "not checked"


class Slot(Generic[T]):
    """A read's result once the batch has run."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


@dataclass(frozen=True, slots=True)
class Read:
    op: str  # "get", "hget", "hgetall"
    key: str
    field: str | None
    checked: bool
    expected: bytes | dict[str, bytes] | None
    slot: Slot[Any]


@dataclass(frozen=True, slots=True)
class Write:
    op: str  # "hset", "set"
    key: str
    mapping: Mapping[str, bytes]  # "set": {"": value}
    ttl: float | None


class Batch:
    """Reads (some of them checks) and the writes that depend on them."""

    __slots__ = ("reads", "writes")

    def __init__(self) -> None:
        self.reads: list[Read] = []
        self.writes: list[Write] = []

    def get(self, key: str, expect: object = ABSENT) -> Slot[bytes | None]:
        slot: Slot[bytes | None] = Slot(None)
        self.reads.append(Read("get", key, None, expect is not ABSENT,
                               _bytes_or_none(expect), slot))
        return slot

    def hget(self, key: str, field: str,
             expect: object = ABSENT) -> Slot[bytes | None]:
        slot: Slot[bytes | None] = Slot(None)
        self.reads.append(Read("hget", key, field, expect is not ABSENT,
                               _bytes_or_none(expect), slot))
        return slot

    def hgetall(self, key: str,
                expect: Mapping[str, bytes] | None = None) -> Slot[dict[str, bytes]]:
        """The whole hash; with `expect`, checked to hold exactly those fields."""
        slot: Slot[dict[str, bytes]] = Slot({})
        self.reads.append(Read("hgetall", key, None, expect is not None,
                               dict(expect) if expect is not None else None, slot))
        return slot

    def hset(self, key: str, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        self.writes.append(Write("hset", key, mapping, ttl))

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.writes.append(Write("set", key, {"": value}, ttl))

    @property
    def checked(self) -> bool:
        return any(read.checked for read in self.reads)


def _bytes_or_none(value: object) -> bytes | None:
    if value is ABSENT or value is None:
        return None
    if not isinstance(value, bytes):
        raise TypeError("a batch read expects bytes or None")
    return value


def matches(read: Read, value: bytes | dict[str, bytes] | None) -> bool:
    return not read.checked or value == read.expected
