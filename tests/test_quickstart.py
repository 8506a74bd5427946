"""The README's first command, as a newcomer runs it on a fresh machine.

It must create and use a venv in the project folder (PEP 668: Debian's own
Python refuses `pip install` outside one) and start the demo. The project is
copied as git tracks it, the command is taken from the README word for word
(only `--port` is added so the test does not need port 8080), and the demo must
answer. pip's own cache keeps the run short.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import ROOT, free_port


def first_readme_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):]
    match = re.search(r"```sh\n(.+?)\n```", quick, re.S)
    assert match, "the quick start has no sh block"
    return match.group(1).strip()


def test_first_command_creates_and_uses_a_project_venv() -> None:
    command = first_readme_command()
    assert command.startswith("python3 -m venv .venv && ")
    assert "pip install" in command and "--break-system-packages" not in command
    assert command.endswith("privacy-gateway demo")


def _copy_project(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.mark.timeout(600)
def test_first_command_on_a_fresh_copy(tmp_path: Path) -> None:
    if shutil.which("python3") is None:
        pytest.fail("python3 is not on PATH")
    project = tmp_path / "project"
    _copy_project(project)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    log = (tmp_path / "quickstart.log").open("w")
    proc = subprocess.Popen(["bash", "-c", f"{first_readme_command()} --port {port}"],
                            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 540
        while True:
            assert proc.poll() is None, (tmp_path / "quickstart.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the demo did not start"
                time.sleep(0.5)
        cli = project / ".venv" / "bin" / "privacy-gateway"
        # The installed package carries its data: the starter policy `init` writes.
        made = subprocess.run([str(cli), "init", str(tmp_path / "school")], env=env,
                              capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
    assert f"open http://localhost:{port}/" in (tmp_path / "quickstart.log").read_text()
