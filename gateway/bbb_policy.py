"""Pure BigBlueButton decisions: which create parameters to force, and who joins how.

No I/O: plain functions over the frozen policy and frozen inputs, returning
frozen decisions that bbb_hooks applies. Every rule names the guideline it
enforces. Parameter names and versions: reference/bbb.md §2 and §3.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.policy import MODERATOR_ROLES
from gateway.settings import MEETING_TYPES, MeetingTypeName, Policy, PurposeName, Role

Params = tuple[tuple[str, str], ...]
BBBRole = Literal["MODERATOR", "VIEWER"]

# BBB's META_VAR_PATTERN (ParamsProcessorUtil.java): no underscore after `meta_`.
META_NAME = re.compile(r"meta_[a-zA-Z][a-zA-Z0-9-]*")
# Callbacks that send per-person activity (attendance, talk time, chat counts) out of
# BBB after a meeting: monitoring the guidelines rule out (G20). The end-of-meeting and
# recording-ready callbacks carry no personal data and pass.
MONITORING_CALLBACKS = frozenset({"meta_analytics-callback-url"})
META_PREFIX_PRIVACY = "meta_privacy-"  # the gateway's own keys; no LMS changes them later
META_MEETING_TYPE = "meta_privacy-meeting-type"
META_PURPOSE = "meta_privacy-purpose"
META_POLICY_VERSION = "meta_privacy-policy-version"

# Features BBB must not offer unless the policy allows them.
TRANSCRIPTION_FEATURES = ("liveTranscription", "captions")  # G15
MONITORING_FEATURES = ("learningDashboard",)  # G20
# Never disabled (G5); the singular spelling appears in BBB's own tests (bbb.md §2).
BACKGROUND_FEATURES = frozenset({"virtualBackgrounds", "customVirtualBackgrounds",
                                 "customVirtualBackground"})


# Join parameters an LMS may pass on to BBB; everything else is decided here.
_JOIN_PASSTHROUGH = frozenset({"enforceLayout", "errorRedirectUrl", "redirectErrorUrl",
                               "defaultLayout", "excludeFromDashboard"})


class UnknownMeetingType(ValueError):
    """The LMS named a meeting type the policy does not know (refused, never guessed: G3)."""


@dataclass(frozen=True, slots=True)
class CreateDecision:
    params: Params  # what reaches BBB, in the LMS's order with forced values in place
    overrides: tuple[str, ...]  # conflicting LMS parameters, named from metrics.CREATE_OVERRIDES
    meeting_type: MeetingTypeName
    purpose: PurposeName | None
    record: bool
    transcription: bool


def meeting_type_of(policy: Policy, params: Sequence[tuple[str, str]]) -> MeetingTypeName:
    """The type the LMS declared in `meta_privacy-meeting-type`, else the policy default."""
    for name, value in params:
        if name.lower() == META_MEETING_TYPE:
            wanted = value.strip().lower()
            for known in MEETING_TYPES:
                if known == wanted:
                    return known
            raise UnknownMeetingType(wanted)
    return policy.bbb.default_meeting_type


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _features(value: str | None) -> list[str]:
    return [f.strip() for f in (value or "").split(",") if f.strip()]


class _Builder:
    """Applies forced values in place and records which ones conflicted."""

    def __init__(self, requested: Sequence[tuple[str, str]]) -> None:
        self.values: dict[str, str] = dict(requested)
        self.order = [name for name, _ in requested]
        self.overrides: list[str] = []

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def force(self, name: str, value: str, label: str | None = None,
              conflict: bool | None = None) -> None:
        sent = self.values.get(name)
        if conflict is None:
            conflict = sent is not None and sent.strip().lower() != value.lower()
        if conflict:
            self.overrides.append(label or name)
        if name not in self.values:
            self.order.append(name)
        self.values[name] = value

    def drop(self, name: str, label: str) -> None:
        if name in self.values:
            del self.values[name]
            self.order.remove(name)
            self.overrides.append(label)

    def params(self) -> Params:
        return tuple((name, self.values[name]) for name in self.order)


def decide_create(policy: Policy, requested: Sequence[tuple[str, str]], *,
                  transcription_consented: bool = False) -> CreateDecision:
    """The create parameters BBB receives for this LMS request (issue 4, rule table).

    `transcription_consented` is true only when everyone present opted in (G15);
    at create time nobody is present yet, so the proxy passes False.
    """
    meeting_type = meeting_type_of(policy, requested)
    kind = policy.meeting_types[meeting_type]
    b = _Builder(requested)
    record = kind.recording_allowed and _truthy(b.get("record"))
    b.force("record", "true" if record else "false",
            conflict=_truthy(b.get("record")) and not record)  # G3: confidential never
    if not kind.recording_allowed:
        b.force("breakoutRoomsRecord", "false", label="record")
    b.force("autoStartRecording", "false")  # G8: nothing recorded before the announcement
    b.force("allowStartStopRecording", "true")  # G13: the teacher can always stop
    b.force("recordFullDurationMedia", "false")  # G8: media only while recording is on
    b.force("meetingKeepEvents", "false")  # G16: no events.xml for unrecorded meetings
    b.drop("keepEvents", "meetingKeepEvents")  # the pre-2.3 name
    b.force("notifyRecordingIsOn", "true")  # G8
    b.force("remindRecordingIsOn", "true")  # G8
    # G7: the teacher can switch a pupil's camera off; the recording guard relies on it (G10).
    b.force("allowModsToEjectCameras", "true")
    transcription = (policy.transcription.mode == "opt_in" and kind.transcription_allowed
                     and transcription_consented)
    _disabled_features(b, transcription)
    guests = "ASK_MODERATOR" if kind.guests_allowed else "ALWAYS_DENY"
    sent_policy = (b.get("guestPolicy") or "").strip().upper()
    b.force("guestPolicy", guests, conflict=bool(sent_policy) and (
        sent_policy == "ALWAYS_ACCEPT" or (not kind.guests_allowed and sent_policy != guests)))
    purpose = kind.default_purpose
    _meta(b, policy, meeting_type, purpose)
    return CreateDecision(params=b.params(), overrides=tuple(dict.fromkeys(b.overrides)),
                          meeting_type=meeting_type, purpose=purpose, record=record,
                          transcription=transcription)


def _disabled_features(b: _Builder, transcription: bool) -> None:
    sent = _features(b.get("disabledFeatures"))
    forced = list(MONITORING_FEATURES)  # G20
    if not transcription:
        forced += TRANSCRIPTION_FEATURES  # G15
    kept = [f for f in sent if f not in BACKGROUND_FEATURES]  # G5
    final = list(dict.fromkeys(kept + forced))
    b.force("disabledFeatures", ",".join(final), conflict=len(kept) != len(sent))
    excluded = _features(b.get("disabledFeaturesExclude"))
    if excluded:
        allowed = [f for f in excluded if f not in forced]
        if allowed:
            b.force("disabledFeaturesExclude", ",".join(allowed), label="disabledFeatures",
                    conflict=len(allowed) != len(excluded))
        else:
            b.drop("disabledFeaturesExclude", "disabledFeatures")
    if _truthy(b.get("virtualBackgroundsDisabled")):  # deprecated spelling (2.4.3)
        b.force("virtualBackgroundsDisabled", "false", label="disabledFeatures")
    if _truthy(b.get("learningDashboardEnabled")):  # deprecated spelling
        b.force("learningDashboardEnabled", "false", label="disabledFeatures")


def _meta(b: _Builder, policy: Policy, meeting_type: MeetingTypeName,
          purpose: PurposeName | None) -> None:
    own = {META_MEETING_TYPE: meeting_type, META_PURPOSE: purpose or "none",
           META_POLICY_VERSION: policy.gateway.policy_version}
    for name in list(b.order):
        if not name.startswith("meta_"):
            continue
        if not META_NAME.fullmatch(name):
            b.drop(name, "meta")  # BBB would silently ignore it anyway
        elif name.lower() in MONITORING_CALLBACKS:
            b.drop(name, "meta")  # G20: per-person activity data sent to the LMS
        elif name.lower() in own and name not in own:
            b.drop(name, "meta")  # a different spelling of one of ours
    for name, value in own.items():
        # The LMS may declare the meeting type (it was read above); nothing else of ours.
        b.force(name, value, label="meta",
                conflict=name != META_MEETING_TYPE and b.get(name) is not None
                and b.get(name) != value)


@dataclass(frozen=True, slots=True)
class JoinAccount:
    """The logged-in school account, as far as the join decision needs it."""

    role: Role
    name: str | None


@dataclass(frozen=True, slots=True)
class JoinMeeting:
    meeting_id: str
    meeting_type: MeetingTypeName
    purpose: PurposeName | None
    create_time: str


JoinRefusal = Literal["guest_not_allowed"]


@dataclass(frozen=True, slots=True)
class JoinDecision:
    allowed: bool
    reason: JoinRefusal | None = None
    role: BBBRole | None = None
    params: Params = ()


def decide_join(policy: Policy, account: JoinAccount, meeting: JoinMeeting,
                requested_role: BBBRole, lms_params: Sequence[tuple[str, str]], *,
                lms_full_name: str, user_id: str, background_url: str) -> JoinDecision:
    """The BBB join parameters for a logged-in account (G1, G2, G4, G5, G10)."""
    kind = policy.meeting_types[meeting.meeting_type]
    if account.role == "guest" and not kind.guests_allowed:
        return JoinDecision(allowed=False, reason="guest_not_allowed")  # G2
    # Moderator only when the LMS asked for it AND the account's role allows it (G2).
    role: BBBRole = ("MODERATOR" if requested_role == "MODERATOR"
                     and account.role in MODERATOR_ROLES else "VIEWER")
    params: list[tuple[str, str]] = [
        ("meetingID", meeting.meeting_id),
        ("fullName", account.name or lms_full_name),  # the account's name, not the link's
        ("role", role),
        ("createTime", meeting.create_time),  # a join URL dies with its session (B.5)
        ("userID", user_id),  # pseudonymous
        ("userdata-bbb_auto_share_webcam", "false"),  # G4: cameras start off
        ("userdata-bbb_skip_video_preview", "false"),  # G5: the preview offers backgrounds
        ("webcamBackgroundURL", background_url),  # G5: a neutral background by default
    ]
    if account.role == "guest":
        params.append(("guest", "true"))
    if account.role == "pupil" and meeting.purpose == "lecture":
        params.append(("userdata-bbb_record_video", "false"))  # G10
    decided = {name for name, _ in params}
    for name, value in lms_params:
        if name in decided:
            continue
        if name in _JOIN_PASSTHROUGH or name.startswith("userdata-"):
            params.append((name, value))
    return JoinDecision(allowed=True, role=role, params=tuple(params))
