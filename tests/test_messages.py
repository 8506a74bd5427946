"""Explicit message catalogs (G18): the app factory loads the core's and each
adapter's; every key a template uses exists, in Dutch and in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.web import i18n
from privacy_gateway import ADAPTERS, create_app
from tests.support import ROOT, make_settings

TEMPLATE_DIRS = [ROOT / "gateway" / "web" / "templates",
                 *(a.template_dir for a in ADAPTERS if a.template_dir)]
# t('key') and t("key"); a key built at run time ('role.' ~ x) ends in a dot: its
# possible values are checked below.
USED = re.compile(r"""\bt\(\s*(['"])([a-z0-9_.]+)\1""")


def template_keys() -> set[str]:
    return {m.group(2) for d in TEMPLATE_DIRS for f in sorted(d.glob("*.html"))
            for m in USED.finditer(f.read_text())}


def test_templates_use_keys() -> None:
    assert len(template_keys()) > 50  # the scan finds the keys at all


def test_every_template_key_exists_in_both_languages(tmp_path: Path) -> None:
    messages = create_app(make_settings(tmp_path))[i18n.MESSAGES_KEY]
    keys = {k for k in template_keys() if not k.endswith(".")}
    keys |= {f"role.{r}" for r in ("teacher", "pupil", "staff", "guest")}
    missing = sorted(k for k in keys if k not in messages)
    assert missing == []
    for key in keys:
        nl, en = messages.t("nl", key), messages.t("en", key)
        assert nl != key and en != key


def test_catalogs_are_explicit_and_checked() -> None:
    with pytest.raises(ValueError, match="needs exactly"):
        i18n.Messages({"x": {"nl": "alleen Nederlands"}})
    with pytest.raises(ValueError, match="defined twice"):
        i18n.Messages({"x": {"nl": "a", "en": "a"}}, {"x": {"nl": "b", "en": "b"}})
    assert i18n.Messages().t("en", "unknown.key") == "unknown.key"
