// config.js additions for Jitsi Meet behind the privacy gateway (reference/jitsi.md §3, §6).
// These are DEFAULTS in each browser (a user can override them with URL fragments);
// enforcement is server-side: token features and the prosody module.
config.tokenAuthUrl = 'https://gateway.school.example/jitsi/auth?room={room}&state={state}&code_challenge={code_challenge}';
config.tokenAuthUrlAutoRedirect = true;
config.enableFeaturesBasedOnToken = true;   // hide recording/transcription buttons unless allowed
config.startWithVideoMuted = true;          // G4
config.startWithAudioMuted = true;
config.disableThirdPartyRequests = true;    // G21
config.gravatar = { disabled: true };
config.analytics = { disabled: true, rtcstatsEnabled: false };
config.enableEmailInStats = false;
config.enableDisplayNameInStats = false;
config.giphy = { enabled: false };
config.p2p = { enabled: false };            // peers would see each other's IP addresses
config.doNotStoreRoom = true;
config.disableInviteFunctions = true;
config.readOnlyName = true;
config.hideEmailInSettings = true;
config.liveStreaming = { enabled: false };
config.localRecording = { disable: true };  // G8: no recording the guard cannot see
config.transcription = { enabled: true, autoTranscribeOnRecord: false };  // G15: opt-in only
config.recordings = { showPrejoinWarning: true };
