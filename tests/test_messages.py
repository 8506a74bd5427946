"""Explicit message catalogs (G18): the app factory loads the core's and each
adapter's; every key a template uses exists, in Dutch and in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.policy.model import parse_policy
from gateway.policy.names import meeting_type_name, purpose_name
from gateway.policy.notice import build_notice
from gateway.web import i18n
from privacy_gateway import ADAPTERS, create_app
from tests.support import ROOT, deep_merge, example_policy, make_settings

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


BBB_ON = {"bbb": {"enabled": True,
                  "servers": [{"name": "bbb1", "url": "https://bbb.school.example/bigbluebutton/",
                               "secret_env": "X"}],
                  "frontends": [{"name": "lms", "secret_env": "Y"}]}}


@pytest.mark.parametrize(("changes", "told", "not_told"), [
    pytest.param({"jitsi": {"enabled": True}}, "In Jitsi Meet your background is blurred",
                 "BigBlueButton", id="jitsi_blurs"),
    pytest.param(BBB_ON, "In BigBlueButton, when you switch your camera on, a plain "
                 "background image", "blurred when", id="bbb_has_no_blur_by_default"),
])
def test_notice_says_per_platform_what_happens_to_the_background(
        changes: dict[str, object], told: str, not_told: str) -> None:
    """G5, G18: the notice claims no blur a platform does not switch on (BBB has no
    blur-by-default setting; it gets the neutral background image)."""
    safeguards = " ".join(build_notice(parse_policy(deep_merge(example_policy(), changes)),
                                       "en").safeguards)
    assert told in safeguards and not_told not in safeguards


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_notice_names_purposes_and_meeting_types_as_pages_do(lang: str) -> None:
    """G18: "'Lesson to watch later' applies", not "'lecture' applies"; one name per type."""
    notice = build_notice(parse_policy(example_policy()), lang)
    text = " ".join(notice.recording_rules + notice.safeguards)
    assert f"'{purpose_name('lecture', lang)}'" in text and "'lecture'" not in text
    assert "(lecture)" not in text
    for rule, mtype in zip(notice.recording_rules, ("lesson", "meeting", "confidential"),
                           strict=True):
        assert rule.startswith(meeting_type_name(mtype, lang) + ":")


@pytest.mark.parametrize("mode", ["off", "opt_in"])
def test_dutch_texts_say_transcription_not_unsubscribe(tmp_path: Path, mode: str) -> None:
    """G18: "uitschrijven" reads as "unsubscribe" in Dutch; what a pupil agrees to (or is
    told about) says "transcriptie"."""
    policy = parse_policy(deep_merge(example_policy(), {"transcription": {"mode": mode}}))
    assert "transcriptie" in build_notice(policy, "nl").transcription
    messages = create_app(make_settings(tmp_path))[i18n.MESSAGES_KEY]
    keys = [k for k in template_keys() if "transcription" in k or k.startswith("jitsi.")]
    keys += ["jitsi.entry_transcription_possible", "jitsi.entry_transcription_never",
             "jitsi.transcription_count"]
    assert keys
    for key in keys:
        assert "itschrijv" not in messages.t("nl", key).lower(), key
