"""Join interception end to end (G1, G2, G4, G5, G10): LMS → gateway → real OpenID
provider → gateway → BBB emulator → html5 client, in a browser-like client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from yarl import URL

from gateway.clock import ManualClock
from gateway.demo.bbb_server import BBBEmulator
from gateway.web import keys
from tests.bbb.support import bbb_changes, lms_url
from tests.bbb.support import new_secret as new_bbb_secret
from tests.gateway_fixtures import (
    ACCOUNTS,
    SchoolEnv,
    browser,
    gateway_settings,
    start_gateway,
)
from tests.oidc_provider import browser_login
from tests.support import metric_value

MEETING = "course-7b-wiskunde"


class Running:
    def __init__(self, app: web.Application, emulator: BBBEmulator, lms_secret: str,
                 base: str, clock: ManualClock) -> None:
        self.app, self.emulator, self.lms_secret = app, emulator, lms_secret
        self.base, self.clock = base, clock

    def lms(self, call: str, params: list[tuple[str, str]]) -> Any:
        return lms_url(self.base, call, params, self.lms_secret)


@pytest.fixture
async def running(env: SchoolEnv, tmp_path: Path) -> AsyncIterator[Running]:
    import time

    emulator = BBBEmulator(new_bbb_secret(), tmp_path / "var-bigbluebutton")
    await emulator.start()
    lms_secret = new_bbb_secret()
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret,
                                bbb_changes(tmp_path, [emulator], [lms_secret]))
    clock = ManualClock(time.time())
    try:
        async with start_gateway(settings, env.port, clock=clock) as app:
            run = Running(app, emulator, lms_secret, env.base, clock)
            async with browser() as lms, lms.get(run.lms("create", [
                    ("meetingID", MEETING), ("name", "Wiskunde 7B"), ("record", "true"),
                    ("moderatorPW", "mp"), ("attendeePW", "ap")])) as r:
                assert "SUCCESS" in await r.text()
            yield run
    finally:
        await emulator.stop()


def _join_params(role: str) -> list[tuple[str, str]]:
    return [("meetingID", MEETING), ("fullName", "Name From LMS"), ("role", role),
            ("userID", "moodle-user-42"), ("avatarURL", "cdn-avatar-x")]
    # (Values without %-escapes: the test client, unlike a browser, re-quotes URLs.)


async def _join_in_browser(run: Running, account: str, role: str) -> tuple[Any, dict[str, str]]:
    """Click 'join' in the LMS, log in, follow the gateway to BBB's html5 client."""
    async with browser() as session:
        result = await browser_login(session, str(run.lms("join", _join_params(role))), account)
        assert result.location and result.location.startswith(run.emulator.url + "/api/join?")
        assert run.emulator.calls("join") == []  # BBB sees nothing before the decision
        # The browser follows BBB's join itself (a browser sends the URL as it is).
        async with session.get(URL(result.location, encoded=True)) as client:
            assert client.status == 200, "BBB's session cookie must reach the html5 client"
            assert "html5client session" in await client.text()
    (received,) = run.emulator.calls("join")
    assert received.checksum_ok
    return result, {k: v[0] for k, v in received.params.items()}


@pytest.mark.parametrize("account, asked, role, no_recorded_video", [
    ("teacher", "MODERATOR", "MODERATOR", False),
    ("pupil", "VIEWER", "VIEWER", True),  # G10: a lesson's default purpose is lecture
    ("pupil", "MODERATOR", "VIEWER", True),  # G2: pupils never moderate
    ("staff", "MODERATOR", "MODERATOR", False),
])
async def test_school_accounts_join_with_the_role_the_policy_allows(
        running: Running, account: str, asked: str, role: str, no_recorded_video: bool) -> None:
    result, params = await _join_in_browser(running, account, asked)
    assert result.login_submitted
    record = running.emulator.meetings[MEETING]
    assert params["role"] == role
    assert params["createTime"] == str(record.create_time)
    assert params["fullName"] == ACCOUNTS[account]["name"]  # the account's, not the link's
    assert re.fullmatch(rf"{account}\.[a-z2-7]{{16}}", params["userID"])  # pseudonymous
    assert params["userdata-bbb_auto_share_webcam"] == "false"  # G4, G6
    assert params["userdata-bbb_skip_video_preview"] == "false"
    assert params["webcamBackgroundURL"] == running.base + "/static/bbb-background.png"  # G5
    assert ("userdata-bbb_record_video" in params) is no_recorded_video
    assert "avatarURL" not in params and "password" not in params  # G21
    for value in (ACCOUNTS[account]["email"], ACCOUNTS[account]["sub"], "moodle-user-42"):
        assert value not in received_query(running)
    joins = running.app[keys.METRICS].joins.labels(platform="bbb", result="ok")
    assert metric_value(joins) == 1
    # G19: whoever joined as moderator may declare this meeting's recording purpose.
    from bbb_hooks.meetings import is_moderator

    issuer = running.app[keys.SETTINGS].policy.identity.providers[0].issuer
    person = running.app[keys.PSEUDONYMS].person(issuer, ACCOUNTS[account]["sub"])
    assert await is_moderator(running.app[keys.STORE], MEETING, person) is (role == "MODERATOR")


def received_query(run: Running) -> str:
    return run.emulator.calls("join")[-1].raw_query


async def test_the_neutral_background_is_served(running: Running) -> None:
    async with browser() as session, session.get(
            running.base + "/static/bbb-background.png") as r:
        assert r.status == 200 and r.content_type == "image/png"
        assert (await r.read()).startswith(b"\x89PNG")


async def test_a_password_join_maps_to_the_role(running: Running) -> None:
    params = [("meetingID", MEETING), ("fullName", "X"), ("password", "mp")]
    async with browser() as session:
        result = await browser_login(session, str(running.lms("join", params)), "teacher")
        assert result.location
    query = dict(parse_qsl(urlsplit(result.location).query))
    assert query["role"] == "MODERATOR" and "password" not in query


async def test_a_consumer_account_is_refused(running: Running) -> None:
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        result = await browser_login(session, str(running.lms("join", _join_params("VIEWER"))),
                                     "consumer")
        assert result.status == 403 and 'data-reason="consumer_domain"' in result.body_text
    assert running.emulator.calls("join") == []  # G1


async def test_a_replayed_ticket_is_refused(running: Running) -> None:
    _, _ = await _join_in_browser(running, "pupil", "VIEWER")
    async with browser() as session:
        await browser_login(session, running.base + "/login", "pupil")
        first = await browser_login(session, str(running.lms("join", _join_params("VIEWER"))),
                                    "pupil")
        assert first.location
        ticket_url = next(u for u in first.url_history if "/bbb/join/" in u)
        async with session.get(ticket_url, allow_redirects=False) as again:
            assert again.status == 410
            assert 'data-message="bbb.join.expired"' in await again.text()


async def test_an_expired_ticket_is_refused(running: Running) -> None:
    async with browser() as session:
        await browser_login(session, running.base + "/login", "teacher")  # logged in first
        async with session.get(running.lms("join", _join_params("MODERATOR")),
                               allow_redirects=False) as r:
            ticket_url = r.headers["Location"]
        assert ticket_url.startswith(running.base + "/bbb/join/")
        running.clock.advance(running.app[keys.SETTINGS].policy.bbb.join_ticket_ttl_seconds + 1)
        async with session.get(ticket_url, allow_redirects=False) as r:
            assert r.status == 410
            assert 'data-message="bbb.join.expired"' in await r.text()
    assert running.emulator.calls("join") == []
    refused = running.app[keys.METRICS].joins.labels(platform="bbb", result="ok")
    assert metric_value(refused) == 0


async def test_a_forged_ticket_is_refused(running: Running) -> None:
    async with browser() as session, session.get(
            running.base + "/bbb/join/" + "A" * 32, allow_redirects=False) as r:
        assert r.status == 410


async def test_G20_who_moderated_is_kept_days_not_for_the_recordings_retention(
        running: Running) -> None:
    """The moderator list is attendance-like: it expires after MODERATOR_TTL, while the
    meeting record (needed until its recording falls due) stays."""
    from bbb_hooks.meetings import MODERATOR_TTL, is_moderator, meeting_info

    await _join_in_browser(running, "teacher", "MODERATOR")
    issuer = running.app[keys.SETTINGS].policy.identity.providers[0].issuer
    person = running.app[keys.PSEUDONYMS].person(issuer, ACCOUNTS["teacher"]["sub"])
    store = running.app[keys.STORE]
    assert await is_moderator(store, MEETING, person)
    assert MODERATOR_TTL <= 7 * 86400
    running.clock.advance(MODERATOR_TTL + 1)
    assert not await is_moderator(store, MEETING, person)
    assert await meeting_info(store, MEETING) is not None


# What an LMS tried to slip into a pupil's join (issue 10): name, what reaches BBB.
LOOSENING = [
    ("userdata-bbb_record_permission", "true", "false"),  # G9: forced off for viewers
    ("userdata-bbb_custom_style_url", "tracker-css", None),  # G21
    ("userdata-bbb_custom_style", "hide-recording-dot", None),  # G8, G21
    ("userdata-bbb_auto_share_webcam", "true", "false"),  # G4
    ("userdata-bbb_record_video", "true", "false"),  # G10: a lesson's purpose is lecture
    ("userdata-bbb_show_participants_on_login", "true", None),  # G20
    ("userdata-bbb_skip_video_preview_on_first_join", "true", None),  # G5
    ("userdata-bbb_hide_actions_bar", "true", None),  # G4: camera button stays
    ("redirectErrorUrl", "lms-error-page", None),
    ("excludeFromDashboard", "true", None),
    ("userdata-moodle-email", "pupil-mail", None),  # personal data in userdata
    ("avatarURL", "cdn-avatar", None),  # G21
]


async def test_an_lms_cannot_loosen_the_policy_through_join(running: Running) -> None:
    params = [("meetingID", MEETING), ("fullName", "N"), ("role", "VIEWER"),
              *((name, value) for name, value, _ in LOOSENING),
              ("userdata-bbb_override_default_locale", "nl")]  # on the allow-list
    async with browser() as session:
        result = await browser_login(session, str(running.lms("join", params)), "pupil")
        assert result.location
        async with session.get(URL(result.location, encoded=True)) as client:
            assert client.status == 200
    received = {k: v[0] for k, v in running.emulator.calls("join")[-1].params.items()}
    for name, _, reaches in LOOSENING:
        assert received.get(name) == reaches, name
    assert received["userdata-bbb_override_default_locale"] == "nl"
    dropped = running.app[keys.METRICS].bbb_join_dropped
    for label in ("userdata-bbb_custom_style_url", "redirectErrorUrl", "excludeFromDashboard",
                  "userdata-bbb_record_permission", "userdata-other", "avatarURL"):
        assert metric_value(dropped.labels(parameter=label)) == 1, label
