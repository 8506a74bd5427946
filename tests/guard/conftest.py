from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.guard.guard_rig import Rig, make_rig


@pytest.fixture
async def rig(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async for running in make_rig(redis_url, tmp_path):
        yield running
