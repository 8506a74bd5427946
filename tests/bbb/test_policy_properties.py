"""Property: whatever create or join an LMS sends, what reaches BBB satisfies the policy.

Hypothesis draws parameter sets mixing BBB's real names (in odd spellings too),
`meta_*`, `meta_privacy-*` and `userdata-*` keys and free names and values; the
pure decisions (gateway.policy.bbb) are what the proxy sends on, so checking them
checks every create and join BBB can receive through the gateway.
"""

from __future__ import annotations

import itertools

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.demo.bbb_server import BBBEmulator
from gateway.policy.bbb import (
    BACKGROUND_FEATURES,
    JOIN_ALLOWED,
    META_NAME,
    JoinAccount,
    JoinMeeting,
    UnknownMeetingType,
    decide_create,
    decide_join,
)
from gateway.policy.bbb_client_settings import CLIENT_SETTINGS_FORCED, decide_client_settings
from gateway.policy.model import Policy
from gateway.web import keys
from tests.bbb.support import Gateway, get_xml
from tests.support import make_settings

CREATE_NAMES = [
    "record", "autoStartRecording", "allowStartStopRecording", "recordFullDurationMedia",
    "meetingKeepEvents", "keepEvents", "notifyRecordingIsOn", "remindRecordingIsOn",
    "allowModsToEjectCameras", "guestPolicy", "disabledFeatures", "disabledFeaturesExclude",
    "virtualBackgroundsDisabled", "learningDashboardEnabled", "breakoutRoomsRecord",
    "meta_privacy-meeting-type", "meta_privacy-purpose", "meta_privacy-policy-version",
    "meta_privacy-retain-until", "meta_PRIVACY-purpose", "meta_Privacy-Hold",
    "meta_analytics-callback-url", "meta_endCallbackUrl", "meta_bbb-origin", "meta_a_b",
    "name", "welcome", "meetingID",
]
JOIN_NAMES = [
    "userdata-bbb_record_permission", "userdata-bbb_custom_style_url",
    "userdata-bbb_custom_style", "userdata-bbb_auto_share_webcam", "userdata-bbb_record_video",
    "userdata-bbb_show_participants_on_login", "userdata-bbb_skip_video_preview",
    "userdata-bbb_hide_actions_bar", "userdata-bbb_enable_video", "redirectErrorUrl",
    "excludeFromDashboard", "avatarURL", "webcamBackgroundURL", "guest", "userID",
    "createTime", "role", "userdata-bbb_override_default_locale", "enforceLayout",
    "userdata-anything", "meetingID", "fullName",
]
VALUES = st.one_of(
    st.sampled_from(["true", "false", "TRUE", " true", "ALWAYS_ACCEPT", "always_accept",
                     "ASK_MODERATOR", "lesson", "confidential", "meeting", "lecture",
                     "virtualBackgrounds,customVirtualBackgrounds,learningDashboard",
                     "liveTranscription,captions,chat", "customVirtualBackground",
                     "https://tracker.example/x.css", ""]),
    st.text(max_size=30),
)
FREE_NAMES = st.from_regex(
    r"(meta_|userdata-|userdata-bbb_|meta_privacy-)?[A-Za-z][A-Za-z0-9_.\-]{0,15}",
    fullmatch=True)


def _params(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    # parse_query refuses a name given twice, so an LMS's parameters are unique by name.
    return st.dictionaries(st.one_of(st.sampled_from(names), FREE_NAMES), VALUES,
                           max_size=25).map(lambda d: list(d.items()))


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    return make_settings(tmp_path_factory.mktemp("policy")).policy


FORCED_CREATE = {
    "autoStartRecording": "false", "allowStartStopRecording": "true",  # G8, G13
    "recordFullDurationMedia": "false", "meetingKeepEvents": "false",  # G8, G16
    "notifyRecordingIsOn": "true", "remindRecordingIsOn": "true",  # G8
    "allowModsToEjectCameras": "true",  # G7
}


@settings(max_examples=400, deadline=None)
@given(requested=_params(CREATE_NAMES))
def test_every_create_reaching_bbb_satisfies_the_policy(
        policy: Policy, requested: list[tuple[str, str]]) -> None:
    try:
        decision = decide_create(policy, requested)
    except UnknownMeetingType:
        return  # refused with invalidMeetingType: nothing reaches BBB
    names = [n for n, _ in decision.params]
    sent = dict(decision.params)
    assert len(names) == len(set(names))
    for name, value in FORCED_CREATE.items():
        assert sent[name] == value, name
    assert "keepEvents" not in sent
    kind = policy.meeting_types[decision.meeting_type]
    assert sent["guestPolicy"] in ("ALWAYS_DENY", "ASK_MODERATOR")  # G2
    if not kind.recording_allowed:
        assert sent["record"] == "false"  # G3
    features = set(sent["disabledFeatures"].split(","))
    assert {"learningDashboard", "liveTranscription", "captions"} <= features  # G15, G20
    assert not features & BACKGROUND_FEATURES  # G5
    excluded = set(sent.get("disabledFeaturesExclude", "").split(","))
    assert not excluded & {"learningDashboard", "liveTranscription", "captions"}
    assert sent.get("virtualBackgroundsDisabled", "false").strip().lower() != "true"
    assert sent.get("learningDashboardEnabled", "false").strip().lower() != "true"
    meta = {n for n in names if n.startswith("meta_")}
    assert all(META_NAME.fullmatch(n) for n in meta)
    assert "meta_analytics-callback-url" not in {n.lower() for n in meta}  # G20
    privacy = {n: sent[n] for n in meta if n.lower().startswith("meta_privacy-")}
    assert privacy == {  # G14, G16, G19: the gateway's own keys only, its own values
        "meta_privacy-meeting-type": decision.meeting_type,
        "meta_privacy-purpose": kind.default_purpose or "none",
        "meta_privacy-policy-version": policy.gateway.policy_version,
    }


_created = itertools.count()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requested=_params(CREATE_NAMES), long_welcome=st.booleans())
async def test_every_create_through_the_gateway_reaches_bbb_within_the_policy(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession,
        requested: list[tuple[str, str]], long_welcome: bool) -> None:
    """The same property end to end: LMS -> gateway -> what the BBB stand-in received."""
    policy = gateway.app[keys.SETTINGS].policy
    meeting_id = f"prop-{next(_created)}"
    params = [(n, v) for n, v in requested if n not in ("meetingID", "welcome")]
    params += [("meetingID", meeting_id), ("welcome", "w " * (4200 if long_welcome else 3))]
    before = len(emulator.calls("create"))
    status, _, body = await get_xml(http, gateway.url("create", params))
    assert status == 200 and "<returncode>" in body
    sent_calls = emulator.calls("create")[before:]
    if "<returncode>FAILED</returncode>" in body:
        assert sent_calls == [] and "invalidMeetingType" in body  # refused, nothing sent
        return
    (sent,) = sent_calls
    assert sent.checksum_ok and sent.method == ("POST" if long_welcome else "GET")
    received = [(k, v) for k, values in sent.params.items() if k != "checksum"
                for v in values]
    assert dict(received) == dict(decide_create(policy, params).params)


DECIDED_JOIN = {"meetingID", "fullName", "role", "createTime", "userID",
                "userdata-bbb_auto_share_webcam", "userdata-bbb_skip_video_preview",
                "webcamBackgroundURL", "userdata-bbb_record_permission", "guest",
                "userdata-bbb_record_video"}


@settings(max_examples=400, deadline=None)
@given(lms=_params(JOIN_NAMES),
       account=st.sampled_from(["teacher", "pupil", "staff", "guest"]),
       asked=st.sampled_from(["MODERATOR", "VIEWER"]),
       meeting_type=st.sampled_from(["lesson", "meeting", "confidential"]),
       purpose=st.sampled_from([None, "lecture", "feedback", "exam_evidence"]))
def test_every_join_reaching_bbb_satisfies_the_policy(
        policy: Policy, lms: list[tuple[str, str]], account: str, asked: str,
        meeting_type: str, purpose: str | None) -> None:
    decision = decide_join(
        policy, JoinAccount(role=account, name="Account Name"),  # type: ignore[arg-type]
        JoinMeeting("m1", meeting_type, purpose, "1700000000000"),  # type: ignore[arg-type]
        asked, lms, lms_full_name="LMS Name", user_id=f"{account}.tag",  # type: ignore[arg-type]
        background_url="https://gw.example/static/bbb-background.png")
    if not decision.allowed:
        assert account == "guest"  # G2: only guests are refused, and only where barred
        return
    names = [n for n, _ in decision.params]
    sent = dict(decision.params)
    assert set(names) <= DECIDED_JOIN | JOIN_ALLOWED
    assert sent["meetingID"] == "m1" and sent["fullName"] == "Account Name"
    assert sent["userID"] == f"{account}.tag" and sent["createTime"] == "1700000000000"
    assert sent["userdata-bbb_auto_share_webcam"] == "false"  # G4
    assert sent["userdata-bbb_skip_video_preview"] == "false"  # G5
    assert sent["webcamBackgroundURL"].startswith("https://gw.example/")  # G5, G21
    if account not in ("teacher", "staff"):
        assert sent["role"] == "VIEWER"  # G2: pupils and guests never moderate
    if sent["role"] == "VIEWER":
        assert sent["userdata-bbb_record_permission"] == "false"  # G9
    else:
        assert "userdata-bbb_record_permission" not in sent
    if account == "pupil" and purpose == "lecture":
        assert sent["userdata-bbb_record_video"] == "false"  # G10
    else:
        assert "userdata-bbb_record_video" not in sent
    assert not {"userdata-bbb_custom_style_url", "userdata-bbb_custom_style",
                "avatarURL", "redirectErrorUrl", "excludeFromDashboard"} & set(sent)  # G21


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.booleans(), st.integers(), VALUES),
                    lambda inner: st.dictionaries(st.sampled_from(
                        ["public", "app", "kurento", "virtualBackgrounds", "enabled",
                         "autoShareWebcam", "skipVideoPreview", "appName", "defaultSettings",
                         "application", "darkTheme", "whiteboard", "helpLink", "x"]), inner,
                        max_size=5), max_leaves=20))
def test_client_settings_reaching_bbb_satisfy_the_policy(settings_json: object) -> None:
    import json

    if not isinstance(settings_json, dict):
        return
    decision = decide_client_settings(json.dumps(settings_json))
    flat: dict[str, object] = {}

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        else:
            flat[path] = node

    walk(decision.settings, "")
    for path, value in CLIENT_SETTINGS_FORCED.items():
        assert flat[path] == value
    assert "://" not in json.dumps(decision.settings)  # G21
