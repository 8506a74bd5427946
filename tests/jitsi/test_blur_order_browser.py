"""G5, blur before the first camera frame: the meeting page in real headless Chromium with a
fake camera (--use-fake-device-for-media-stream, tests/browser.py).

No Jitsi runs here. `external_api.js` is a stand-in that records every command and
behaves as Jitsi Meet does for backgrounds (jitsi-meet `modules/API/API.js` and
`react/features/virtual-background/actions.ts`):
- `setBlurredBackground` does nothing while the camera is off: Jitsi's
  toggleBlurredBackgroundEffect returns at once when the video is muted or has no track;
- `setVirtualBackground` is stored (features/virtual-background) with or without a track;
- turning the camera on creates the camera track (here: a real getUserMedia on Chromium's
  fake camera) with the STORED effect applied from its first frame (loadEffects).
The test turns the camera on the way a person does, through Jitsi's own button, and
checks that a background was requested before the camera came on and was in force on the
first frame."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.browser import chromium
from tests.gateway_fixtures import start_gateway
from tests.jitsi.support import jitsi_host, jitsi_settings, person_of, seed_session
from tests.jitsi.test_page_browser import _until, hook
from tests.support import free_port

ROOM = "lesson-blur"

STANDIN = """
window.__jitsi = { timeline: [], firstFrame: null, frames: 0 };
window.JitsiMeetExternalAPI = function (domain, options) {
  var log = window.__jitsi.timeline;
  var listeners = {};
  var background = { enabled: false, type: null };  // Jitsi's features/virtual-background
  var track = null;
  window.__jitsi.api = this;
  function emit(name, event) { if (listeners[name]) { listeners[name](event); } }
  this.addListener = function (name, fn) { listeners[name] = fn; };
  this.executeCommand = function (name, first) {
    log.push(name + ":" + (name === "setVirtualBackground" ? String(first) : first));
    if (name === "setVirtualBackground") {
      background = { enabled: !!first, type: first ? "image" : null };
    } else if (name === "setBlurredBackground") {
      if (!track) { return; }  // API.js: a no-op while the camera is muted
      background = first === "none" ? { enabled: false, type: null }
                                     : { enabled: true, type: "blur" };
    }
  };
  // Jitsi's camera button: the track is created with the stored effect (loadEffects).
  this.personTurnsCameraOn = function () {
    return navigator.mediaDevices.getUserMedia({ video: true }).then(function (stream) {
      track = stream.getVideoTracks()[0];
      window.__jitsi.firstFrame = { effect: background.enabled ? background.type : "none",
                                    live: track.readyState === "live" };
      log.push("camera-on");
      emit("videoMuteStatusChanged", { muted: false });
    });
  };
  setTimeout(function () {
    emit("videoConferenceJoined", { roomName: options.roomName });
    window.__jitsi.joined = true;
  }, 30);
};
"""


@pytest.fixture
async def standin_jitsi() -> AsyncIterator[str]:
    async with jitsi_host(STANDIN) as base_url:
        yield base_url


@pytest.fixture
async def gateway(tmp_path: Path, standin_jitsi: str) -> AsyncIterator[tuple[web.Application, str]]:
    port = free_port()
    settings = jitsi_settings(tmp_path, {"jitsi": {"base_url": standin_jitsi}}, port=port)
    async with start_gateway(settings, port, wait_ready=False) as app:
        yield app, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("blur_checked", [True, False], ids=["blur", "blur_switched_off"])
async def test_g5_blur_is_requested_before_the_camera_comes_on(
        gateway: tuple[web.Application, str], blur_checked: bool) -> None:
    """Finding 9: blur was asked for only after `videoMuteStatusChanged {muted:false}`,
    that is after the camera was on, and Jitsi ignores it until then anyway."""
    app, base = gateway
    name, value = (await seed_session(app, "pupil")).split("=", 1)
    await hook(app, base, {"event": "occupant_joined", "room": ROOM, "occupant": "o/p1",
                           "person": person_of(app, "pupil"), "service": False})
    async with chromium() as browser:
        context = await browser.new_context(locale="en-GB")
        await context.add_cookies([{"name": name, "value": value, "url": base}])
        page = await context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        await page.goto(f"{base}/jitsi/{ROOM}?lang=en")
        if not blur_checked:
            await page.uncheck("#blur")  # the person's own choice, before joining
        await page.click("#join")
        await _until(page, "window.__jitsi.joined === true")  # in the conference, camera off
        await page.evaluate("window.__jitsi.api.personTurnsCameraOn()")
        await _until(page, "window.__jitsi.firstFrame !== null")
        timeline = await page.evaluate("window.__jitsi.timeline")
        first = await page.evaluate("window.__jitsi.firstFrame")
        assert first["live"] is True  # a real (fake-device) camera track
        on = timeline.index("camera-on")
        if blur_checked:
            assert "setVirtualBackground:true" in timeline[:on], timeline  # before the camera
            assert first["effect"] == "image"  # the first frame already hides the room
            assert timeline[on + 1:] == ["setBlurredBackground:blur"]  # then a real blur
        else:
            assert "setVirtualBackground:true" not in timeline
            assert first["effect"] == "none"  # G4/G5: blur is offered, never forced
        assert problems == []
        await context.close()
