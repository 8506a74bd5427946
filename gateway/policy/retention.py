"""Pure retention decisions (G16, G12): when a recording falls due, and what a
sweep does with a registry row. No I/O, no clock: `now` is always passed in.

Two promises hold everywhere in this module:
- never zero: a recording whose due date cannot be determined gets the policy's
  default for undeclared recordings, counted from when it was made (or first
  seen), never "now";
- never early: a due date only moves later when new information arrives; the
  one exception is an upheld objection (G12), which is explicit (`forced`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from gateway.policy.model import MEETING_TYPES, PURPOSES, Policy

DAY = 86400.0
MAX_RETENTION_DAYS = 3650  # the policy model's upper bound for any purpose
UNDECLARED = "undeclared"
UNKNOWN_MEETING_TYPE = "unknown"
# Clock skew we tolerate between a platform and the gateway for "created".
CREATED_SKEW_SECONDS = 3600.0

HOLD_OBJECTION = "objection"  # hold names: "objection:<id>", "legal:<reference>"
# Hold names as they may stand on a recording: "objection:<id>", "legal:<reference>".
HOLD_RE = re.compile(r"^(objection|legal):[A-Za-z0-9._/-]{1,100}$")
# How an objection may name a meeting (G12): a BBB meetingID or internal id, a Jitsi room.
MAX_MEETING_REF_CHARS = 200
MEETING_REF_RE = re.compile(rf"^[A-Za-z0-9_.\-]{{1,{MAX_MEETING_REF_CHARS}}}$")
HOLDS_META = "privacy-holds"  # the BBB meta key (meta_privacy-holds), comma-separated


def parse_holds(value: object) -> frozenset[str]:
    """Holds from a recording (comma-separated text or a JSON list); bad names ignored."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) \
        else []
    return frozenset(h.strip() for h in items if isinstance(h, str) and HOLD_RE.fullmatch(
        h.strip()))


def format_holds(holds: frozenset[str]) -> str:
    return ",".join(sorted(holds))


HOLD_LEGAL = "legal"

DueSource = Literal["declared", "purpose", "default"]
ActionKind = Literal["delete", "held", "backoff", "not_due"]
RecordingState = Literal["retained", "held", "due"]


@dataclass(frozen=True, slots=True)
class DeclaredRecording:
    """What a platform says about a recording (BBB meta_ keys, a Jibri sidecar).

    Everything except the id is untrusted and may be missing.
    """

    platform: str
    recording_id: str
    server: str = ""
    meeting_ref: str = ""
    meeting_type: str | None = None
    purpose: str | None = None
    created: float | None = None
    retain_until: float | None = None
    holds: frozenset[str] = frozenset()  # written on the recording (gateway.retention.holds)
    # Other ids a participant knows the meeting by (BBB: the external meetingID the
    # LMS shows, the record id being the internal id), and its name, for objections (G12).
    meeting_alias: str = ""
    meeting_name: str = ""


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    purpose: str  # a policy purpose or "undeclared"
    meeting_type: str  # a policy meeting type or "unknown"
    created: float
    retain_until: float
    source: DueSource


@dataclass(frozen=True, slots=True)
class RegistryRow:
    """One recording as the registry holds it."""

    platform: str
    recording_id: str
    server: str
    meeting_ref: str
    meeting_type: str
    purpose: str
    created: float
    retain_until: float
    holds: frozenset[str] = frozenset()
    forced: bool = False  # due date set by an upheld objection (G12)
    attempts: int = 0
    first_failure: float | None = None
    next_attempt: float | None = None
    meeting_alias: str = ""  # see DeclaredRecording
    meeting_name: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.recording_id}"

    @property
    def meeting_refs(self) -> tuple[str, ...]:
        """Every id an objection may name this recording's meeting by (G12)."""
        return tuple(dict.fromkeys(r for r in (self.meeting_ref, self.meeting_alias) if r))


@dataclass(frozen=True, slots=True)
class SweepAction:
    kind: ActionKind
    key: str
    at: float  # when the deletion happens or is next tried


def _valid_created(created: float | None, first_seen: float) -> float:
    """The platform's creation time unless it is missing or in the future."""
    if created is None or not math.isfinite(created) or created <= 0:
        return first_seen
    if created > first_seen + CREATED_SKEW_SECONDS:
        return first_seen  # a future "created" would stretch retention: distrust it
    return min(created, first_seen)


def _valid_declared(declared: float | None, created: float) -> bool:
    """A declared retain-until is used only inside [created + 1 day, created + max]."""
    if declared is None or not math.isfinite(declared):
        return False
    return created + DAY <= declared <= created + MAX_RETENTION_DAYS * DAY


def combined_purpose(policy: Policy, purposes: Iterable[str]) -> str | None:
    """One purpose for a recording made under several (one BBB recording per meeting).

    The recording cannot be split, so the strictest rule wins: the shortest
    retention (G16), and distribution only if every purpose allows it (G14).
    Returns None when no known purpose was declared.
    """
    known = sorted({p for p in purposes if p in policy.purposes},
                   key=lambda p: (policy.purposes[p].retention_days,
                                  policy.purposes[p].distribute, p))
    return known[0] if known else None


def private_purposes(policy: Policy) -> frozenset[str]:
    """The policy's purposes that do not include showing the recording later (G14)."""
    return frozenset(name for name, p in policy.purposes.items() if not p.distribute)


def withheld(purpose: str | None, private: frozenset[str]) -> bool:
    """G14, the one publication rule for proxy and sweeper: a recording is kept out of
    view unless its purpose is a known one that includes distribution. An undeclared
    or unknown purpose is not consent to distribute."""
    return purpose is None or purpose not in PURPOSES or purpose in private


def distributes(policy: Policy, purpose: str | None) -> bool:
    """May a recording made for `purpose` be published (G14)? See `withheld`."""
    return not withheld(purpose, private_purposes(policy))


def decide_retention(policy: Policy, recording: DeclaredRecording,
                     first_seen: float) -> RetentionDecision:
    """The due date of a recording (G16): declared, else by purpose, else the default.

    `first_seen` is when the gateway first learned of the recording; it stands in
    for a missing creation time so the default is never counted from zero.
    """
    created = _valid_created(recording.created, first_seen)
    meeting_type = (recording.meeting_type if recording.meeting_type in MEETING_TYPES
                    else UNKNOWN_MEETING_TYPE)
    purpose = recording.purpose if recording.purpose in PURPOSES else UNDECLARED
    if _valid_declared(recording.retain_until, created):
        assert recording.retain_until is not None
        return RetentionDecision(purpose, meeting_type, created, recording.retain_until,
                                 "declared")
    if purpose != UNDECLARED:
        days = policy.purposes[purpose].retention_days  # type: ignore[index]
        return RetentionDecision(purpose, meeting_type, created, created + days * DAY,
                                 "purpose")
    days = policy.retention.undeclared_retention_days
    return RetentionDecision(UNDECLARED, meeting_type, created, created + days * DAY, "default")


def merge_into_row(existing: RegistryRow | None, recording: DeclaredRecording,
                   decision: RetentionDecision) -> RegistryRow:
    """The registry row after reconciling: a due date never moves earlier because
    information was lost.

    A purpose learned later (undeclared -> lecture) may extend it; losing the
    metadata (lecture -> undeclared) never shortens it. One exception: another
    known purpose declared for the same recording (one BBB recording per
    meeting: lecture, then feedback) puts it under that purpose's retention,
    shorter or not: the combined purpose is already the strictest one
    (`combined_purpose`), and the part where pupils were visible must not be
    kept longer than its purpose allows (G11, G16). A forced due date (an
    upheld objection) is kept as it is.
    """
    if existing is None:
        return RegistryRow(
            platform=recording.platform, recording_id=recording.recording_id,
            server=recording.server, meeting_ref=recording.meeting_ref,
            meeting_type=decision.meeting_type, purpose=decision.purpose,
            created=decision.created, retain_until=decision.retain_until,
            meeting_alias=recording.meeting_alias, meeting_name=recording.meeting_name)
    if existing.forced:
        return existing
    purpose = decision.purpose if decision.purpose != UNDECLARED else existing.purpose
    meeting_type = (decision.meeting_type if decision.meeting_type != UNKNOWN_MEETING_TYPE
                    else existing.meeting_type)
    retain_until = max(existing.retain_until, decision.retain_until)
    if (decision.source == "purpose" and existing.purpose in PURPOSES
            and decision.purpose != existing.purpose):
        retain_until = decision.retain_until  # G16: the declared purposes' strictest rule
    return replace(
        existing, server=recording.server or existing.server,
        meeting_ref=recording.meeting_ref or existing.meeting_ref,
        meeting_alias=recording.meeting_alias or existing.meeting_alias,
        meeting_name=recording.meeting_name or existing.meeting_name,
        purpose=purpose, meeting_type=meeting_type,
        created=min(existing.created, decision.created), retain_until=retain_until)


@dataclass(frozen=True, slots=True)
class PlannedRow:
    row: RegistryRow
    decision: RetentionDecision


def plan_registration(policy: Policy, existing: RegistryRow | None,
                      recording: DeclaredRecording, now: float,
                      pending_holds: frozenset[str] = frozenset()) -> PlannedRow:
    """One declared recording as the registry will hold it: the single step the sweep,
    the dry run and jibri-finalize share.

    A recording without a trusted creation time is counted from when the registry
    first saw it (the existing row's `created`), not from each sweep's `now`:
    otherwise its due date would move later on every sweep and never arrive (G16).
    `pending_holds` (open objections of its meeting, G12) apply to a recording new
    to that meeting.
    """
    first_seen = existing.created if existing is not None else now
    decision = decide_retention(policy, recording, first_seen)
    row = merge_into_row(existing, recording, decision)
    if existing is None and recording.holds:  # G12: held from its first registration on
        row = replace(row, holds=row.holds | recording.holds)
    if pending_holds and (existing is None or existing.meeting_refs != row.meeting_refs):
        row = replace(row, holds=row.holds | pending_holds)
    return PlannedRow(row, decision)


def force_due(row: RegistryRow, now: float) -> RegistryRow:
    """An upheld objection (G12): due at once, whatever the purpose said."""
    return replace(row, retain_until=min(row.retain_until, now), forced=True,
                   next_attempt=None)


def backoff_seconds(attempts: int, base: float = 60.0, cap: float = 6 * 3600.0) -> float:
    """Exponential backoff after the n-th failed deletion: 1, 2, 4 ... minutes, capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def after_failure(row: RegistryRow, now: float, interval: float) -> RegistryRow:
    """The row after one more failed deletion attempt: retried, never dropped."""
    attempts = row.attempts + 1
    delay = min(backoff_seconds(attempts), max(interval, 60.0) * 4)
    return replace(row, attempts=attempts, next_attempt=now + delay,
                   first_failure=row.first_failure if row.first_failure is not None else now)


def plan_action(row: RegistryRow, now: float) -> SweepAction:
    """What a sweep does with this row now."""
    if row.holds:
        return SweepAction("held", row.key, row.retain_until)
    if row.retain_until > now:
        return SweepAction("not_due", row.key, row.retain_until)
    if row.next_attempt is not None and row.next_attempt > now:
        return SweepAction("backoff", row.key, row.next_attempt)
    return SweepAction("delete", row.key, now)


def next_look(row: RegistryRow) -> float:
    """The score in the due index: when a sweep should next look at the row."""
    if row.next_attempt is not None:
        return max(row.retain_until, row.next_attempt)
    return row.retain_until


def recording_state(row: RegistryRow, now: float) -> RecordingState:
    if row.holds:
        return "held"
    return "due" if row.retain_until <= now else "retained"


def is_alerting(row: RegistryRow, now: float, grace_seconds: float) -> bool:
    """Deletion has kept failing for longer than the policy's grace."""
    return row.first_failure is not None and now - row.first_failure > grace_seconds


def hold_name(kind: str, reference: str) -> str:
    return f"{kind}:{reference}"
