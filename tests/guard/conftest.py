from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.guard.guard_rig import Rig, make_rig
from tests.guard.page_rig import Page, open_page


@pytest.fixture
async def rig(redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    async for running in make_rig(redis_url, tmp_path):
        yield running


@pytest.fixture
async def page(redis_url: str, tmp_path: Path) -> AsyncIterator[Page]:
    """A whole gateway with the guard on the bus (tests/guard/page_rig.py)."""
    async for opened in open_page(redis_url, tmp_path):
        yield opened
