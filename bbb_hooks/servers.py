"""The static list of BBB servers and which meeting lives on which one.

A meeting is pinned to one server, chosen by hashing its meetingID and
remembered in the store (so adding a server later does not move running
meetings). No load balancing of our own: Scalelite or B3LB can sit behind
the gateway as a single "server".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from bbb_hooks.checksum import sign
from gateway.config.loading import Settings
from gateway.store.base import Store


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    url: str  # ends before /api, e.g. https://bbb1.school.example/bigbluebutton
    secret: bytes
    algorithm: str

    def api_url(self, call: str) -> str:
        return f"{self.url}/api/{call}"

    def signed_url(self, call: str, query: str) -> str:
        """`call?query&checksum=…`, signed over exactly the bytes sent (bbb.md §1.1)."""
        checksum = sign(call, query, self.secret, self.algorithm)
        sep = "&" if query else ""
        return f"{self.api_url(call)}?{query}{sep}checksum={checksum}"


class ServerPool:
    def __init__(self, servers: Sequence[Server], store: Store, pin_ttl: float) -> None:
        if not servers:
            raise ValueError("at least one BBB server is needed")
        self.servers = tuple(servers)
        self._by_name = {s.name: s for s in servers}
        self._store = store
        self._pin_ttl = pin_ttl

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, pin_ttl: float) -> ServerPool:
        servers = [
            Server(name=s.name, url=s.url, secret=settings.secrets.get(f"bbb.servers[{i}].secret"),
                   algorithm=s.checksum_algorithm)
            for i, s in enumerate(settings.policy.bbb.servers)
        ]
        return cls(servers, store, pin_ttl)

    def named(self, name: str) -> Server | None:
        return self._by_name.get(name)

    def hashed(self, meeting_id: str) -> Server:
        digest = hashlib.sha256(meeting_id.encode()).digest()
        return self.servers[int.from_bytes(digest[:8], "big") % len(self.servers)]

    @staticmethod
    def _pin_key(meeting_id: str) -> str:
        return "bbb:pin:" + hashlib.sha256(meeting_id.encode()).hexdigest()

    async def _pinned(self, meeting_id: str) -> Server | None:
        pinned = await self._store.get(self._pin_key(meeting_id))
        return None if pinned is None else self._by_name.get(pinned.decode())

    async def lookup(self, meeting_id: str) -> Server:
        """Where a meeting lives, for calls that only read: nothing is written."""
        if len(self.servers) == 1:
            return self.servers[0]
        return await self._pinned(meeting_id) or self.hashed(meeting_id)

    async def for_meeting(self, meeting_id: str) -> Server:
        """The server a meeting is created on; pins it (only create calls this)."""
        if len(self.servers) == 1:
            return self.servers[0]
        pinned = await self._pinned(meeting_id)
        if pinned is not None:
            return pinned
        choice = self.hashed(meeting_id)
        if not await self._store.set_nx(self._pin_key(meeting_id), choice.name.encode(),
                                        self._pin_ttl):
            raced = await self._pinned(meeting_id)  # another replica pinned it first
            if raced is not None:
                return raced
        return choice
