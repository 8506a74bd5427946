from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, new_secret, start_gateway


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[BBBEmulator]:
    emu = BBBEmulator(new_secret(), tmp_path / "var-bigbluebutton")
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def gateway(tmp_path: Path, emulator: BBBEmulator) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path, [emulator])
    yield gw
    await gw.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[Gateway, list[BBBEmulator]]]:
    """A gateway in front of two BBB servers (pinning, merged lists, one server down)."""
    emus = [BBBEmulator(new_secret(), tmp_path / f"var{i}") for i in range(2)]
    for emu in emus:
        await emu.start()
    gw = await start_gateway(tmp_path, emus)
    yield gw, emus
    await gw.close()
    for emu in emus:
        await emu.stop()
