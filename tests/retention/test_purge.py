"""The BBB purge agent removes what `bbb-record --delete` removes, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bbb_hooks.purge import PurgeError, purge
from privacy_gateway import main

RID = "a" * 40 + "-1700000000000"
OTHER = "b" * 40 + "-1700000000001"


def build_tree(root: Path, rid: str) -> list[Path]:
    paths = [
        root / "recording" / "raw" / rid / "events.xml",
        root / "recording" / "status" / "archived" / f"{rid}.done",
        root / "recording" / "status" / "published" / f"{rid}-presentation.done",
        root / "recording" / "process" / "presentation" / rid / "x.svg",
        root / "recording" / "publish" / "presentation" / rid / "y.xml",
        root / "published" / "presentation" / rid / "metadata.xml",
        root / "unpublished" / "video" / rid / "video.webm",
        root / "deleted" / "presentation" / rid / "metadata.xml",
        root / "screenshare" / f"{rid}-1.flv",
        root / rid / rid / "slides.pdf",
        root / "events" / rid / "events.xml",
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("data")
    return paths


def test_purge_removes_every_trace_and_keeps_other_recordings(tmp_path: Path) -> None:
    root = tmp_path / "bbb"
    mine = build_tree(root, RID)
    other = build_tree(root, OTHER)
    media = tmp_path / "freeswitch"
    media.mkdir()
    (media / f"{RID}-1.wav").write_text("audio")
    report = purge(root, RID, [media])
    assert report.remaining == ()
    assert not any(p.exists() for p in mine)
    assert not (media / f"{RID}-1.wav").exists()
    assert all(p.exists() for p in other)
    assert purge(root, RID, [media]).removed == ()  # idempotent


@pytest.mark.parametrize("bad_id", [
    "../../etc", "..", "a" * 40, RID + "/..", "/" + RID, RID.upper(), RID + "\n",
    "a" * 40 + "-170000000000", "*", "",
], ids=["traversal", "dotdot", "no_time", "suffix_traversal", "absolute", "upper_case",
        "newline", "short_time", "glob", "empty"])
def test_path_traversal_is_refused(tmp_path: Path, bad_id: str) -> None:
    build_tree(tmp_path, RID)
    with pytest.raises(PurgeError):
        purge(tmp_path, bad_id)
    assert (tmp_path / "recording" / "raw" / RID / "events.xml").exists()


def test_symlink_is_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    root = tmp_path / "bbb"
    (root / "recording" / "raw").mkdir(parents=True)
    (root / "recording" / "raw" / RID).symlink_to(outside)
    report = purge(root, RID)
    assert report.remaining == ()
    assert (outside / "keep.txt").read_text() == "keep"


def test_cli_reports_json_and_exit_codes(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    build_tree(tmp_path, RID)
    assert main(["bbb-purge", RID, "--root", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["remaining"] == [] and len(report["removed"]) == 11
    assert main(["bbb-purge", "../x", "--root", str(tmp_path)]) == 2
    assert main(["bbb-purge", RID, "--root", str(tmp_path / "missing")]) == 2


def test_module_entry_point_runs_without_the_gateway(tmp_path: Path) -> None:
    build_tree(tmp_path, RID)
    done = subprocess.run([sys.executable, "-m", "bbb_hooks.purge", RID, "--root",
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert json.loads(done.stdout)["remaining"] == []
