"""Queries as real LMSes put them on the wire, with `/ ( ) ' * ! ~` and non-ASCII in
names: the gateway checks the checksum over the query string exactly as received, as
bbb-web does (bbb.md §1.1: no canonicalisation for GET), whichever encoding the LMS
used, and BBB gets the same values.

- PHP `urlencode` / `http_build_query` (Moodle): space `+`; only `-_.` bare.
- PHP `rawurlencode` (RFC 3986, Greenlight-like clients): space `%20`; `-_.~` bare.
- Java `URLEncoder.encode` (bbb-api-java, Canvas connectors): space `+`; `*-_.` bare.
- Bare sub-delimiters (hand-built URLs): `( ) ' * ! /` left as they are.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from bbb_hooks.checksum import java_urlencode
from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml


def php_urlencode(value: str) -> str:
    return quote(value, safe="-_.").replace("%20", "+")


def php_rawurlencode(value: str) -> str:
    return quote(value, safe="-_.~")


def bare(value: str) -> str:
    return quote(value, safe="/()'*!~")


ENCODINGS: dict[str, Callable[[str], str]] = {
    "php_urlencode": php_urlencode, "php_rawurlencode": php_rawurlencode,
    "java_urlencoder": java_urlencode, "bare_sub_delimiters": bare}
NAME = "Wiskunde (3B) / Juf's les*! ~ café Ωμέγα 数学"
FULL_NAME = "Jan (mentor) O'Brien*!"


def _wire(gw: Gateway, call: str, params: list[tuple[str, str]],
          encode: Callable[[str], str]) -> URL:
    query = "&".join(f"{k}={encode(v)}" for k, v in params)
    checksum = hashlib.sha256((call + query + gw.lms_secret).encode()).hexdigest()
    return URL(f"{gw.base}/bigbluebutton/api/{call}?{query}&checksum={checksum}", encoded=True)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_every_lms_encoding_of_special_characters_passes_the_checksum(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession,
        encoding: str) -> None:
    encode = ENCODINGS[encoding]
    meeting_id = f"wis-3b-{encoding}"
    url = _wire(gateway, "create", [("name", NAME), ("meetingID", meeting_id),
                                    ("meta_privacy-meeting-type", "lesson")], encode)
    assert any(c in url.raw_query_string for c in "%(+"), "the encoding was exercised"
    status, _, body = await get_xml(http, url)
    assert status == 200 and ET.fromstring(body).findtext("returncode") == "SUCCESS", body
    sent = emulator.calls("create")[-1]
    assert sent.checksum_ok and sent.param("name") == NAME  # BBB gets the same name

    join = _wire(gateway, "join", [("meetingID", meeting_id), ("fullName", FULL_NAME),
                                   ("role", "VIEWER")], encode)
    async with http.get(join, allow_redirects=False) as r:
        assert r.status == 302, await r.text()  # to the school login, checksum accepted
        assert r.headers["Location"].startswith(gateway.base + "/bbb/join/")


async def test_a_query_changed_after_signing_is_refused(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    """Signed PHP-style (`%28`), sent bare (`(`): different bytes, so checksumError, as
    bbb-web answers; the gateway does not re-encode to make it fit."""
    signed = _wire(gateway, "create", [("name", NAME), ("meetingID", "wis-3b")],
                   php_urlencode)
    changed = URL(str(signed).replace("%28", "(").replace("%29", ")"), encoded=True)
    _, _, body = await get_xml(http, changed)
    assert ET.fromstring(body).findtext("messageKey") == "checksumError"
    assert emulator.calls("create") == []
