"""Every bad playback input gets a clear 401, 403 or 410 page, never a file (G14, G17):
through the real nginx with the shipped snippet, the gateway as its check."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable

import pytest
from yarl import URL

from gateway.playback.tokens import cookie_name, cookie_value
from gateway.playback.web import PLAYBACK
from gateway.web import keys
from tests.gateway_fixtures import browser
from tests.oidc_provider import browser_login
from tests.playback.harness import raw_get
from tests.playback.stack import FEEDBACK, LECTURE, Stack

PAGE_TEXT = {
    401: ("not with a copied link", "Log in with your school account"),
    403: ("not valid", "another recording", "does not belong to a recording"),
    410: ("expired", "already used"),
}


def _assert_clear_page(status: int, headers: dict[str, str], body: bytes, expected: int,
                       files: dict[str, bytes]) -> None:
    assert status == expected
    assert headers.get("content-type", "").startswith("text/html")
    text = body.decode()
    assert "<h1>You cannot watch this recording</h1>" in text
    assert any(p in text for p in PAGE_TEXT[expected]), text
    for data in files.values():
        assert data[:12] not in body  # never a file


async def _cookie_for(stack: Stack, meeting_id: str) -> tuple[str, str]:
    """A grant's cookie for one recording (as the BBB host sets it), name and value."""
    record_id = stack.records[meeting_id]
    ctx = stack.app[PLAYBACK]
    expires = int(stack.clock.time()) + 600
    return cookie_name(record_id, ctx.secure), cookie_value(ctx.key, record_id, expires)


def _tamper(link: str, **fields: object) -> str:
    token = link.rsplit("/", 1)[1]
    body, mac = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data.update(fields)
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return link.rsplit("/", 1)[0] + f"/{encoded}.{mac}"


# -- the files behind nginx --------------------------------------------------------------

Case = Callable[[Stack], Awaitable[tuple[str, dict[str, str], int]]]


async def _no_cookie(stack: Stack) -> tuple[str, dict[str, str], int]:
    return f"/presentation/{stack.records[LECTURE]}/video/webcams.webm", {}, 401


async def _cookie_for_another_recording(stack: Stack) -> tuple[str, dict[str, str], int]:
    name, value = await _cookie_for(stack, LECTURE)
    return (f"/presentation/{stack.records[FEEDBACK]}/video/webcams.webm",
            {"Cookie": f"{name}={value}"}, 401)


async def _other_recordings_cookie_renamed(stack: Stack) -> tuple[str, dict[str, str], int]:
    _, value = await _cookie_for(stack, LECTURE)
    name, _ = await _cookie_for(stack, FEEDBACK)
    return (f"/presentation/{stack.records[FEEDBACK]}/video/webcams.webm",
            {"Cookie": f"{name}={value}"}, 403)


async def _expired_cookie(stack: Stack) -> tuple[str, dict[str, str], int]:
    record_id = stack.records[LECTURE]
    ctx = stack.app[PLAYBACK]
    value = cookie_value(ctx.key, record_id, int(stack.clock.time()) - 1)
    return (f"/playback/video/{record_id}/video-0.m4v",
            {"Cookie": f"{cookie_name(record_id, ctx.secure)}={value}"}, 401)


async def _forged_cookie(stack: Stack) -> tuple[str, dict[str, str], int]:
    name, value = await _cookie_for(stack, LECTURE)
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    return (f"/presentation/{stack.records[LECTURE]}/shapes.svg",
            {"Cookie": f"{name}={forged}"}, 403)


async def _dot_dot_traversal(stack: Stack) -> tuple[str, dict[str, str], int]:
    """A cookie for the lecture, a path that nginx resolves into the feedback recording."""
    name, value = await _cookie_for(stack, LECTURE)
    return (f"/presentation/{stack.records[LECTURE]}/../{stack.records[FEEDBACK]}"
            "/video/webcams.webm", {"Cookie": f"{name}={value}"}, 403)


async def _encoded_traversal(stack: Stack) -> tuple[str, dict[str, str], int]:
    name, value = await _cookie_for(stack, LECTURE)
    return (f"/presentation/{stack.records[LECTURE]}/%2e%2e/{stack.records[FEEDBACK]}"
            "/video/webcams.webm", {"Cookie": f"{name}={value}"}, 403)


async def _raw_recording(stack: Stack) -> tuple[str, dict[str, str], int]:
    name, value = await _cookie_for(stack, LECTURE)
    return (f"/presentation/{stack.records[LECTURE]}x/events.xml",
            {"Cookie": f"{name}={value}"}, 403)


@pytest.mark.parametrize("case", [
    _no_cookie, _cookie_for_another_recording, _other_recordings_cookie_renamed,
    _expired_cookie, _forged_cookie, _dot_dot_traversal, _encoded_traversal, _raw_recording,
], ids=lambda c: c.__name__.strip("_"))
async def test_a_bad_request_for_a_file_gets_a_page_never_the_file(stack: Stack,
                                                                   case: Case) -> None:
    target, headers, expected = await case(stack)
    status, got_headers, body = await raw_get(stack.nginx_port, target, headers)
    all_files = {k: v for files in stack.files.values() for k, v in files.items()}
    _assert_clear_page(status, got_headers, body, expected, all_files)


async def test_the_right_cookie_opens_its_recording_with_range_requests(stack: Stack) -> None:
    """The control for the table above: the same requests with a good cookie work."""
    name, value = await _cookie_for(stack, LECTURE)
    record_id = stack.records[LECTURE]
    status, headers, body = await raw_get(
        stack.nginx_port, f"/playback/video/{record_id}/video-0.m4v",
        {"Cookie": f"{name}={value}", "Range": "bytes=4-11"})
    assert status == 206 and body == b"ftypmp42"
    assert headers["content-range"].startswith("bytes 4-11/")


async def test_raw_and_unpublished_trees_are_never_served(stack: Stack) -> None:
    record_id = stack.records[LECTURE]
    for target in (f"/recording/raw/{record_id}/events.xml",
                   f"/published/presentation/{record_id}/metadata.xml"):
        status, _, body = await raw_get(stack.nginx_port, target)
        assert status == 403 and b"<recording" not in body and b"<meta" not in body


# -- the links and grants --------------------------------------------------------------

async def _follow_as(stack: Stack, url: str, account: str = "pupil") -> tuple[int, str]:
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        result = await browser_login(session, url, account)
        return result.status, result.body_text


async def test_an_expired_link_is_gone(stack: Stack) -> None:
    link = (await stack.links(LECTURE))["presentation"]
    stack.clock.advance(stack.app[keys.SETTINGS].policy.playback.link_ttl_seconds + 1)
    status, body = await _follow_as(stack, link)
    assert status == 410 and 'data-reason="expired"' in body and "has expired" in body


@pytest.mark.parametrize("stack", ["memory", "redis"], indirect=True)
async def test_a_replayed_link_is_gone(stack: Stack) -> None:
    link = (await stack.links(LECTURE))["presentation"]
    status, _ = await _follow_as(stack, link)
    assert status == 302  # granted: on to the BBB host
    status, body = await _follow_as(stack, link)
    assert status == 410 and 'data-reason="replayed"' in body


@pytest.mark.parametrize("tamper", ["forged_mac", "cross_recording", "garbage"])
async def test_a_forged_link_is_refused(stack: Stack, tamper: str) -> None:
    link = (await stack.links(LECTURE))["presentation"]
    if tamper == "forged_mac":
        bad = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    elif tamper == "cross_recording":  # the lecture's link pointed at the feedback recording
        bad = _tamper(link, r=stack.records[FEEDBACK])
    else:
        bad = link.rsplit("/", 1)[0] + "/not-a-token"
    status, body = await _follow_as(stack, bad)
    assert status == 403 and 'data-reason="' in body and "is not valid" in body


async def test_a_link_without_login_asks_for_the_school_login(stack: Stack) -> None:
    link = (await stack.links(LECTURE))["presentation"]
    async with browser() as session, session.get(URL(link, encoded=True),
                                                 allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith("/login?next=")
    status, _ = await _follow_as(stack, link)  # not spent by the visit without login
    assert status == 302  # granted: on to the BBB host


@pytest.mark.parametrize("tamper", ["replayed", "forged", "other_path"])
async def test_a_bad_grant_is_refused_on_the_bbb_host(stack: Stack, tamper: str) -> None:
    link = (await stack.links(LECTURE))["presentation"]
    async with browser() as session:
        result = await browser_login(session, link, "pupil",
                                     follow_origins=[])  # stop at the BBB host
    assert result.location is not None
    grant = URL(result.location, encoded=True).raw_path
    if tamper == "replayed":
        status, _, _ = await raw_get(stack.nginx_port, grant)
        assert status == 302
        expected = 410
    elif tamper == "forged":
        grant = grant[:-3] + ("AAA" if not grant.endswith("AAA") else "BBB")
        expected = 403
    else:
        prefix, token = grant.rsplit("/", 1)
        grant = prefix + "/" + _tamper(
            "x/" + token, u=f"/presentation/{stack.records[FEEDBACK]}/").split("/", 1)[1]
        expected = 403
    status, headers, _ = await raw_get(stack.nginx_port, grant)
    assert status == expected and headers["content-type"].startswith("text/html")
    assert "set-cookie" not in headers
