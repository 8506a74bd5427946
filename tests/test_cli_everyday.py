"""The command line a school admin meets first: help, demo, busy port, init, mistakes.

Each test runs the real `privacy-gateway` entry point (in a subprocess where the
behaviour is about the process: exit codes, stderr, listening) and asserts what
the person at the terminal sees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.cli.main import build_parser
from gateway.cli.support import EXIT_INTERRUPTED, run_quietly
from privacy_gateway import ADAPTERS, main
from tests.support import EXAMPLE, ROOT, deep_merge, example_policy, free_port, to_toml

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privacy_gateway", *args], env=ENV,
                          capture_output=True, text=True, timeout=60, **kwargs)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *_subparsers(child)]
    return found


def test_every_option_has_help_and_shows_its_default() -> None:
    commands = _subparsers(build_parser(ADAPTERS))
    assert {"serve", "demo", "check-config", "report", "init", "sweep", "hold"} <= {
        c.prog.split()[-1] for c in commands}
    for command in commands:
        for action in command._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{command.prog} {action.dest} has no help text"
    help_text = _cli("serve", "--help").stdout
    assert "(default: 8080)" in help_text and "(default: 127.0.0.1)" in help_text


def test_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`check-config FILE | head -1`: the reader goes away before the output is written."""
    with subprocess.Popen([sys.executable, "-m", "privacy_gateway", "check-config", str(EXAMPLE)],
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) != 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_ctrl_c_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_quietly(interrupted) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "privacy-gateway: stopped (Ctrl-C)"


def _demo_folder(tmp_path: Path) -> Path:
    """The example policy and its secret files, as the project folder holds them."""
    shutil.copy(EXAMPLE, tmp_path / "example.toml")
    shutil.copytree(ROOT / "config" / "dev-secrets", tmp_path / "dev-secrets")
    return tmp_path / "example.toml"


async def _wait_listening(port: int, proc: subprocess.Popen[str]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"demo exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("demo never listened")


async def test_demo_port_reaches_every_url(tmp_path: Path) -> None:
    """`demo --port P`: the printed address, the IdP issuer and the login all use P."""
    port = free_port()
    config = _demo_folder(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "privacy_gateway", "demo", "--config",
                             str(config), "--port", str(port)], env=ENV, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await _wait_listening(port, proc)
        base = f"http://localhost:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/dev-idp/.well-known/openid-configuration") as r:
                assert (await r.json())["issuer"] == f"{base}/dev-idp"
            for _ in range(50):  # the login's IdP metadata is fetched in the background
                async with http.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.2)
            assert r.status == 200
            async with http.get(f"{base}/", headers={"Accept-Language": "en"}) as r:
                assert "BigBlueButton is a stand-in on this machine" in await r.text()
            # The demo LMS page creates a lesson on the stand-in; its join links use P too.
            async with http.get(f"{base}/demo/lms", params={"name": "Les 1",
                                                             "type": "lesson"}) as r:
                page = await r.text()
            assert r.status == 200 and 'data-meeting="les-1-' in page
            assert f'id="join-teacher" href="{base}/bigbluebutton/api/join?' in page
            async with http.get(f"{base}/login", allow_redirects=False) as r:
                assert r.status in (302, 303)
                assert r.headers["Location"].startswith(f"{base}/dev-idp/authorize?")
            async with http.get(f"{base}/dev-idp/authorize?" + r.headers["Location"].split(
                    "?", 1)[1]) as r:  # the officer is a sample account
                assert "privacy@school.example" in await r.text()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"open {base}/" in stderr
    assert ":8080" not in stderr


def test_busy_port_is_one_line(tmp_path: Path) -> None:
    config = _demo_folder(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli("demo", "--config", str(config), "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    # Checked before the banner, the development warning and any log line: one line only.
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


@pytest.mark.parametrize("command", [["demo", "--port", "99999"], ["demo", "--port", "-1"],
                                     ["serve", "--port", "70000"], ["demo", "--port", "0"],
                                     ["serve", "--port", "http"]])
def test_a_port_outside_1_to_65535_is_a_plain_usage_error(
        command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(command)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --port:" in err and "1 to 65535" in err
    assert "Traceback" not in err and "open http" not in err


def test_every_command_says_what_it_does_in_its_help() -> None:
    for command in _subparsers(build_parser(ADAPTERS)):
        if command._subparsers is not None and not command.description:
            continue  # a group (audit): its commands say it
        assert command.description, f"{command.prog} --help has no description line"
    assert "validate a policy file" in _cli("check-config", "--help").stdout


async def test_demo_public_url_is_in_every_link(tmp_path: Path) -> None:
    """`demo --host 0.0.0.0 --public-url U`: another device follows every link (U, not
    localhost), the BBB stand-in's included."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    config = _demo_folder(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "privacy_gateway", "demo", "--config",
                             str(config), "--host", "0.0.0.0", "--port", str(port),
                             "--public-url", public], env=ENV, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await _wait_listening(port, proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{public}/dev-idp/.well-known/openid-configuration") as r:
                assert (await r.json())["issuer"] == f"{public}/dev-idp"
            async with http.get(f"{public}/demo/lms", params={"name": "Les 1",
                                                               "type": "lesson"}) as r:
                page = await r.text()
            assert f'id="join-teacher" href="{public}/bigbluebutton/api/join?' in page
            async with http.get(f"{public}/login", allow_redirects=False) as r:
                assert r.headers["Location"].startswith(f"{public}/dev-idp/authorize?")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert f"open {public}/" in stderr and "localhost" not in stderr


def test_init_then_check_config(tmp_path: Path) -> None:
    folder = tmp_path / "school"
    made = _cli("init", str(folder), "--public-url", "https://gw.school.example")
    assert made.returncode == 0, made.stderr
    for name in ("secrets/pseudonym.key", "secrets/idp-client.secret"):
        mode = stat.S_IMODE((folder / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
        assert len((folder / name).read_text().strip()) >= 32
    # From another folder: the secret paths are relative to the policy file.
    checked = _cli("check-config", str(folder / "policy.toml"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert 'public_url = "https://gw.school.example"' in checked.stdout
    assert "development = false" in checked.stdout
    assert "[dev_idp]\nenabled = false" in checked.stdout
    again = _cli("init", str(folder))
    assert again.returncode == 2 and "never overwrites" in again.stderr
    plain = _cli("init", str(tmp_path / "other"), "--public-url", "http://gw.school.example")
    assert plain.returncode == 2 and "https://" in plain.stderr


INCONSISTENT: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("dev-idp-issuer-vs-public-url", {"gateway": {"public_url": "http://localhost:9000"}},
     ("dev_idp.enabled", "gateway.public_url", "identity.providers[0].issuer",
      "http://localhost:8080/dev-idp")),
    ("officer-not-a-school-address",
     {"retention": {"privacy_officer_emails": ["privacy@andereschool.example"]}},
     ("retention.privacy_officer_emails", "identity.providers[*].allowed_email_domains")),
    ("officer-private-address", {"retention": {"privacy_officer_emails": ["dpo@gmail.com"]}},
     ("retention.privacy_officer_emails", "identity.consumer_domains")),
    ("default-purpose-nobody-may-start",
     {"purposes": {"lecture": {"may_start": ["staff"]}}},
     ("meeting_types.lesson.default_purpose", "meeting_types.lesson.record_roles",
      "purposes.lecture.may_start")),
    ("approval-audience-without-approval",
     {"playback": {"watch": {"feedback": ["approval"]}}},
     ("playback.watch.feedback", "purposes.feedback.needs_approval_reference")),
    ("same-room-rule-twice", {"jitsi": {"room_rules": [
        {"prefix": "team-", "meeting_type": "meeting"},
        {"prefix": "team-", "meeting_type": "confidential"}]}},
     ("jitsi.room_rules[0].prefix", "jitsi.room_rules[1].prefix")),
]


@pytest.mark.parametrize(("case", "changes", "names"), INCONSISTENT,
                         ids=[c[0] for c in INCONSISTENT])
def test_check_config_names_both_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      case: str, changes: dict[str, Any],
                                      names: tuple[str, ...]) -> None:
    shutil.copytree(ROOT / "config" / "dev-secrets", tmp_path / "dev-secrets")
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(deep_merge(example_policy(), changes)))
    with pytest.raises(SystemExit) as code:
        main(["check-config", str(path)])
    assert code.value.code == 2
    err = capsys.readouterr().err
    for name in names:
        assert name in err, err
    assert "Traceback" not in err


PLAIN: list[tuple[str, dict[str, Any], str]] = [
    ("domains-as-text", {"identity": {"providers": [{
        **example_policy()["identity"]["providers"][0],
        "allowed_email_domains": "school.example"}]}},
     "identity.providers[0].allowed_email_domains: expected a list of domains, got the text "
     "'school.example'"),
    ("flag-as-text", {"gateway": {"development": "yes"}},
     "gateway.development: expected true or false, got the text 'yes'"),
    ("too-short", {"gateway": {"session_ttl_seconds": 5}},
     "gateway.session_ttl_seconds: must be at least 300, got the number 5"),
    ("section-as-text", {"bbb": "on"}, "bbb: expected a table of keys"),
]


@pytest.mark.parametrize(("case", "changes", "message"), PLAIN, ids=[c[0] for c in PLAIN])
def test_validation_in_plain_words(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   case: str, changes: dict[str, Any], message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(deep_merge(example_policy(), changes)))
    with pytest.raises(SystemExit):
        main(["check-config", str(path)])
    err = capsys.readouterr().err
    assert message in err
    assert "Input should be" not in err and "valid tuple" not in err


def test_demo_on_every_interface_says_how_another_device_gets_in() -> None:
    from gateway.cli.main import reach_hint

    hint = reach_hint("0.0.0.0", 8097, None)
    assert hint and "--public-url http://" in hint and ":8097" in hint
    assert reach_hint("0.0.0.0", 8097, "http://192.168.1.20:8097") is None
    assert reach_hint("127.0.0.1", 8080, None) is None  # this machine only, as asked
    assert reach_hint("192.168.1.20", 8080, None) is None  # the links name that address
