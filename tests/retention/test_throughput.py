"""1,000 due BBB recordings deleted and verified within the target (G16).

Against the BBB stand-in with the real purge agent (bench.retention runs the
same and prints the figure). Before batching, each deletion started its own
purge agent and its own checks: about 0.9 s per recording.
"""

from __future__ import annotations

from pathlib import Path

from bench.retention import delete_due_run

TARGET_SECONDS = 60.0


async def test_g16_a_thousand_due_recordings_are_deleted_within_the_target(
        tmp_path: Path, redis_url: str) -> None:
    elapsed, deleted = await delete_due_run(tmp_path, redis_url, 1000)
    assert deleted == 1000
    assert elapsed < TARGET_SECONDS, f"{elapsed:.1f} s"
