from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.bbb.support import Gateway, new_secret, start_gateway
from tests.emulators.bbb import BBBEmulator


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
