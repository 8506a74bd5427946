"""`privacy-gateway report`: a third-person processing description for the DPIA (G22)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.policy.report import render_report
from privacy_gateway import main
from tests.support import make_settings


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_g22_report_is_a_third_person_description_with_units(tmp_path: Path,
                                                              lang: str) -> None:
    policy = make_settings(tmp_path, {"retention": {"undeclared_retention_days": 14}}).policy
    text = render_report(policy, lang)
    # Written about the processing, not to pupils.
    assert not re.search(r"\b(you|your|je|jij|jouw|u)\b", text, re.IGNORECASE), text
    heads = {"en": ("## Objections and holds", "## Deletion, raw data included",
                    "## Audit log", "## Purposes and retention"),
             "nl": ("## Bezwaren en blokkeringen", "## Wissen, ruwe gegevens inbegrepen",
                    "## Auditlog", "## Doelen en bewaartermijnen")}[lang]
    for head in heads:
        assert head in text
    days, hours = {"en": ("days", "h"), "nl": ("dagen", "uur")}[lang]
    assert f"14 {days}" in text and f"365 {days}" in text and f"| 30 {days} |" in text
    assert f"8 {hours})" in text and "(24 " in text
    assert "Undeclared recordings: 14" not in text
    assert "raw" in text or "ruwe" in text
    # No bare number: each is followed by a unit, or is a version, article or count
    # of addresses.
    supplied = {policy.notice.legal_basis_en, policy.notice.legal_basis_nl}  # the school's text
    for line in text.splitlines():
        if line.startswith("#") or "`" in line or line in supplied:
            continue
        for match in re.finditer(r"(?<![\w.(-])(\d+)(?![\w.)-])(?! (days|dagen|s|h|uur|min|"
                                 r"designated|aangewezen))", line):
            pytest.fail(f"number without a unit: {match.group(0)!r} in {line!r}")


@pytest.mark.parametrize(("default", "heading"), [("en", "# Processing description"),
                                                  ("nl", "# Beschrijving van de verwerking")])
def test_g22_report_uses_the_policy_language_unless_lang_is_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], default: str,
        heading: str) -> None:
    make_settings(tmp_path, {"gateway": {"default_language": default}})
    config = str(tmp_path / "policy.toml")
    assert main(["report", "--config", config]) == 0
    assert capsys.readouterr().out.startswith(heading)
    other = "nl" if default == "en" else "en"
    assert main(["report", "--config", config, "--lang", other]) == 0
    assert not capsys.readouterr().out.startswith(heading)
