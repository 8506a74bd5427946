"""Who may act as privacy officer (G11, G12): one rule for every officer page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.retention import keys as retention_keys
from gateway.store.base import MemoryStore
from privacy_gateway import create_app
from tests.retention.test_objections import login_as
from tests.support import make_settings

CONFIGURED = " Privacy@School.Example "  # as an admin might type it
OFFICER = "privacy@school.example"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = make_settings(tmp_path, {"retention": {"privacy_officer_emails": [CONFIGURED]}})
    clock = ManualClock(start=time.time())
    app = create_app(settings, clock=clock, store=MemoryStore("pgw", clock))
    app[retention_keys.BACKGROUND] = False
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.mark.parametrize(("role", "email", "status"), [
    ("staff", OFFICER, 200),
    ("teacher", "PRIVACY@school.example", 200),
    ("pupil", OFFICER, 403),
    ("guest", OFFICER, 403),
    ("staff", "someone@school.example", 403),
], ids=["staff_officer", "teacher_officer_any_case", "pupil_with_officer_email",
        "guest_with_officer_email", "staff_not_listed"])
@pytest.mark.parametrize("page", ["/admin/retention", "/admin/approvals"])
async def test_g12_only_a_staff_account_with_the_officers_email_decides(
        client: TestClient, page: str, role: str, email: str, status: int) -> None:
    await login_as(client, role, email, f"{role}-1")
    assert (await client.get(page)).status == status


@pytest.mark.parametrize("page", ["/admin/retention", "/admin/approvals"])
async def test_g12_officer_pages_send_a_visitor_to_the_login(client: TestClient,
                                                             page: str) -> None:
    response = await client.get(page, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")
