"""Load and fault suite: two gateway replicas, a real Redis, the BBB stand-in and its bus.

    python -m bench.soak [--seconds 60] [--joins 200] [--creates 50] [--events 5000]

Parts, each its own process except the stand-in and the load: two `privacy-gateway
serve` replicas sharing a store redis-server (AOF), a second redis-server as BBB's
bus, the school's OpenID provider (tests/op), and this process: the BBB stand-in
(tests/guard/bbb_bus.GuardEmulator: bbb-web with live recording flags) and the load.

Load, paced per 10 ms tick for `--seconds`:
- joins: an LMS join on one replica (a ticket), redeemed on the other replica by a
  browser that logged in before the run (its session in Redis); every `--login-every`
  th join is a fresh browser that logs in at the OP on the way (ticket -> login ->
  callback -> BBB join URL);
- creates: LMS creates with fresh meeting ids, alternating replicas;
- bus: `--events` talking/mute/camera events per second in 100 meetings, and in 20
  lessons a cycle of pupils' cameras on, recording started (on the bus and in the
  stand-in's API), until the guard publishes its first command for that lesson.

Faults: replica B, which leads the guard (started first), is SIGKILLed at 40 % of
the run; the store's redis-server is restarted (SIGTERM: AOF flushed, then started
again on the same port and files) at 20 %. The load balances like a load balancer that
notices a dead replica at once: from the kill on, new requests go to live replicas
only (a real one needs its health check or a retry of the refused connection).
Replica A is the public URL (the IdP's redirect URI), so logins survive the kill.

Report: requests by kind and outcome (5xx, other failures, failures in flight on the
killed replica), lost tickets (a ticket refused on the other replica) and lost
sessions (a logged-in browser sent to log in again), guard actions (recording starts
without a guard command within 10 s are missed; p50/p99 latency), leader failover
time (kill until replica A reports privacy_gateway_guard_connected 1), RSS per
replica after warm-up and at the end, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bench.soak_parts import (
    KILL_AT,
    Failed,
    Options,
    Replica,
    Report,
    metric,
    print_report,
    restart_gracefully,
    wait_leader,
)
from tests.bbb.support import bbb_changes, lms_url
from tests.bbb.support import new_secret as new_bbb_secret
from tests.gateway_fixtures import gateway_settings, new_secret, school_op
from tests.guard import bbb_bus as bus
from tests.guard.bbb_bus import GuardEmulator
from tests.oidc_provider import browser_login
from tests.redis_procs import start_redis
from tests.support import ROOT, free_port

TICK = 0.01
LESSONS, BACKGROUND_MEETINGS, USERS = 20, 100, 30
GUARD_DEADLINE = 10.0
WARM_UP = 0.15  # of the run, before the first fault (the Redis restart at 20 %)
ACCOUNTS = ("pupil", "teacher")


class Soak:
    def __init__(self, options: Options, work: Path) -> None:
        self.o, self.work, self.report = options, work, Report()
        self.replicas: list[Replica] = []
        self.begin = time.monotonic()
        self.rng = random.Random(16)
        self.pending: dict[str, float] = {}  # lesson internal id -> recording start time

    # -- set-up ---------------------------------------------------------------------------

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        # As deploy/README.md asks for production: AOF, fsync every second.
        self.store = start_redis(self.work / "store", ["--appendonly", "yes",
                                                       "--appendfsync", "everysec"])
        self.bus = start_redis(self.work / "bus")
        stack.callback(self.store.kill)
        stack.callback(self.bus.kill)
        self.emulator = GuardEmulator(new_bbb_secret(), self.work / "bbb")
        await self.emulator.start()
        stack.push_async_callback(self.emulator.stop)
        port_a, port_b, secret = free_port(), free_port(), new_secret()
        self.op = stack.enter_context(school_op(self.work / "op", port_a, secret))
        self.lms_secret = new_bbb_secret()
        url_files = {}
        for name, server in (("store", self.store), ("bus", self.bus)):
            url_files[name] = self.work / f"{name}.url"
            url_files[name].write_text(f"redis://127.0.0.1:{server.port}/0")
        changes = bbb_changes(self.work, [self.emulator], [self.lms_secret],
                              redis_url_file=str(url_files["bus"]))
        changes["store"] = {"redis_url_file": str(url_files["store"])}
        gateway_settings(self.work, self.op, port_a, secret, changes)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        config = self.work / "policy.toml"
        b = Replica("B", port_b, config, env)  # first: it takes the guard's lease
        self.replicas.append(b)
        stack.callback(b.stop)
        await wait_leader(b, 30)
        a = Replica("A", port_a, config, env)
        self.replicas.insert(0, a)
        stack.callback(a.stop)
        await self._wait_ready(a)

    async def _wait_ready(self, replica: Replica) -> None:
        for _ in range(300):
            if await asyncio.to_thread(metric, replica.base,
                                       "privacy_gateway_request_duration_seconds_count") \
                    is not None:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"replica {replica.name} did not start")

    async def prepare(self, http: aiohttp.ClientSession) -> None:
        """Lessons on the bus and in the stand-in; join meetings; logged-in browsers."""
        self.lessons = []
        for i in range(LESSONS):
            pupils = [f"w_l{i:02d}p{u:03d}" for u in range(4)]
            attendees = [{"userID": f"w_l{i:02d}t", "fullName": "Docent", "role": "MODERATOR"},
                         *({"userID": p, "fullName": "Leerling", "role": "VIEWER",
                            "hasVideo": "true"} for p in pupils)]
            internal = self.emulator.add_meeting(f"lesson-{i}", attendees)
            await self._publish([bus.created(internal, f"lesson-{i}"),
                                 bus.joined(internal, f"w_l{i:02d}t", "MODERATOR", True),
                                 *(bus.joined(internal, p, "VIEWER") for p in pupils)])
            self.lessons.append((internal, pupils))
        self.join_meetings = [f"join-{i}" for i in range(10)]
        for meeting in self.join_meetings:
            async with http.get(self._lms(self.replicas[0], "create", meeting)) as r:
                assert "SUCCESS" in await r.text(), "create before the run failed"
        self.browsers = []
        for i in range(self.o.sessions):
            browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            ticket = await self._ticket(http, self.replicas[0], self.join_meetings[0])
            result = await browser_login(browser, ticket, ACCOUNTS[i % 2], op=self.op)
            assert result.location and result.location.startswith(self.emulator.url), \
                "a login before the run did not reach BBB"
            self.browsers.append(browser)

    def _lms(self, replica: Replica, call: str, meeting: str) -> Any:
        params = [("meetingID", meeting)]
        if call == "create":
            params += [("name", "Les"), ("record", "true"), ("attendeePW", "ap"),
                       ("moderatorPW", "mp")]
        else:
            params += [("fullName", "Leerling"), ("role", "VIEWER")]
        return lms_url(replica.base, call, params, self.lms_secret)

    async def _ticket(self, http: aiohttp.ClientSession, replica: Replica,
                      meeting: str) -> str:
        async with http.get(self._lms(replica, "join", meeting), allow_redirects=False) as r:
            if r.status != 302:
                raise Failed(f"http_{r.status}")
            location = r.headers["Location"]
        return location if location.startswith("http") else replica.base + location

    async def _publish(self, messages: list[bytes]) -> None:
        pipe = self.bus_client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(codec.FROM_AKKA, message)
        await pipe.execute()

    # -- load -----------------------------------------------------------------------------

    def _live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    async def _request(self, kind: str, replicas: tuple[Replica, ...], call: Any) -> None:
        """Run one request (or a join's two); count its outcome. A connection failure is
        "in flight on the killed replica" when it started before that replica died."""
        started = time.monotonic()
        try:
            await call
            self.report.count(kind, "ok")
        except Failed as exc:
            self.report.count(kind, exc.outcome)
            self._note(f"{kind} {exc.outcome} {exc.detail}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if any(r.killed_at and started <= r.killed_at for r in replicas):
                self.report.count(kind, "in_flight_on_killed")
            else:
                self.report.count(kind, "connection_error")
                self._note(f"{kind} {exc.__class__.__name__}")
            for replica in replicas:
                if replica.proc.poll() is not None:
                    replica.alive = False  # the load balancer's health check

    def _note(self, text: str) -> None:
        if len(self.report.notes) < 20:
            self.report.notes.append(f"t={time.monotonic() - self.begin:5.1f}s {text}")

    async def _join(self, http: aiohttp.ClientSession, n: int) -> None:
        live = self._live()
        lms, redeem = live[n % len(live)], live[(n + 1) % len(live)]
        meeting = self.join_meetings[n % len(self.join_meetings)]
        if n % self.o.login_every == 0:
            await self._request("login_join", (lms,), self._fresh_login(http, lms, meeting))
            return

        async def joined() -> None:
            ticket = await self._ticket(http, lms, meeting)
            ticket = ticket.replace(lms.base, redeem.base, 1)
            browser = self.browsers[n % len(self.browsers)]
            async with browser.get(ticket, allow_redirects=False) as r:
                location = r.headers.get("Location", "")
                if r.status >= 500:
                    raise Failed("http_5xx")
                if r.status == 302 and location.startswith(self.emulator.url):
                    return
                if "/login" in location or "oidc" in location:
                    raise Failed("lost_session")
                raise Failed("lost_ticket" if r.status in (404, 410) else f"http_{r.status}",
                              location or (await r.text()))

        await self._request("join", (lms, redeem), joined())

    async def _fresh_login(self, http: aiohttp.ClientSession, lms: Replica,
                           meeting: str) -> None:
        ticket = await self._ticket(http, lms, meeting)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            result = await browser_login(browser, ticket, "pupil", op=self.op)
        if not (result.location or "").startswith(self.emulator.url):
            raise Failed("http_5xx" if result.response_status >= 500 else "login_failed")

    async def _create(self, http: aiohttp.ClientSession, n: int) -> None:
        live = self._live()
        replica = live[n % len(live)]

        async def created() -> None:
            async with http.get(self._lms(replica, "create", f"soak-{n}")) as r:
                text = await r.text()
                if r.status >= 500:
                    raise Failed("http_5xx")
                if "<returncode>SUCCESS" not in text:
                    raise Failed("failed_answer", text)

        await self._request("create", (replica,), created())

    async def _events(self, rate: float, stop: float) -> None:
        rng, sent, start = random.Random(3), 0, time.monotonic()
        while time.monotonic() < stop:
            batch = []
            while sent < int((time.monotonic() - start) * rate):
                sent += 1
                m = rng.randrange(BACKGROUND_MEETINGS)
                meeting = bus.internal_meeting_id(f"bg{m}")
                batch.append(bus.talking(meeting, f"w_bg{m:03d}{rng.randrange(USERS):03d}",
                                         rng.random() < 0.5))
            if batch:
                with contextlib.suppress(Exception):
                    await self._publish(batch)
            self.report.achieved["events"] = self.report.achieved.get("events", 0) + len(batch)
            await asyncio.sleep(TICK)

    async def _lesson_cycle(self, stop: float) -> None:
        """Recording starts one lesson after another, each awaited (or missed) in turn."""
        i = 0
        while time.monotonic() < stop - GUARD_DEADLINE / 2:
            internal, pupils = self.lessons[i % LESSONS]
            external = f"lesson-{i % LESSONS}"
            i += 1
            await self._publish([bus.camera(internal, p, True) for p in pupils])
            self.emulator.recording.add(external)
            self.pending[internal] = time.monotonic()
            await self._publish([bus.recording(internal, f"w_l{(i - 1) % LESSONS:02d}t", True)])
            while internal in self.pending:
                if time.monotonic() - self.pending[internal] > GUARD_DEADLINE:
                    del self.pending[internal]
                    self.report.guard_missed += 1
                    self._note(f"guard missed the recording start in lesson {(i - 1) % LESSONS}")
                    break
                await asyncio.sleep(0.01)
            self.emulator.recording.discard(external)
            await self._publish([bus.recording(internal, f"w_l{(i - 1) % LESSONS:02d}t", False),
                                 *(bus.camera(internal, p, False) for p in pupils)])
            await asyncio.sleep(0.2)

    async def _commands(self) -> None:
        """The guard's commands on the bus: the first for a pending lesson is its action."""
        pubsub = self.bus_client.pubsub()
        await pubsub.subscribe(codec.TO_AKKA)
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is None:
                    continue
                meeting = json.loads(message["data"])["core"]["header"].get("meetingId")
                started = self.pending.pop(meeting, None)
                if started is not None:
                    self.report.guard_latency.append(time.monotonic() - started)
        finally:
            await pubsub.aclose()

    async def _paced(self, rate: float, action: Any, stop: float) -> int:
        tasks: set[asyncio.Task[None]] = set()
        n, start = 0, time.monotonic()
        while time.monotonic() < stop:
            due = int((time.monotonic() - start) * rate)
            while n < due:
                task = asyncio.create_task(action(n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            await asyncio.sleep(TICK)
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        return n

    async def _faults(self, begin: float) -> None:
        """The store's Redis restarts at 20 % of the run, the guard's leader dies at 40 %."""
        seconds = self.o.seconds
        await asyncio.sleep(max(0.0, begin + 0.2 * seconds - time.monotonic()))
        self._note("restarting the store's redis-server")
        await asyncio.to_thread(restart_gracefully, self.store)
        self._note("redis-server is back")
        await asyncio.sleep(max(0.0, begin + KILL_AT * seconds - time.monotonic()))
        leader = self.replicas[1]
        leader.kill()
        leader.alive = False
        self._note("replica B (the guard's leader) SIGKILLed")
        self.report.failover = await wait_leader(self.replicas[0], 30)
        self._note("replica A leads the guard")

    async def _memory(self, begin: float, stop: float) -> None:
        """RSS of each live replica every half second. Growth is counted from the end of
        the warm-up (WARM_UP of the run: imports done lazily, connection pools and
        allocator arenas grown to the load), so it shows what keeps growing."""
        first: dict[str, int] = {}
        while time.monotonic() < stop:
            elapsed = time.monotonic() - begin
            for replica in self.replicas:
                if replica.alive:
                    rss = replica.rss()
                    self.report.rss_series.setdefault(replica.name, []).append((elapsed, rss))
                    if elapsed > WARM_UP * self.o.seconds:
                        first.setdefault(replica.name, rss)
                    self.report.rss[replica.name] = (first.get(replica.name, rss), rss)
            await asyncio.sleep(0.5)

    async def run(self) -> Report:
        async with contextlib.AsyncExitStack() as stack:
            await self.start(stack)
            self.bus_client = Redis(port=self.bus.port)
            stack.push_async_callback(self.bus_client.aclose)
            connector = aiohttp.TCPConnector(limit=200)
            http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            await self.prepare(http)
            for browser in self.browsers:
                stack.push_async_callback(browser.close)
            listener = asyncio.create_task(self._commands())
            begin = self.begin = time.monotonic()
            stop = begin + self.o.seconds
            parts = await asyncio.gather(
                self._paced(self.o.joins, lambda n: self._join(http, n), stop),
                self._paced(self.o.creates, lambda n: self._create(http, n), stop),
                self._events(self.o.events, stop), self._lesson_cycle(stop),
                self._faults(begin), self._memory(begin, stop))
            listener.cancel()
            elapsed = self.o.seconds
            self.report.achieved["joins"] = parts[0] / elapsed
            self.report.achieved["creates"] = parts[1] / elapsed
            self.report.achieved["events"] = self.report.achieved.get("events", 0) / elapsed
            self.report.load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        return self.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--joins", type=float, default=200)
    parser.add_argument("--creates", type=float, default=50)
    parser.add_argument("--events", type=float, default=5000)
    parser.add_argument("--login-every", type=int, default=50)
    args = parser.parse_args()
    options = Options(args.seconds, args.joins, args.creates, args.events, args.login_every)
    with tempfile.TemporaryDirectory(prefix="pgw-soak-") as work:
        report = asyncio.run(Soak(options, Path(work)).run())
    print_report(options, report)


if __name__ == "__main__":
    main()
