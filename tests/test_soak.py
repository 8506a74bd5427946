"""A shortened soak (bench/soak.py, 10 s): two replicas, a real Redis restarted once, the
leader SIGKILLed, joins through tickets and logins, creates, bus load and recording starts.

Targets as in the full run: no failure except requests in flight on the killed replica,
no ticket or session lost, no recording start without a guard action (G10), a new
leader within 10 s, and memory that does not grow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import Options, Soak, print_report


@pytest.mark.timeout(180)
async def test_soak_with_a_killed_leader_and_a_redis_restart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = Options(seconds=10, joins=20, creates=5, events=500, login_every=25)
    report = await Soak(options, tmp_path).run()
    with capsys.disabled():
        print_report(options, report)
    outcomes = dict(report.outcomes)
    assert report.failures() == 0, outcomes
    for kind in ("join", "create", "login_join"):
        assert outcomes.get((kind, "ok"), 0) > 0, kind
    assert not any(outcome in ("lost_ticket", "lost_session") for _, outcome in outcomes)
    assert report.achieved["joins"] >= 0.8 * options.joins  # the load was really offered
    assert report.guard_missed == 0 and len(report.guard_latency) >= 10
    assert report.failover is not None and report.failover < 10
    for name, (first, last) in report.rss.items():
        assert last - first < 16 * 2**20, f"replica {name} grew {(last - first) / 2**20:.1f} MiB"
