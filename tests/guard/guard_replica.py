"""One gateway replica's BBB guard in its own process, so a test can SIGKILL it.

    python -m tests.guard.guard_replica BUS_URL STORE_URL BBB_URL SECRET

The store is a RedisStore (prefix "pgw") shared with the test's other replica;
the lease is short (guard_leader.Leadership) so a takeover fits a fast test.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from bbb_hooks.guard_bbb import BusGuard
from bbb_hooks.guard_leader import Leadership
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.policy.model import parse_policy
from gateway.pseudonym import Pseudonymiser
from gateway.store.base import Store
from gateway.store.redis_store import RedisStore
from tests.support import example_policy

LEASE = {"ttl": 1.5, "renew_every": 0.3, "retry_every": 0.2, "safety": 0.5}


def short_lease(store: Store) -> Leadership:
    """A lease short enough for a takeover inside a fast test."""
    return Leadership(store, ttl=LEASE["ttl"], renew_every=LEASE["renew_every"],
                      retry_every=LEASE["retry_every"], safety=LEASE["safety"])


def replica(store: Store, http: aiohttp.ClientSession, bus_url: str, bbb_url: str,
            secret: str) -> BusGuard:
    return BusGuard(policy=parse_policy(example_policy()), store=store, metrics=Metrics(),
                    audit=AuditLog(store, SystemClock(), 365),
                    pseudonyms=Pseudonymiser(b"k" * 32), http=http,
                    servers=[Server("bbb1", bbb_url, secret.encode(), "sha256")],
                    redis_url=bus_url, record_ttl=86400.0, leadership=short_lease(store))


async def main(bus_url: str, store_url: str, bbb_url: str, secret: str) -> None:
    store = RedisStore.from_url(store_url, "pgw")
    async with aiohttp.ClientSession() as http:
        await replica(store, http, bus_url, bbb_url, secret).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
