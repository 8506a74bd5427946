"""The create rule table (issue 4 §2): what an LMS sends, what reaches BBB.

Every row goes LMS → gateway → BBB emulator; the emulator verifies the
re-signed checksum, and the row checks the parameters BBB actually received.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gateway.demo.bbb_server import BBBEmulator
from gateway.policy.bbb import JoinAccount, JoinMeeting, decide_create, decide_join
from tests.bbb.support import Gateway, get_xml
from tests.support import make_settings

ABSENT = None
# Always true of what reaches BBB, whatever the LMS sent (G8, G13, G15, G16, G20).
BASELINE = {
    "autoStartRecording": "false", "allowStartStopRecording": "true",
    "recordFullDurationMedia": "false", "meetingKeepEvents": "false",
    "notifyRecordingIsOn": "true", "remindRecordingIsOn": "true",
    "allowModsToEjectCameras": "true", "meta_privacy-policy-version": "2026.1",
    "allowRequestsWithoutSession": "false",
}

ROWS: list[tuple[str, list[tuple[str, str]], dict[str, str | None], set[str]]] = [
    ("G8_auto_start_recording_refused", [("autoStartRecording", "true"), ("record", "true")],
     {"autoStartRecording": "false", "record": "true"}, {"autoStartRecording"}),
    ("G13_start_stop_button_kept", [("allowStartStopRecording", "false")],
     {"allowStartStopRecording": "true"}, {"allowStartStopRecording"}),
    ("G8_full_duration_media_refused", [("recordFullDurationMedia", "true")],
     {"recordFullDurationMedia": "false"}, {"recordFullDurationMedia"}),
    ("G16_keep_events_refused", [("meetingKeepEvents", "true")],
     {"meetingKeepEvents": "false"}, {"meetingKeepEvents"}),
    ("G16_legacy_keep_events_dropped", [("keepEvents", "true")],
     {"keepEvents": ABSENT, "meetingKeepEvents": "false"}, {"meetingKeepEvents"}),
    ("G8_recording_notice_forced_on", [("notifyRecordingIsOn", "false"),
                                       ("remindRecordingIsOn", "false")],
     {"notifyRecordingIsOn": "true", "remindRecordingIsOn": "true"},
     {"notifyRecordingIsOn", "remindRecordingIsOn"}),
    ("G20_per_person_analytics_callback_dropped",
     [("meta_analytics-callback-url", "https://lms.example/analytics")],
     {"meta_analytics-callback-url": ABSENT}, {"meta"}),
    # G7: the teacher can switch a pupil's camera off.
    ("G7_teacher_may_switch_cameras_off", [("allowModsToEjectCameras", "false")],
     {"allowModsToEjectCameras": "true"}, {"allowModsToEjectCameras"}),
    # G1: a join URL stays bound to the browser's session (bbb.md §1.3).
    ("G1_requests_without_session_refused", [("allowRequestsWithoutSession", "true")],
     {"allowRequestsWithoutSession": "false"}, {"allowRequestsWithoutSession"}),
    # G17, G21: BBB's client loads the create logo in every browser.
    ("G21_third_party_logo_dropped", [("logo", "https://tracker.example/logo.png")],
     {"logo": ABSENT}, {"logo"}),
    ("G21_third_party_dark_logo_dropped", [("darklogo", "https://tracker.example/d.png")],
     {"darklogo": ABSENT}, {"logo"}),
    ("G21_logo_host_behind_backslash_dropped",
     [("logo", "https://tracker.example\\@127.0.0.1/logo.png")], {"logo": ABSENT}, {"logo"}),
    ("G21_logo_on_own_server_kept", [("logo", "https://127.0.0.1/static/logo.png")],
     {"logo": "https://127.0.0.1/static/logo.png"}, set()),
    ("lesson_record_allowed", [("record", "true")], {"record": "true"}, set()),
    ("record_absent_means_false", [], {"record": "false"}, set()),
    ("G3_confidential_never_recorded",
     [("record", "true"), ("meta_privacy-meeting-type", "confidential")],
     {"record": "false", "breakoutRoomsRecord": "false",
      "meta_privacy-meeting-type": "confidential"}, {"record"}),
    ("G5_virtual_backgrounds_never_disabled",
     [("disabledFeatures", "virtualBackgrounds,chat,customVirtualBackgrounds")],
     {"disabledFeatures": "chat,learningDashboard,liveTranscription,captions"},
     {"disabledFeatures"}),
    ("G5_singular_spelling_also_kept", [("disabledFeatures", "customVirtualBackground")],
     {"disabledFeatures": "learningDashboard,liveTranscription,captions"},
     {"disabledFeatures"}),
    ("G5_deprecated_background_switch", [("virtualBackgroundsDisabled", "true")],
     {"virtualBackgroundsDisabled": "false"}, {"disabledFeatures"}),
    ("G15_G20_features_added_without_conflict", [("disabledFeatures", "polls")],
     {"disabledFeatures": "polls,learningDashboard,liveTranscription,captions"}, set()),
    ("G15_exclude_cannot_reenable_transcription",
     [("disabledFeaturesExclude", "liveTranscription,chat")],
     {"disabledFeaturesExclude": "chat"}, {"disabledFeatures"}),
    ("G20_dashboard_exclude_dropped", [("disabledFeaturesExclude", "learningDashboard")],
     {"disabledFeaturesExclude": ABSENT}, {"disabledFeatures"}),
    ("G20_deprecated_dashboard_switch", [("learningDashboardEnabled", "true")],
     {"learningDashboardEnabled": "false"}, {"disabledFeatures"}),
    ("G2_guest_policy_always_accept", [("guestPolicy", "ALWAYS_ACCEPT")],
     {"guestPolicy": "ALWAYS_DENY"}, {"guestPolicy"}),
    ("G2_guest_policy_set_when_absent", [], {"guestPolicy": "ALWAYS_DENY"}, set()),
    ("G2_ask_moderator_without_guests", [("guestPolicy", "ASK_MODERATOR")],
     {"guestPolicy": "ALWAYS_DENY"}, {"guestPolicy"}),
    ("meta_names_with_underscores_dropped", [("meta_bbb_origin", "Moodle")],
     {"meta_bbb_origin": ABSENT}, {"meta"}),
    ("meta_lms_keys_pass", [("meta_bbb-origin", "Moodle")], {"meta_bbb-origin": "Moodle"},
     set()),
    ("G19_purpose_is_the_policys", [("meta_privacy-purpose", "exam_evidence")],
     {"meta_privacy-purpose": "lecture"}, {"meta"}),
    ("G19_other_spelling_of_own_key_dropped", [("meta_Privacy-Policy-Version", "0")],
     {"meta_Privacy-Policy-Version": ABSENT, "meta_privacy-policy-version": "2026.1"},
     {"meta"}),
    ("lms_declares_staff_meeting", [("meta_privacy-meeting-type", "meeting")],
     {"meta_privacy-meeting-type": "meeting", "meta_privacy-purpose": "feedback"}, set()),
    ("default_meeting_type_from_policy", [],
     {"meta_privacy-meeting-type": "lesson", "meta_privacy-purpose": "lecture"}, set()),
    ("unrelated_parameters_untouched", [("welcome", "Hallo <b>klas</b> & co"),
                                        ("muteOnStart", "true")],
     {"welcome": "Hallo <b>klas</b> & co", "muteOnStart": "true"}, set()),
]


def _override(gw: Gateway, parameter: str) -> float:
    value = gw.metrics.registry.get_sample_value(
        "privacy_gateway_bbb_create_overrides_total", {"parameter": parameter})
    return float(value or 0)


@pytest.mark.parametrize("name, sent, expected, overrides", ROWS, ids=[r[0] for r in ROWS])
async def test_create_reaches_bbb_with_the_policy_applied(
        name: str, sent: list[tuple[str, str]], expected: dict[str, str | None],
        overrides: set[str], gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    before = {p: _override(gateway, p) for p in overrides}
    status, ctype, body = await get_xml(
        http, gateway.url("create", [("meetingID", f"m-{name}"), ("name", "Les"), *sent]))
    assert (status, ctype) == (200, "text/xml")
    assert "<returncode>SUCCESS</returncode>" in body
    (received,) = emulator.calls("create")
    assert received.checksum_ok
    got = {k: v[0] for k, v in received.params.items()}
    for key, value in {**BASELINE, **expected}.items():
        assert got.get(key) == value, key
    assert got["meetingID"] == f"m-{name}"
    for parameter in overrides:
        assert _override(gateway, parameter) == before[parameter] + 1, parameter


async def test_xml_body_with_presentation_modules_passes_intact(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    modules = (b'<?xml version="1.0" encoding="UTF-8"?><modules><module name="presentation">'
               b'<document url="https://lms.school.example/slides.pdf" filename="les.pdf"/>'
               b'</module></modules>')
    url = gateway.url("create", [("meetingID", "slides"), ("autoStartRecording", "true")])
    async with http.post(url, data=modules, headers={"Content-Type": "text/xml"}) as r:
        assert "SUCCESS" in await r.text()
    (received,) = emulator.calls("create")
    assert received.checksum_ok and received.body == modules
    assert received.param("autoStartRecording") == "false"


async def test_form_post_is_resigned_over_the_canonical_form(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    from bbb_hooks.checksum import canonical_form, sign

    params = [("meetingID", "form 1"), ("name", "Les ~ één"), ("guestPolicy", "ALWAYS_ACCEPT")]
    form = canonical_form(params)
    checksum = sign("create", form, gateway.lms_secret.encode(), "sha512")
    async with http.post(f"{gateway.base}/bigbluebutton/api/create",
                         data=form + "&checksum=" + checksum,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert "SUCCESS" in await r.text()
    (received,) = emulator.calls("create")
    assert received.method == "POST" and received.raw_query == "" and received.checksum_ok
    assert received.param("name") == "Les ~ één"
    assert received.param("guestPolicy") == "ALWAYS_DENY"


# -- the pure engine on its own ----------------------------------------------------------

@pytest.fixture
def policy(tmp_path: Any) -> Any:
    return make_settings(tmp_path).policy


@pytest.mark.parametrize("meeting_type, consented, transcription_disabled", [
    ("lesson", False, True),
    ("lesson", True, False),  # G15: opt_in and everyone consented
    ("confidential", True, True),  # G3: never, even with consent
])
def test_transcription_only_with_consent_where_allowed(
        policy: Any, meeting_type: str, consented: bool, transcription_disabled: bool) -> None:
    decision = decide_create(policy, [("meetingID", "m"),
                                      ("meta_privacy-meeting-type", meeting_type)],
                             transcription_consented=consented)
    features = dict(decision.params)["disabledFeatures"].split(",")
    assert ("liveTranscription" in features) is transcription_disabled
    assert ("captions" in features) is transcription_disabled
    assert "learningDashboard" in features  # G20 in every case


ACCOUNT_ROWS = [
    # account role, LMS asked, purpose, role at BBB, pupil video kept out of the recording
    ("teacher", "MODERATOR", "lecture", "MODERATOR", False),
    ("teacher", "VIEWER", "lecture", "VIEWER", False),
    ("staff", "MODERATOR", "feedback", "MODERATOR", False),
    ("pupil", "MODERATOR", "lecture", "VIEWER", True),  # G2: pupils never moderate
    ("pupil", "VIEWER", "feedback", "VIEWER", False),
]


@pytest.mark.parametrize("account_role, asked, purpose, role, no_video", ACCOUNT_ROWS)
def test_join_decision(policy: Any, account_role: Any, asked: Any, purpose: Any, role: str,
                       no_video: bool) -> None:
    decision = decide_join(
        policy, JoinAccount(role=account_role, name="Sam"),
        JoinMeeting("m", "lesson", purpose, "1700000000000"), asked,
        [("userdata-bbb_auto_share_webcam", "true"), ("avatarURL", "https://cdn.example/a.png"),
         ("userdata-bbb_show_public_chat_on_login", "false")],
        lms_full_name="LMS Name", user_id="pupil.abc", background_url="https://gw/bg.png")
    params = dict(decision.params)
    assert decision.allowed and params["role"] == role
    assert params["createTime"] == "1700000000000" and params["userID"] == "pupil.abc"
    assert params["fullName"] == "Sam"
    assert params["userdata-bbb_auto_share_webcam"] == "false"  # G4, not the LMS's true
    assert params["userdata-bbb_skip_video_preview"] == "false"
    assert params["webcamBackgroundURL"] == "https://gw/bg.png"  # G5
    assert "avatarURL" not in params  # G21
    assert params["userdata-bbb_show_public_chat_on_login"] == "false"
    assert ("userdata-bbb_record_video" in params) is no_video  # G10
    assert "password" not in params


def test_guest_accounts_are_refused_where_guests_are_not_allowed(policy: Any) -> None:
    decision = decide_join(policy, JoinAccount(role="guest", name=None),
                           JoinMeeting("m", "lesson", "lecture", "1"), "VIEWER", [],
                           lms_full_name="x", user_id="u", background_url="b")
    assert not decision.allowed and decision.reason == "guest_not_allowed"
