"""Who may watch a recording (G14, G12, G20): a pure decision, no I/O.

Consent to record is not consent to distribute (G14). A recording's purpose
decides its audience, configured per purpose in `[playback.watch]`:
- `school`: any school account (never a guest), when the LMS or the meeting
  page hands them a link; the default for `lecture`;
- `moderators`: the teachers and staff who moderated that meeting; with
  `officer` the default for `feedback` and `exam_evidence`;
- `officer`: the privacy officer;
- `approval`: what the officer's approval of an `approved_exception` says
  (`officer` when the approval says nothing).
A held or objected recording (G12) is for the officer alone, whatever its
purpose; a recording without a known purpose for its moderators and the
officer. Grants of `feedback` and `exam_evidence` are audited (with
pseudonyms), nothing else is: watching a lecture is nobody's business (G20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from gateway.policy.identity import MODERATOR_ROLES
from gateway.policy.model import PURPOSES, Audience, Policy, Role

WatchReason = Literal["ok", "held", "not_school_account", "not_moderator", "not_allowed"]
WATCH_REASONS: tuple[WatchReason, ...] = get_args(WatchReason)
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
# The purposes whose grants the audit log records (issue: feedback and exam evidence).
AUDITED_PURPOSES = frozenset({"feedback", "exam_evidence"})
UNDECLARED_AUDIENCE: tuple[Audience, ...] = ("moderators", "officer")
HELD_AUDIENCE: tuple[Audience, ...] = ("officer",)


@dataclass(frozen=True, slots=True)
class RecordingFacts:
    """What the gateway knows about one recording when someone asks to watch it."""

    purpose: str  # a policy purpose, or anything else for "undeclared"
    held: bool = False  # a hold or an open objection (G12)
    approval_audience: tuple[Audience, ...] = ()  # the officer's approval (approved_exception)


@dataclass(frozen=True, slots=True)
class Viewer:
    role: Role
    moderated: bool  # moderated the recording's meeting (a pseudonym in its list)
    officer: bool  # the privacy officer (gateway.login.officers)


@dataclass(frozen=True, slots=True)
class WatchDecision:
    allowed: bool
    reason: WatchReason
    audit: bool  # record the grant in the audit log
    purpose_label: str  # a bounded label for metrics: a purpose or "undeclared"


def audience_for(policy: Policy, facts: RecordingFacts) -> tuple[Audience, ...]:
    """The audience of a recording: held ones only for the officer (G12)."""
    if facts.held:
        return HELD_AUDIENCE
    if facts.purpose not in PURPOSES:
        return UNDECLARED_AUDIENCE
    configured: tuple[Audience, ...] = getattr(policy.playback.watch, facts.purpose)
    if "approval" not in configured:
        return configured
    approved = tuple(a for a in facts.approval_audience if a != "approval") or HELD_AUDIENCE
    return tuple(dict.fromkeys([*(a for a in configured if a != "approval"), *approved]))


def may_watch(policy: Policy, facts: RecordingFacts, viewer: Viewer) -> WatchDecision:
    label = facts.purpose if facts.purpose in PURPOSES else "undeclared"
    audience = audience_for(policy, facts)
    allowed = ((viewer.officer and "officer" in audience)
               or ("school" in audience and viewer.role != "guest")
               or ("moderators" in audience and viewer.moderated
                   and viewer.role in MODERATOR_ROLES))
    if allowed:
        return WatchDecision(True, "ok", label in AUDITED_PURPOSES, label)
    return WatchDecision(False, _refusal(facts, audience, viewer), False, label)


def _refusal(facts: RecordingFacts, audience: tuple[Audience, ...],
             viewer: Viewer) -> WatchReason:
    if facts.held:
        return "held"
    if "school" in audience and viewer.role == "guest":
        return "not_school_account"
    if "moderators" in audience:
        return "not_moderator"
    return "not_allowed"


def describe(policy: Policy) -> dict[str, tuple[Audience, ...]]:
    """Per purpose, who may watch (for /privacy and the DPIA report, G18, G22)."""
    return {name: getattr(policy.playback.watch, name) for name in PURPOSES}
