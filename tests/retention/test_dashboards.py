"""The alert rules and the Grafana dashboard use only metrics the gateway exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.metrics import Metrics
from tests.support import ROOT

NAME = re.compile(r"\bprivacy_gateway_[a-z0-9_]+")
RULES = sorted(p for p in (ROOT / "config" / "prometheus").glob("*.yml")
               if not p.name.endswith(".test.yml"))
RULE_TESTS = sorted((ROOT / "config" / "prometheus").glob("*.test.yml"))
DASHBOARD = ROOT / "config" / "grafana" / "privacy-gateway-dashboard.json"


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    return names


@pytest.mark.parametrize("path", [*RULES, DASHBOARD], ids=lambda p: p.name)
def test_every_metric_used_exists(path: Path) -> None:
    used = set(NAME.findall(path.read_text()))
    assert used, f"{path.name} uses no gateway metric"
    assert used <= exported_names(), f"unknown metrics in {path.name}: {used - exported_names()}"


def test_dashboard_is_import_ready() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in panels)
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for area in ("login", "joins", "guard", "overdue", "deletions", "sweep"):
        assert area in titles


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is installed by scripts/test.sh (Debian prometheus)")
    done = subprocess.run([promtool, "check", "rules", *map(str, RULES)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = " ".join(NAME.findall(" ".join(p.read_text() for p in RULES)))
    for needed in ("recordings_overdue", "recording_deletions_total", "guard_connected",
                   "login_attempts_total"):
        assert needed in alerts


def test_every_alert_has_promtool_unit_tests_that_pass() -> None:
    """Each alert fires in at least one case and stays quiet in another (promtool test)."""
    alerts = {name for path in RULES
              for name in re.findall(r"^\s*- alert: (\w+)", path.read_text(), re.M)}
    assert {"PrivacyGatewayAbsent", "PrivacyGatewaySweeperStalled",
            "PrivacyGatewayRetentionSeriesAbsent"} <= alerts
    firing: set[str] = set()
    quiet: set[str] = set()
    check = re.compile(r"alertname: (\w+)\n\s*exp_alerts:( \[\])?")
    for path in RULE_TESTS:
        for name, empty in check.findall(path.read_text()):
            (quiet if empty else firing).add(name)
    assert alerts <= firing, f"never shown firing: {alerts - firing}"
    assert alerts <= quiet, f"never shown quiet: {alerts - quiet}"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is installed by scripts/test.sh (Debian prometheus)")
    done = subprocess.run([promtool, "test", "rules", *map(str, RULE_TESTS)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
