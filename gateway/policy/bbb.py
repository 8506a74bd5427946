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
from urllib.parse import urlsplit

from gateway.policy.identity import MODERATOR_ROLES
from gateway.policy.model import MEETING_TYPES, MeetingTypeName, Policy, PurposeName, Role

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


# Create parameters naming an image every browser in the meeting loads (BBB 3.0 adds
# `darklogo`): from anywhere but the school's own servers that is a third-party request
# from each pupil's browser (G17, G21).
BROWSER_LOADED_URLS = ("logo", "darklogo")


# Join parameters an LMS may pass on to BBB (config/bbb/README.md "join: what BBB
# receives"): layout, language and whiteboard comfort only. Everything else is either
# decided by the policy below or dropped.
JOIN_ALLOWED = frozenset({
    "enforceLayout", "defaultLayout", "userdata-bbb_default_layout",
    "userdata-bbb_client_title", "userdata-bbb_override_default_locale",
    "userdata-bbb_prefer_dark_theme", "userdata-bbb_direct_leave_button",
    "userdata-bbb_display_branding_area", "userdata-bbb_shortcuts",
    "userdata-bbb_hide_presentation_on_join", "userdata-bbb_show_public_chat_on_login",
    "userdata-bbb_hide_nav_bar", "userdata-bbb_show_session_details_on_join",
    "userdata-bbb_force_restore_presentation_on_new_events",
    "userdata-bbb_multi_user_pen_only", "userdata-bbb_presenter_tools",
    "userdata-bbb_multi_user_tools", "userdata-bbb_initial_selected_tool",
    "userdata-bbb_listen_only_mode", "userdata-bbb_force_listen_only",
    "userdata-bbb_fullaudio_bridge", "userdata-bbb_transparent_listen_only",
})
# What an LMS may send but BBB never receives from it, each a bounded metrics label
# (privacy_gateway_bbb_join_dropped_total{parameter}); any other name counts as "other".
JOIN_DROPPED = (
    "userdata-bbb_record_permission",  # G9: a pupil would get the recording button
    "userdata-bbb_record_permission_tooltip",
    "userdata-bbb_record_video",  # G10: the policy decides whose video is recorded
    "userdata-bbb_custom_style_url",  # G21: a third-party file in every browser
    "userdata-bbb_custom_style",  # G21, G8: CSS can hide the recording indicator
    "userdata-bbb_auto_share_webcam",  # G4: the policy sets false
    "userdata-bbb_skip_video_preview",  # G5: the policy sets false
    "userdata-bbb_skip_video_preview_on_first_join",  # G5
    "userdata-bbb_skip_video_preview_if_previous_device",  # G5
    "userdata-bbb_enable_video", "userdata-bbb_preferred_camera_profile",
    "userdata-bbb_mirror_own_webcam",  # cameras are the policy's (G4-G6)
    "userdata-bbb_auto_join_audio", "userdata-bbb_skip_check_audio",
    "userdata-bbb_skip_check_audio_on_first_join",
    "userdata-bbb_skip_echotest_if_previous_device",  # no microphone live unasked (G6)
    "userdata-bbb_show_participants_on_login",  # G20: names shown by default
    "userdata-bbb_hide_actions_bar", "userdata-bbb_hide_controls",  # G4: camera/mic buttons
    "userdata-bbb_hide_notifications",  # G8: recording notices must show
    "userdata-bbb_parent_room_moderator",  # G2: role is the policy's
    "redirectErrorUrl", "errorRedirectUrl",  # errors are the gateway's own pages
    "excludeFromDashboard",  # nobody is hidden from the others (G2)
    "avatarURL",  # G21: an image fetched from elsewhere
    "webcamBackgroundURL",  # G5, G21: the gateway's own background
    "guest", "userID", "createTime",  # decided by the gateway
    "userdata-other",  # any userdata-* not listed here (may carry personal data)
    "other",
)
_JOIN_DROPPED_NAMES = frozenset(JOIN_DROPPED)
_JOIN_REPLACED = frozenset({"meetingID", "fullName"})


def join_drop_label(name: str) -> str:
    """A bounded metrics label for a join parameter the policy did not pass on."""
    if name in _JOIN_DROPPED_NAMES:
        return name
    return "userdata-other" if name.startswith("userdata-") else "other"


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
    # A join URL works only in the browser holding its session (bbb.md §1.3): never a
    # link anyone who sees it can open (G1).
    b.force("allowRequestsWithoutSession", "false")
    hosts = own_hosts(policy)
    for name in BROWSER_LOADED_URLS:
        value = b.get(name)
        if value is not None and not _on_own_host(value, hosts):
            b.drop(name, "logo")  # G17, G21
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


def own_hosts(policy: Policy) -> frozenset[str]:
    """The school's own hosts: the gateway's public_url and every BBB server."""
    urls = (policy.gateway.public_url, *(server.url for server in policy.bbb.servers))
    return frozenset(host for url in urls if (host := (urlsplit(url).hostname or "").lower()))


def _on_own_host(url: str, hosts: frozenset[str]) -> bool:
    if any(char in url for char in "\\ \t\r\n"):  # a browser reads a backslash as "/"
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unclosed "[" in the host
        return False
    return parts.scheme.lower() in ("https", "http") and host in hosts


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
        elif name.lower().startswith(META_PREFIX_PRIVACY) and name not in own:
            # Gateway-owned (G14, G16): retention, holds and purposes are the gateway's
            # facts; a key an LMS writes here would travel with the recording for ever.
            b.drop(name, "meta")
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
    dropped: tuple[str, ...] = ()  # LMS parameters not passed on, as bounded labels


def decide_join(policy: Policy, account: JoinAccount, meeting: JoinMeeting,
                requested_role: BBBRole, lms_params: Sequence[tuple[str, str]], *,
                lms_full_name: str, user_id: str, background_url: str) -> JoinDecision:
    """The BBB join parameters for a logged-in account (G1, G2, G4, G5, G9, G10, G21).

    BBB receives what the policy decides plus JOIN_ALLOWED from the LMS; every
    other LMS parameter is dropped and named in `dropped`.
    """
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
    if role == "VIEWER":
        params.append(("userdata-bbb_record_permission", "false"))  # G9: no record button
    if account.role == "guest":
        params.append(("guest", "true"))
    if account.role == "pupil" and meeting.purpose == "lecture":
        params.append(("userdata-bbb_record_video", "false"))  # G10
    dropped: list[str] = []
    for name, value in lms_params:
        if name in _JOIN_REPLACED:
            continue  # the policy's own value is in place
        if name in JOIN_ALLOWED:
            params.append((name, value))
        else:
            dropped.append(join_drop_label(name))
    return JoinDecision(allowed=True, role=role, params=tuple(params),
                        dropped=tuple(dropped))
