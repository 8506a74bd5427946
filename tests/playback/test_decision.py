"""Who may watch a recording (G14, G12, G20): the pure decision, as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.policy.model import ConfigError, Policy
from gateway.policy.playback import RecordingFacts, Viewer, audience_for, may_watch
from tests.support import make_settings


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return make_settings(tmp_path_factory.mktemp("policy")).policy


TEACHER_WHO_MODERATED = Viewer(role="teacher", moderated=True, officer=False)
OTHER_TEACHER = Viewer(role="teacher", moderated=False, officer=False)
PUPIL = Viewer(role="pupil", moderated=False, officer=False)
PUPIL_IN_LIST = Viewer(role="pupil", moderated=True, officer=False)  # never a moderator
GUEST = Viewer(role="guest", moderated=False, officer=False)
OFFICER = Viewer(role="staff", moderated=False, officer=True)


@pytest.mark.parametrize("purpose, viewer, allowed, reason", [
    # lecture: every school account the LMS hands a link (G14)
    ("lecture", PUPIL, True, "ok"),
    ("lecture", OTHER_TEACHER, True, "ok"),
    ("lecture", GUEST, False, "not_school_account"),
    # feedback / exam evidence: only who moderated that meeting, and the officer
    ("feedback", TEACHER_WHO_MODERATED, True, "ok"),
    ("feedback", OFFICER, True, "ok"),
    ("feedback", PUPIL, False, "not_moderator"),
    ("feedback", PUPIL_IN_LIST, False, "not_moderator"),
    ("feedback", OTHER_TEACHER, False, "not_moderator"),
    ("exam_evidence", TEACHER_WHO_MODERATED, True, "ok"),
    ("exam_evidence", PUPIL, False, "not_moderator"),
    ("exam_evidence", OFFICER, True, "ok"),
    # an approval that says nothing: the officer only
    ("approved_exception", TEACHER_WHO_MODERATED, False, "not_allowed"),
    ("approved_exception", OFFICER, True, "ok"),
    # nothing declared: as strict as feedback
    ("undeclared", PUPIL, False, "not_moderator"),
    ("undeclared", TEACHER_WHO_MODERATED, True, "ok"),
])
def test_who_may_watch_by_purpose(policy: Policy, purpose: str, viewer: Viewer, allowed: bool,
                                  reason: str) -> None:
    decision = may_watch(policy, RecordingFacts(purpose=purpose), viewer)
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize("purpose", ["lecture", "feedback", "exam_evidence",
                                     "approved_exception"])
@pytest.mark.parametrize("viewer, allowed", [
    (PUPIL, False), (TEACHER_WHO_MODERATED, False), (OTHER_TEACHER, False), (OFFICER, True)])
def test_a_held_or_objected_recording_is_for_the_officer_alone(
        policy: Policy, purpose: str, viewer: Viewer, allowed: bool) -> None:
    decision = may_watch(policy, RecordingFacts(purpose=purpose, held=True), viewer)  # G12
    assert decision.allowed is allowed
    assert decision.reason == ("ok" if allowed else "held")


@pytest.mark.parametrize("approval, viewer, allowed", [
    (("moderators",), TEACHER_WHO_MODERATED, True),
    (("moderators",), PUPIL, False),
    (("school",), PUPIL, True),
    (("officer",), TEACHER_WHO_MODERATED, False),
    ((), OFFICER, True),
])
def test_an_approved_exception_is_watched_as_its_approval_says(
        policy: Policy, approval: tuple[Any, ...], viewer: Viewer, allowed: bool) -> None:
    facts = RecordingFacts(purpose="approved_exception", approval_audience=approval)
    assert may_watch(policy, facts, viewer).allowed is allowed


@pytest.mark.parametrize("purpose, audited", [
    ("feedback", True), ("exam_evidence", True), ("lecture", False),
    ("approved_exception", False)])
def test_only_feedback_and_exam_grants_are_audited(policy: Policy, purpose: str,
                                                   audited: bool) -> None:
    decision = may_watch(policy, RecordingFacts(purpose=purpose), OFFICER)  # G20
    assert decision.allowed and decision.audit is audited


def test_the_audience_is_configurable_per_purpose(tmp_path: Path) -> None:
    policy = make_settings(tmp_path, {"playback": {"watch": {
        "lecture": ["moderators"], "feedback": ["officer"]}}}).policy
    assert audience_for(policy, RecordingFacts(purpose="lecture")) == ("moderators",)
    assert not may_watch(policy, RecordingFacts(purpose="lecture"), PUPIL).allowed
    assert not may_watch(policy, RecordingFacts(purpose="feedback"),
                         TEACHER_WHO_MODERATED).allowed


@pytest.mark.parametrize("changes, message", [
    ({"feedback": ["school"]}, "playback.watch.feedback cannot include 'school'"),
    ({"exam_evidence": []}, "playback.watch.exam_evidence must name at least one"),
    ({"lecture": ["everyone"]}, "playback.watch.lecture"),
])
def test_a_policy_cannot_hand_pupils_recordings_to_everyone(
        tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        make_settings(tmp_path, {"playback": {"watch": changes}})
