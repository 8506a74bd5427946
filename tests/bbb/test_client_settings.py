"""A create's clientSettingsOverride module (BBB 3.0): what an LMS may set in the
html5 client, and what it cannot (G4, G5, G21)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import aiohttp
import pytest

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway
from tests.bbb.test_proxy import failed_key
from tests.support import metric_value

LMS_SETTINGS = {"public": {
    "app": {"appName": "Les 7B", "virtualBackgrounds": {"enabled": False},
            "defaultSettings": {"application": {"darkTheme": True,
                                                "customStyleUrl": "https://tracker.example/x.css"}},
            "helpLink": "https://help.example"},
    "kurento": {"autoShareWebcam": True, "skipVideoPreview": True},
    "virtualBackgrounds": {"enabled": False},
    "presentation": {"defaultPresentationFile": "https://cdn.example/x.pdf",
                     "oldMinimizeButton": True},
    "media": {"audioConnectionTimeout": 1},
}}


def _modules(settings_text: str) -> bytes:
    return ('<modules><module name="presentation"><document url="x"/></module>'
            f'<module name="clientSettingsOverride"><![CDATA[{settings_text}]]></module>'
            "</modules>").encode()


async def _post_create(http: aiohttp.ClientSession, gateway: Gateway, meeting_id: str,
                       body: bytes) -> tuple[int, str, str]:
    url = gateway.url("create", [("meetingID", meeting_id)])
    async with http.post(url, data=body, headers={"Content-Type": "text/xml"}) as r:
        return r.status, r.content_type, await r.text()


async def test_client_settings_reach_bbb_filtered_and_forced(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    _, _, answer = await _post_create(http, gateway, "cs-1", _modules(json.dumps(LMS_SETTINGS)))
    assert "<returncode>SUCCESS</returncode>" in answer
    (sent,) = emulator.calls("create")
    modules = ET.fromstring(sent.body)
    assert modules.find("module[@name='presentation']/document") is not None  # kept
    got = json.loads(modules.findtext("module[@name='clientSettingsOverride']") or "")
    public = got["public"]
    assert public["app"]["virtualBackgrounds"]["enabled"] is True  # G5
    assert public["virtualBackgrounds"]["enabled"] is True  # G5
    assert public["kurento"] == {"autoShareWebcam": False, "skipVideoPreview": False}  # G4, G5
    assert public["app"]["appName"] == "Les 7B"
    assert public["app"]["defaultSettings"]["application"] == {"darkTheme": True}
    assert public["presentation"] == {"oldMinimizeButton": True}
    assert "https://" not in json.dumps(got)  # G21: no outside address
    assert "helpLink" not in public["app"] and "media" not in public
    overrides = gateway.metrics.bbb_create_overrides
    assert metric_value(overrides.labels(parameter="clientSettingsOverride")) == 1


@pytest.mark.parametrize("attack, body", [
    ("not_json", _modules("{'public': ")),
    ("json_but_not_an_object", _modules("[1, 2]")),
    ("modules_not_well_formed", b'<modules><module name="clientSettingsOverride">{}</modul>'),
    ("entity_tricks", b'<!DOCTYPE m [<!ENTITY a "b">]><modules>'
                      b'<module name="clientSettingsOverride">&a;</module></modules>'),
])
async def test_unreadable_client_settings_are_refused_in_bbb_xml(
        attack: str, body: bytes, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    key = failed_key(*await _post_create(http, gateway, "cs-2", body))
    assert key == "invalidClientSettings"
    assert emulator.calls("create") == []  # never passed on byte for byte


@pytest.mark.parametrize("attack, body", [
    ("character_reference_in_the_name",
     b'<modules><module name="client&#83;ettingsOverride">'
     b'{"public":{"kurento":{"autoShareWebcam":true}}}</module></modules>'),
    ("utf16_document",
     '<?xml version="1.0" encoding="UTF-16"?><modules><module name="clientSettingsOverride">'
     '{"public":{"kurento":{"autoShareWebcam":true}}}</module></modules>'.encode("utf-16")),
])
async def test_client_settings_spelled_otherwise_are_still_filtered(
        attack: str, body: bytes, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    _, _, answer = await _post_create(http, gateway, "cs-3", body)
    assert "<returncode>SUCCESS</returncode>" in answer
    (sent,) = emulator.calls("create")
    got = json.loads(ET.fromstring(sent.body).findtext(
        "module[@name='clientSettingsOverride']") or "")
    assert got["public"]["kurento"]["autoShareWebcam"] is False  # G4


async def test_a_presentation_upload_without_client_settings_passes_intact(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    body = (b'<?xml version="1.0" encoding="UTF-8"?><modules><module name="presentation">'
            b'<document name="slides.pdf">' + b"QUJD" * 50_000 + b"</document></module></modules>")
    _, _, answer = await _post_create(http, gateway, "cs-4", body)
    assert "<returncode>SUCCESS</returncode>" in answer
    assert emulator.calls("create")[0].body == body  # byte for byte
