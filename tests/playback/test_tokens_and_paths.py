"""Signed links, grants and cookies, and BBB playback paths: the pure parts (G14, G17)."""

from __future__ import annotations

import pytest

from bbb_hooks.playback_paths import PLAYER, BadPath, recording_of
from gateway.playback.tokens import (
    TokenError,
    check_cookie,
    cookie_name,
    cookie_value,
    derive_key,
    issue_grant,
    issue_link,
    open_grant,
    open_link,
)

KEY = derive_key(b"k" * 32)
RID = "0123456789abcdef0123456789abcdef01234567-1796400000000"
OTHER = "fedcba9876543210fedcba9876543210fedcba98-1796400000000"
NOW = 1_800_000_000.0


def _link(**over: object) -> str:
    args: dict[str, object] = {"platform": "bbb", "recording_id": RID, "fmt": "presentation",
                               "target": f"https://bbb/playback/presentation/2.3/{RID}",
                               "purpose": "lecture", "meeting_ref": "m", "now": NOW, "ttl": 300}
    args.update(over)
    return issue_link(KEY, **args)  # type: ignore[arg-type]


def test_a_link_opens_until_it_expires() -> None:
    link = open_link(KEY, _link(), NOW + 299)
    assert (link.recording_id, link.format, link.purpose) == (RID, "presentation", "lecture")
    with pytest.raises(TokenError) as err:
        open_link(KEY, _link(), NOW + 300)
    assert err.value.problem == "expired"


def test_links_are_one_per_recording_and_format_and_never_alike() -> None:
    assert len({_link(), _link(), _link(fmt="video"), _link(recording_id=OTHER)}) == 4


@pytest.mark.parametrize("token, problem", [
    ("", "malformed"), ("a.b.c", "malformed"), ("!!!.???", "malformed"),
    ("x" * 5000, "malformed"),
])
def test_garbage_is_malformed(token: str, problem: str) -> None:
    with pytest.raises(TokenError) as err:
        open_link(KEY, token, NOW)
    assert err.value.problem == problem


def test_another_key_or_a_changed_body_is_forged() -> None:
    with pytest.raises(TokenError) as err:
        open_link(derive_key(b"x" * 32), _link(), NOW)
    assert err.value.problem == "forged"
    mac = _link().split(".")[1]
    other_body = _link(recording_id=OTHER).split(".")[0]
    with pytest.raises(TokenError) as err:
        open_link(KEY, f"{other_body}.{mac}", NOW)  # cross-recording
    assert err.value.problem == "forged"


def test_a_grant_is_no_link_and_a_link_no_grant() -> None:
    grant = issue_grant(KEY, recording_id=RID, target="/x", now=NOW, cookie_ttl=600)
    assert open_grant(KEY, grant, NOW).cookie_expires == int(NOW) + 600
    with pytest.raises(TokenError) as err:
        open_link(KEY, grant, NOW)
    assert err.value.problem == "wrong_kind"
    with pytest.raises(TokenError):
        open_grant(KEY, _link(), NOW)


def test_a_cookie_opens_its_recording_only() -> None:
    value = cookie_value(KEY, RID, int(NOW) + 60)
    assert check_cookie(KEY, RID, value, NOW) == "ok"
    assert check_cookie(KEY, OTHER, value, NOW) == "forged"  # another recording
    assert check_cookie(KEY, RID, value, NOW + 60) == "expired"
    assert check_cookie(KEY, RID, None, NOW) == "missing"
    assert check_cookie(KEY, RID, "9999999999.AAAAAAAAAAAAAAAAAAAAAA", NOW) == "forged"
    assert check_cookie(KEY, RID, "garbage", NOW) == "forged"
    assert cookie_name(RID, True).startswith("__Host-pgw_pb_")
    assert cookie_name(RID, False) != cookie_name(OTHER, False)


@pytest.mark.parametrize("uri, expected", [
    (f"/playback/presentation/2.3/{RID}", RID),
    (f"/playback/presentation/2.3/{RID}/", RID),
    (f"/presentation/{RID}/video/webcams.webm", RID),
    (f"/presentation/{RID}/slides/1.png?x=1", RID),
    (f"/playback/video/{RID}/video-0.m4v", RID),
    (f"/podcast/{RID}/audio.ogg", RID),
    (f"/notes/{RID}/notes.pdf", RID),
    (f"/recording/screenshare/{RID}/deskshare.webm", RID),
    (f"/playback/presentation/0.9.0/playback.html?meetingId={RID}", RID),
    ("/playback/presentation/2.3/static/js/main.js", PLAYER),
    ("/playback/presentation/2.3/index.html", PLAYER),
])
def test_every_bbb_playback_path_names_its_recording(uri: str, expected: str) -> None:
    assert recording_of(uri) == expected


@pytest.mark.parametrize("uri, problem", [
    (f"/presentation/{RID}/../{OTHER}/video/webcams.webm", "bad_path"),
    (f"/presentation/{RID}/%2e%2e/{OTHER}/video/webcams.webm", "bad_path"),
    (f"/presentation/{RID}/%2E%2e/{OTHER}/x", "bad_path"),
    (f"/presentation/{RID}%2f..%2f{OTHER}/x", "bad_path"),
    (f"/presentation/{RID}/..%5c{OTHER}/x", "bad_path"),
    (f"/presentation//{RID}/x", "bad_path"),
    (f"/presentation/{RID}/x%00.webm", "bad_path"),
    (f"/presentation/./{RID}/x", "bad_path"),
    ("presentation/x", "bad_path"),
    (f"/presentation/{RID}x/events.xml", "not_a_recording"),
    ("/presentation/", "not_a_recording"),
    (f"/recording/raw/{RID}/events.xml", "not_a_recording"),
    (f"/playback/presentation/2.3/{RID}x", "not_a_recording"),
    ("/playback/presentation/0.9.0/playback.html?meetingId=x", "not_a_recording"),
    (f"/playback/presentation/0.9.0/playback.html?meetingId={RID}&meetingId={OTHER}",
     "not_a_recording"),
])
def test_traversal_and_strangers_are_refused_not_interpreted(uri: str, problem: str) -> None:
    with pytest.raises(BadPath) as err:
        recording_of(uri)
    assert err.value.problem == problem
