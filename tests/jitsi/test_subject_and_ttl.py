"""`jitsi.subject` is required and concrete (never "*"), and a confidential room's token is
short-lived (finding 11; G3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.policy.model import ConfigError
from privacy_gateway import main as cli_main
from tests.jitsi.support import jitsi_settings
from tests.support import example_policy, to_toml, write_secret


@pytest.mark.parametrize("subject", ["*", "*.school.example", "", "MEET.school.example",
                                     "meet school", "localhost"])
def test_subject_must_be_a_concrete_domain(tmp_path: Path, subject: str) -> None:
    with pytest.raises(ConfigError, match=r"jitsi\.subject"):
        jitsi_settings(tmp_path, {"jitsi": {"subject": subject}})


def test_subject_is_required_when_jitsi_is_on(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Before, it defaulted to "*", which jitsi-contrib's token_no_wildcard refuses."""
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "pseudonym.key")
    for idp in data["identity"]["providers"]:
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    data["jitsi"].pop("subject")
    data["jitsi"].update({"enabled": True,
                          "app_secret_file": write_secret(tmp_path, "app.secret", 64),
                          "hook_secret_file": write_secret(tmp_path, "hook.secret")})
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    with pytest.raises(SystemExit):
        cli_main(["check-config", str(path)])
    assert "jitsi.subject is required" in capsys.readouterr().err


async def test_confidential_tokens_are_short_lived(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from privacy_gateway import create_app
    from tests.jitsi.support import enter_room, seed_session

    settings = jitsi_settings(tmp_path, {"jitsi": {"token_ttl_seconds": 3600,
                                                   "confidential_token_ttl_seconds": 120}})
    async with TestClient(TestServer(create_app(settings))) as client:
        cookie = await seed_session(client.app, "teacher")
        lifetimes = {}
        for room in ("lesson-ttl", "vertrouwelijk-ttl"):
            resp = await enter_room(client, f"room={room}", cookie)
            token = resp.headers["Location"].split("jwt=", 1)[1].split("#", 1)[0]
            import base64

            body = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            lifetimes[room] = claims["exp"] - claims["iat"]
    assert lifetimes == {"lesson-ttl": 3600, "vertrouwelijk-ttl": 120}
