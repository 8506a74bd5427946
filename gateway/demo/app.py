"""`privacy-gateway demo` put together: the gateway and every stand-in. NOT FOR PRODUCTION.

`build_demo` is what the command line runs and what the walk-through test
builds, so the two cannot drift apart. It refuses unless the policy says
`gateway.development = true` (gateway/demo/policy.py) and the development IdP
is on. Beside the gateway it runs, on this machine only:

- the BigBlueButton stand-in (gateway/demo/bbb_live.py: bbb-web's API,
  akka-apps on the bus, the demo meeting page) on a free port of the demo's
  host, its recordings in a temporary folder;
- a tiny Redis pub/sub broker for BBB's bus (gateway/demo/resp_broker.py) on a
  free localhost port, which the recording guard reads as `bbb.redis_url`;
- the demo LMS page, `/demo/lms` (gateway/demo/lms.py).

Their ports are bound before the policy is made, so every URL in it is right
from the start; they start and stop with the gateway (a start-up context).
A recording the stand-in makes is swept at once, so the privacy officer's
retention queue shows it without waiting for the sweep interval.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from gateway.adapter import Adapter
from gateway.config.loading import Settings
from gateway.demo import lms, mark_demo
from gateway.demo.bbb_live import LiveBBB
from gateway.demo.policy import STAND_IN, demo_settings, stand_in_url
from gateway.demo.resp_broker import RespBroker
from gateway.policy.model import ConfigError
from gateway.retention import keys as retention_keys

log = logging.getLogger(__name__)

@dataclass
class DemoParts:
    """The demo's stand-ins, reachable from the app (tests, screenshots)."""

    settings: Settings
    bbb_sock: socket.socket
    bus_sock: socket.socket
    bbb_root: Path | None = None  # the stand-in's recordings folder (the purge agent's --root)
    bbb: LiveBBB | None = None
    broker: RespBroker | None = None
    sweeps: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def bbb_url(self) -> str:
        return stand_in_url(self.settings.policy.gateway.public_url,
                            self.bbb_sock.getsockname()[1])


DEMO_PARTS = web.AppKey("demo_parts", DemoParts)


def _bound(host: str) -> socket.socket:
    """A listening socket on a free port (bound now: its number goes into the policy)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def build_demo(example: Path, host: str, port: int, adapters: Sequence[Adapter], *,
               public: str | None = None) -> web.Application:
    """The demo app for `privacy-gateway demo --host host --port port [--public-url U]`;
    ConfigError when the policy is not a development one."""
    from gateway.web.app import create_app

    bbb_sock = _bound(host if host not in ("", "localhost") else "127.0.0.1")
    bus_sock = _bound("127.0.0.1")
    root = Path(tempfile.mkdtemp(prefix="privacy-gateway-demo-bbb-"))
    try:
        settings = demo_settings(example, host, port, bbb_port=bbb_sock.getsockname()[1],
                                 bus_port=bus_sock.getsockname()[1], bbb_root=root,
                                 public=public)
        if not settings.policy.dev_idp.enabled:
            raise ConfigError(f"{example}: the demo needs dev_idp.enabled = true")
    except BaseException:
        bbb_sock.close()
        bus_sock.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    parts = DemoParts(settings, bbb_sock, bus_sock, bbb_root=root)
    app = create_app(settings, adapters=[_adapter(parts), *adapters])
    mark_demo(app)
    return app


def _adapter(parts: DemoParts) -> Adapter:
    def setup(app: web.Application) -> None:
        app[DEMO_PARTS] = parts
        lms.add_routes(app)
        app.cleanup_ctx.append(_stand_ins)

    return Adapter(name="demo", enabled=lambda s: s.policy.gateway.development, setup=setup,
                   template_dir=Path(__file__).parent / "templates", messages=(lms.MESSAGES,))


async def _stand_ins(app: web.Application) -> AsyncIterator[None]:
    """Broker and BBB stand-in up before the recording guard connects; down after."""
    parts = app[DEMO_PARTS]
    settings = parts.settings
    index = next(i for i, s in enumerate(settings.policy.bbb.servers) if s.name == STAND_IN)
    secret = settings.secrets.get(f"bbb.servers[{index}].secret").decode()
    assert parts.bbb_root is not None
    root = parts.bbb_root
    try:
        broker = RespBroker()
        bbb = LiveBBB(secret, root, broker, gateway_url=settings.policy.gateway.public_url,
                      default_language=settings.policy.gateway.default_language,
                      on_recording=lambda record_id: _sweep_soon(app, parts))
        await broker.start(parts.bus_sock)
        await bbb.serve(parts.bbb_sock, parts.bbb_url)
        parts.bbb, parts.broker = bbb, broker
        try:
            yield
        finally:
            for task in list(parts.sweeps):
                task.cancel()
            await asyncio.gather(*parts.sweeps, return_exceptions=True)
            await bbb.stop()
            await broker.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _sweep_soon(app: web.Application, parts: DemoParts) -> None:
    """A new recording: sweep now, so it is registered and shows in the retention queue."""
    async def sweep() -> None:
        sweeper = app.get(retention_keys.SWEEPER)
        if sweeper is None:
            return
        try:
            for _ in range(50):  # the background sweep may hold the lease for a moment
                if await sweeper.sweep_if_leader() is not None:
                    return
                await asyncio.sleep(0.1)
        except Exception:
            log.exception("demo: the sweep after a new recording failed")

    task = asyncio.get_running_loop().create_task(sweep())
    parts.sweeps.add(task)
    task.add_done_callback(parts.sweeps.discard)

