"""The policy file: every kind of mistake stops start-up naming file and key (G19)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config.loading import load_settings
from gateway.policy.model import ConfigError
from privacy_gateway import main
from tests.support import EXAMPLE, ROOT, deep_merge, example_policy, to_toml, write_secret


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    data = deep_merge(data, {})
    data["gateway"].setdefault("pseudonym_key_file", "")
    if data["gateway"]["pseudonym_key_file"].startswith("dev-secrets"):
        data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "p.key")
    for idp in data["identity"]["providers"]:
        if str(idp.get("client_secret_file", "")).startswith("dev-secrets"):
            idp["client_secret_file"] = write_secret(tmp_path, "c.secret")
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    return path


def test_example_policy_starts_as_is() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.policy.purposes["lecture"].pupils_visible is False
    assert settings.secrets.has("gateway.pseudonym_key")


def _idp(**changes: Any) -> dict[str, Any]:
    return {"identity": {"providers": [{**example_policy()["identity"]["providers"][0],
                                        **changes}]}}


MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-key", {"gateway": {"colour": "blue"}}, "gateway.colour: unknown key"),
    ("unknown-section", {"zoom": {"enabled": True}}, "zoom: unknown key"),
    ("wrong-type", {"gateway": {"session_ttl_seconds": "long"}},
     "gateway.session_ttl_seconds: Input should be a valid integer"),
    ("out-of-range", {"gateway": {"session_ttl_seconds": 5}}, "gateway.session_ttl_seconds"),
    ("secret-in-file", _idp(client_secret="hunter2-hunter2-hunter2"),
     "identity.providers[0].client_secret: unknown key (secrets never go in the file"),
    ("bad-purpose-name", {"meeting_types": {"lesson": {"default_purpose": "surveillance"}}},
     "meeting_types.lesson.default_purpose"),
    ("confidential-recordable", {"meeting_types": {"confidential": {"recording_allowed": True}}},
     "confidential.recording_allowed must be false (G3)"),
    ("lecture-shows-pupils", {"purposes": {"lecture": {"pupils_visible": True}}},
     "purposes.lecture.pupils_visible must be false (G10)"),
    ("leeway-too-large", _idp(leeway_seconds=300), "identity.providers[0].leeway_seconds"),
    ("no-account-rule", _idp(allowed_email_domains=[], allowed_tenants=[]),
     "needs allowed_email_domains and/or allowed_tenants (G1)"),
    ("bad-domain", _idp(allowed_email_domains=["not a domain"]), "is not a valid domain name"),
    ("weak-hs-alg", _idp(algorithms=["HS256"]), "identity.providers[0].algorithms[0]"),
    ("dev-idp-in-production", {"gateway": {"development": False,
                                           "public_url": "https://gw.school.example"}},
     "dev_idp.enabled needs gateway.development = true"),
    ("http-in-production", {"gateway": {"development": False}, "dev_idp": {"enabled": False}},
     "gateway.public_url must be https://"),
    ("bbb-without-servers", {"bbb": {"enabled": True}}, "needs at least one server"),
    ("G17-public-jitsi", {"jitsi": {"enabled": True, "base_url": "https://meet.jit.si"}},
     "jitsi.base_url: meet.jit.si is a public service, not the school's own server (G17)"),
    ("G17-plain-http-bbb", {"gateway": {"development": False,
                                        "public_url": "https://gw.school.example"},
                            "dev_idp": {"enabled": False},
                            "bbb": {"servers": [{"name": "bbb1",
                                                 "url": "http://bbb.school.example/bigbluebutton",
                                                 "secret_env": "X"}]}},
     "bbb.servers[0].url must be https:// outside development (G17)"),
]


@pytest.mark.parametrize(("case", "changes", "message"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_policy_mistake_names_the_key(tmp_path: Path, case: str, changes: dict[str, Any],
                                      message: str) -> None:
    path = _write(tmp_path, deep_merge(example_policy(), changes))
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert str(path) in str(err.value)
    assert message in str(err.value)


SECRET_MISTAKES: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("unreadable-file", {"gateway": {"pseudonym_key_file": "/nonexistent/key"}}, {},
     "gateway.pseudonym_key_file: cannot read /nonexistent/key"),
    ("env-not-set", {"gateway": {"pseudonym_key_file": None,
                                 "pseudonym_key_env": "PGW_KEY"}}, {},
     "environment variable PGW_KEY is not set"),
    ("weak-secret", {"gateway": {"pseudonym_key_file": None, "pseudonym_key_env": "PGW_KEY"}},
     {"PGW_KEY": "short"}, "gateway.pseudonym_key: secret too weak: 5 bytes, at least 32"),
    ("both-env-and-file", {"gateway": {"pseudonym_key_env": "PGW_KEY"}},
     {"PGW_KEY": "x" * 40}, "give either _env or _file, not both"),
    ("jitsi-hs256-short", {"jitsi": {"enabled": True, "app_secret_env": "JS",
                                     "hook_secret_env": "HS"}},
     {"JS": "s" * 31, "HS": "h" * 40}, "jitsi.app_secret: secret too weak: 31 bytes, at least 32"),
    ("jitsi-hs512-short", {"jitsi": {"enabled": True, "signature_algorithm": "HS512",
                                     "app_secret_env": "JS", "hook_secret_env": "HS"}},
     {"JS": "s" * 40, "HS": "h" * 40}, "at least 64"),
]


@pytest.mark.parametrize(("case", "changes", "env", "message"), SECRET_MISTAKES,
                         ids=[m[0] for m in SECRET_MISTAKES])
def test_secret_mistake_names_the_key(tmp_path: Path, case: str, changes: dict[str, Any],
                                      env: dict[str, str], message: str) -> None:
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "p.key")
    data["identity"]["providers"][0]["client_secret_file"] = write_secret(tmp_path, "c")
    data = deep_merge(data, changes)
    data["gateway"] = {k: v for k, v in data["gateway"].items() if v is not None}
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    with pytest.raises(ConfigError) as err:
        load_settings(path, env=env)
    assert message in str(err.value)


@pytest.mark.parametrize(("content", "message"), [
    (b"[gateway\npublic_url = 1", "not valid TOML"),
    (b"\xff\xfe[gateway]", "not UTF-8"),
])
def test_unreadable_policy_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env={})


def test_check_config_exits_non_zero_with_the_message(tmp_path: Path) -> None:
    path = _write(tmp_path, deep_merge(example_policy(), {"gateway": {"colour": "blue"}}))
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "check-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2
    assert "gateway.colour: unknown key" in proc.stderr
    assert str(path) in proc.stderr


def test_check_config_prints_the_effective_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert "[purposes.lecture]" in out and "retention_days = 30" in out
    assert "dev-secrets/pseudonym.key" in out  # where the secret comes from
    secret = (ROOT / "config" / "dev-secrets" / "pseudonym.key").read_text().strip()
    assert secret not in out  # never the secret itself


def test_serve_refuses_a_broken_policy(tmp_path: Path) -> None:
    path = _write(tmp_path, deep_merge(example_policy(), {"purposes": {"lecture": {
        "retention_days": 0}}}))
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--config", str(path)])
    assert exited.value.code == 2


def test_report_describes_processing_from_the_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """G22: the DPIA description follows the active policy."""
    assert main(["report", "--config", str(EXAMPLE), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "| lecture | 30 days | no | teacher | yes |" in out
    assert "| exam_evidence | 180 days | yes | teacher, staff | no |" in out  # G14: archive only
    assert "Public task" in out


def test_report_says_never_for_transcription_when_the_policy_turns_it_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """G15, G22: the DPIA description states what is enforced, not what a type allows."""
    path = _write(tmp_path, deep_merge(example_policy(), {"transcription": {"mode": "off"}}))
    assert main(["report", "--config", str(path), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "- lesson: recording allowed, transcription never" in out
