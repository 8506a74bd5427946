"""Pure retention decisions: never zero, never early, holds win (G16, G12)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.retention import (
    DAY,
    DeclaredRecording,
    after_failure,
    decide_retention,
    force_due,
    is_alerting,
    merge_into_row,
    plan_action,
)
from tests.support import make_settings

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_settings(Path(tmp_path_factory.mktemp("policy"))).policy


def rec(**kw: object) -> DeclaredRecording:
    base: dict[str, object] = {"platform": "bbb", "recording_id": "r1"}
    base.update(kw)
    return DeclaredRecording(**base)  # type: ignore[arg-type]


# G16: the due date by what the recording declares; lecture 30 d, feedback 14 d,
# undeclared 14 d (config/example.toml).
@pytest.mark.parametrize(("declared", "expected_until", "source"), [
    (rec(purpose="lecture", created=NOW), NOW + 30 * DAY, "purpose"),
    (rec(purpose="feedback", created=NOW), NOW + 14 * DAY, "purpose"),
    (rec(purpose="exam_evidence", created=NOW), NOW + 180 * DAY, "purpose"),
    (rec(purpose=None, created=NOW), NOW + 14 * DAY, "default"),
    (rec(purpose="none", created=NOW), NOW + 14 * DAY, "default"),
    (rec(purpose="LECTURE", created=NOW), NOW + 14 * DAY, "default"),
    (rec(purpose="lecture", created=NOW, retain_until=NOW + 40 * DAY), NOW + 40 * DAY,
     "declared"),
], ids=["lecture", "feedback", "exam", "missing_purpose", "none_purpose", "odd_spelling",
        "declared_until"])
def test_due_date_from_declaration(policy, declared, expected_until, source) -> None:  # type: ignore[no-untyped-def]
    decision = decide_retention(policy, declared, first_seen=NOW + 5)
    assert decision.retain_until == expected_until
    assert decision.source == source


# "Never zero": nonsense metadata never makes a recording due at once.
@pytest.mark.parametrize("declared", [
    rec(created=None), rec(created=0.0), rec(created=-5.0), rec(created=float("nan")),
    rec(created=float("inf")), rec(created=NOW, retain_until=0.0),
    rec(created=NOW, retain_until=NOW), rec(created=NOW, retain_until=NOW + 60),
    rec(created=NOW, retain_until=float("nan")),
], ids=["no_created", "zero_created", "negative_created", "nan_created", "inf_created",
        "zero_until", "until_is_created", "until_one_minute", "nan_until"])
def test_never_zero(policy, declared) -> None:  # type: ignore[no-untyped-def]
    decision = decide_retention(policy, declared, first_seen=NOW)
    assert decision.retain_until >= NOW + 1 * DAY


def test_future_created_is_distrusted(policy) -> None:  # type: ignore[no-untyped-def]
    """A 'created' in the future would stretch retention: first seen counts instead."""
    decision = decide_retention(policy, rec(purpose="lecture", created=NOW + 365 * DAY), NOW)
    assert decision.retain_until == NOW + 30 * DAY


@given(first=st.sampled_from(["lecture", "feedback", None, "bogus"]),
       second=st.sampled_from(["lecture", "feedback", None, "bogus"]))
def test_merge_never_moves_due_date_earlier(policy, first, second) -> None:  # type: ignore[no-untyped-def]
    a = rec(purpose=first, created=NOW)
    b = rec(purpose=second, created=NOW)
    row = merge_into_row(None, a, decide_retention(policy, a, NOW))
    merged = merge_into_row(row, b, decide_retention(policy, b, NOW))
    if first in policy.purposes and second in policy.purposes and first != second:
        # Another known purpose declared: its retention applies, shorter or not (G16).
        assert merged.retain_until == NOW + policy.purposes[second].retention_days * DAY
    else:  # lost or unknown information never shortens it
        assert merged.retain_until >= row.retain_until


def test_second_purpose_in_the_same_recording_gets_the_shortest_retention(policy) -> None:  # type: ignore[no-untyped-def]
    """One BBB recording per meeting: recorded as lecture (30 days), then feedback (14
    days, pupils visible) in the same meeting. The label and the due date agree: the
    strictest purpose's retention (G11, G16), not the lecture's 30 days."""
    from gateway.policy.retention import combined_purpose

    lecture = rec(purpose="lecture", created=NOW)
    row = merge_into_row(None, lecture, decide_retention(policy, lecture, NOW))
    assert (row.purpose, row.retain_until) == ("lecture", NOW + 30 * DAY)
    both = rec(purpose=combined_purpose(policy, ["lecture", "feedback"]), created=NOW)
    row = merge_into_row(row, both, decide_retention(policy, both, NOW + 3600))
    assert (row.purpose, row.retain_until) == ("feedback", NOW + 14 * DAY)
    row = merge_into_row(row, rec(created=NOW), decide_retention(policy, rec(), NOW))
    assert (row.purpose, row.retain_until) == ("feedback", NOW + 14 * DAY)  # metadata lost


def test_purpose_learned_later_extends_and_losing_it_does_not_shorten(policy) -> None:  # type: ignore[no-untyped-def]
    bare = rec(created=NOW)
    lecture = rec(purpose="lecture", created=NOW)
    row = merge_into_row(None, bare, decide_retention(policy, bare, NOW))
    row = merge_into_row(row, lecture, decide_retention(policy, lecture, NOW))
    assert (row.purpose, row.retain_until) == ("lecture", NOW + 30 * DAY)
    row = merge_into_row(row, bare, decide_retention(policy, bare, NOW))
    assert (row.purpose, row.retain_until) == ("lecture", NOW + 30 * DAY)


def test_forced_due_date_survives_reconciliation(policy) -> None:  # type: ignore[no-untyped-def]
    lecture = rec(purpose="lecture", created=NOW)
    row = force_due(merge_into_row(None, lecture, decide_retention(policy, lecture, NOW)),
                    NOW + 60)
    again = merge_into_row(row, lecture, decide_retention(policy, lecture, NOW))
    assert again.retain_until == NOW + 60 and again.forced


def _row(policy, **changes):  # type: ignore[no-untyped-def]
    lecture = rec(purpose="lecture", created=NOW)
    return replace(merge_into_row(None, lecture, decide_retention(policy, lecture, NOW)),
                   **changes)


@pytest.mark.parametrize(("changes", "at", "kind"), [
    ({}, NOW + 29 * DAY, "not_due"),
    ({}, NOW + 30 * DAY, "delete"),
    ({"holds": frozenset({"legal:case-7"})}, NOW + 90 * DAY, "held"),
    ({"holds": frozenset({"objection:x"})}, NOW + 90 * DAY, "held"),
    ({"next_attempt": NOW + 31 * DAY}, NOW + 30 * DAY + 5, "backoff"),
    ({"next_attempt": NOW + 31 * DAY}, NOW + 31 * DAY, "delete"),
], ids=["early_never", "on_time", "legal_hold", "objection_hold", "backing_off", "retry"])
def test_plan_action(policy, changes, at, kind) -> None:  # type: ignore[no-untyped-def]
    assert plan_action(_row(policy, **changes), at).kind == kind


def test_failures_back_off_and_alert_after_grace(policy) -> None:  # type: ignore[no-untyped-def]
    row = _row(policy)
    due = row.retain_until
    first = after_failure(row, due, 900)
    second = after_failure(first, first.next_attempt or 0, 900)
    assert first.next_attempt is not None and second.next_attempt is not None
    assert second.next_attempt - (first.next_attempt or 0) > first.next_attempt - due
    assert second.first_failure == due
    assert not is_alerting(second, due + 3600, 86400)
    assert is_alerting(second, due + 86401, 86400)


@pytest.mark.parametrize(("purposes", "expected"), [
    ((), None),
    (("lecture",), "lecture"),
    (("lecture", "feedback"), "feedback"),          # G16: the shortest retention wins
    (("exam_evidence", "lecture"), "lecture"),
    (("surveillance",), None),                      # unknown names are ignored
    (("approved_exception", "lecture"), "approved_exception"),  # equal days: not distributed
])
def test_recording_made_under_several_purposes(purposes: tuple[str, ...],
                                               expected: str | None) -> None:
    """G14, G16: one BBB recording, several declared purposes: the strictest rule."""
    from gateway.config.loading import load_settings
    from gateway.policy.retention import combined_purpose
    from tests.support import EXAMPLE

    assert combined_purpose(load_settings(EXAMPLE, env={}).policy, purposes) == expected
