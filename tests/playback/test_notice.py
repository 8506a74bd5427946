"""/privacy and the DPIA report say who may watch each kind of recording (G14, G18, G22)."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from gateway.policy.report import render_report
from privacy_gateway import create_app
from tests.support import make_settings


def test_the_report_names_who_may_watch_per_purpose(tmp_path: Path) -> None:
    policy = make_settings(tmp_path, {"playback": {"watch": {"lecture": ["moderators"]}}}).policy
    report = render_report(policy, "en")
    assert "| lecture | 30 days | no | teacher | yes | moderators |" in report
    assert "| feedback | 14 days | yes | teacher | no | moderators, officer |" in report
    assert "by the officer only" in report and "never per person" in report
    assert "Wie mag kijken (G14)" in render_report(policy, "nl")


async def test_the_privacy_notice_says_who_may_watch(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, {"gateway": {"development": True}}))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/privacy?lang=en")
        page = await resp.text()
    assert resp.status == 200 and "Who may watch it?" in page
    lecture = page.split('data-purpose="lecture"')[1].split("</tr>")[0]
    feedback = page.split('data-purpose="feedback"')[1].split("</tr>")[0]
    assert "pupils and teachers of the school, through the learning platform" in lecture
    assert "only the teachers who led the lesson, the privacy officer" in feedback
    assert "a copied link does not work" in page
