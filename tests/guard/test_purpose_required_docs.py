"""Purpose required (G11, G18, G22): what the policy says, check-config, the report and
/privacy describe the same way the guard enforces it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config.loading import load_settings
from gateway.policy.model import parse_policy
from gateway.policy.report import render_report
from privacy_gateway import main
from tests.guard.page_rig import open_page
from tests.support import deep_merge, example_policy

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"meeting_types": {"lesson": {"default_purpose": "none", "purpose_required": True}}}


def _policy_file(tmp_path: Path) -> Path:
    """The example policy with the lesson's default purpose taken away."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    path = config / "example.toml"
    text = path.read_text()
    assert text.count('default_purpose = "lecture"') == 1
    path.write_text(text.replace('default_purpose = "lecture"', 'default_purpose = "none"'))
    return path


def test_check_config_shows_it_and_round_trips(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _policy_file(tmp_path)
    assert load_settings(path, env={}).policy.meeting_types["lesson"].default_purpose is None
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'default_purpose = "none"' in out and "default_purpose = null" not in out
    assert ("Lesson: a recording needs a purpose the teacher chooses beforehand. Without one, "
            "the recording stops at once.") in out


def test_report_describes_it() -> None:
    policy = parse_policy(deep_merge(example_policy(), REQUIRED))
    report = render_report(policy, "en")
    assert "lesson: recording allowed" in report and "default purpose none" in report
    assert "Lesson: a recording needs a purpose the teacher chooses beforehand." in report
    nl = render_report(policy, "nl")
    assert "Les: een opname kan alleen met een doel dat de leraar vooraf kiest." in nl
    default = render_report(parse_policy(example_policy()), "en")
    assert "Lesson: if the teacher chooses no purpose, 'Lesson to watch later' applies." in default


async def test_privacy_page_describes_it(redis_url: str, tmp_path: Path) -> None:
    async for page in open_page(redis_url, tmp_path, REQUIRED):
        response = await page.client.get("/privacy?lang=en")
        body = await response.text()
        assert response.status == 200
        assert "Lesson: a recording needs a purpose the teacher chooses beforehand." in body
        assert "Confidential talk: never recorded." in body
