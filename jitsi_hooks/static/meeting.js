// The Jitsi meeting page (G4, G5, G15, G18, G21). No inline script: everything
// comes from data- attributes and /jitsi/<room>/config.json. These settings are
// the person's defaults; the server side (token features, prosody module) enforces.
(function () {
  "use strict";
  var root = document.getElementById("meeting");
  if (!root) { return; }
  var data = root.dataset;
  var api = null;
  var blurWanted = true; // G5: blur whenever the camera goes on, unless switched off

  function setRecording(on) {
    var el = document.getElementById("recording-state");
    el.dataset.recording = on ? "on" : "off";
    el.textContent = on ? data.textRecordingOn : data.textRecordingOff;
  }

  function setTranscription(state) {
    var el = document.getElementById("transcription-state");
    if (!el || !state) { return; }
    el.dataset.allowed = state.allowed ? "yes" : "no";
    // "1 of 2 present agreed", not a bare "(1/2)" a child has to puzzle out (G18)
    var count = data.textTranscriptionCount
      .replace("{agreed}", String(state.opted_in_present))
      .replace("{present}", String(state.present));
    el.textContent = (state.allowed ? data.textTranscriptionOn : data.textTranscriptionOff) +
      " " + count;
    var box = document.getElementById("consent");
    if (box) { box.checked = !!state.opted_in; }
  }

  function showState(state) {
    setRecording(!!state.recording);
    setTranscription(state.transcription);
  }

  function refresh() {
    fetch(data.stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) { if (state) { showState(state); } })
      .catch(function () { /* keep the last known state */ });
  }

  // G5, blur before the first frame. Jitsi's setBlurredBackground does nothing while the
  // camera is off (it needs a live camera track), so asked for at "camera on" it comes
  // after the first frames. setVirtualBackground is kept by Jitsi even without a track and
  // Jitsi creates the camera track WITH that effect: armed while the camera is off, the
  // very first frame already hides the room. Once the camera runs, the plain background
  // becomes a real blur. (README, "Blur before the first frame", says what Jitsi does not
  // guarantee.)
  var background = "";
  var cameraOn = false;

  function armWhileOff() {
    if (api) { api.executeCommand("setVirtualBackground", blurWanted, blurWanted ? background : ""); }
  }

  function applyBlur() {
    if (!api) { return; }
    if (cameraOn) {
      api.executeCommand("setBlurredBackground", blurWanted ? "blur" : "none");
    } else {
      armWhileOff();
    }
  }

  function join(config) {
    var options = config.options;
    options.parentNode = document.getElementById("jitsi");
    background = config.background || "";
    api = new window.JitsiMeetExternalAPI(config.domain, options);
    root.classList.add("joined");
    armWhileOff();  // before Jitsi can start any camera (it starts with video muted, G4)
    api.addListener("videoConferenceJoined", function () { if (!cameraOn) { armWhileOff(); } });
    api.addListener("videoMuteStatusChanged", function (event) {
      cameraOn = !!event && event.muted === false;
      applyBlur();  // on: a real blur from now on; off: armed again for the next time
    });
    api.addListener("recordingStatusChanged", function (event) {
      if (event && typeof event.on === "boolean") { setRecording(event.on); }
      refresh();
    });
    api.addListener("transcribingStatusChanged", function () { refresh(); });
  }

  // Jitsi's external_api.js comes from the school's Jitsi server: when that server
  // cannot be reached the script is missing, and the person is told so on the page.
  function jitsiLoaded() { return typeof window.JitsiMeetExternalAPI === "function"; }

  function showProblem(kind) {
    var problem = document.getElementById("join-problem");
    if (!problem) { return; }
    problem.textContent = kind === "unavailable" ? problem.dataset.textUnavailable
                                                 : problem.dataset.textFailed;
    problem.dataset.problem = kind;
    problem.hidden = false;
  }

  if (!jitsiLoaded()) { showProblem("unavailable"); }

  document.getElementById("join").addEventListener("click", function () {
    if (!jitsiLoaded()) { showProblem("unavailable"); return; }
    fetch(data.configUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("config " + r.status); } return r.json(); })
      .then(join)
      .catch(function (err) { root.dataset.error = String(err); showProblem("failed"); });
  });

  document.getElementById("blur").addEventListener("change", function (event) {
    blurWanted = event.target.checked;
    applyBlur();
  });

  var consent = document.getElementById("consent");
  if (consent) {
    consent.addEventListener("change", function () {
      var body = new URLSearchParams({ csrf: data.csrf, opt_in: consent.checked ? "1" : "0" });
      fetch(data.consentUrl, {
        method: "POST", credentials: "same-origin", body: body,
        headers: { Accept: "application/json" }
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) { if (state) { showState(state); } });
    });
  }

  refresh();
  window.setInterval(refresh, 5000);
}());
