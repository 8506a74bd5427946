-- Prosody snippet for Jitsi Meet behind the privacy gateway (reference/jitsi.md §1, §2, §4).
-- Merge into /etc/prosody/conf.avail/<domain>.cfg.lua (Debian: apt-get install jitsi-meet-tokens).
-- Replace meet.school.example and gateway.school.example with your hosts.

-- The gateway's directory holds mod_privacy_gateway.lua, privacy_gateway_executor.lib.lua
-- (its instruction executor) and privacy_gateway_admission.lib.lua (admission at join),
-- both loaded with module:require from the same plugin path: copy all three.
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/", "/opt/privacy-gateway/jitsi_hooks/prosody/" }

-- Only the gateway's tokens: its app id as issuer, its audience. Set both explicitly.
asap_accepted_issuers = { "privacy-gateway" }
asap_accepted_audiences = { "jitsi" }

VirtualHost "meet.school.example"
    authentication = "token"
    app_id = "privacy-gateway"            -- = jitsi.app_id in the gateway policy
    app_secret = "<the same secret as jitsi.app_secret_file>"   -- HS256/384/512
    signature_algorithm = "HS256"         -- = jitsi.signature_algorithm
    -- For RS256 instead of app_secret: the gateway serves the key at /jitsi/keys/<sha256(kid)>.pem
    -- asap_key_server = "https://gateway.school.example/jitsi/keys"
    allow_empty_token = false             -- G2: no anonymous join path
    asap_require_room_claim = true
    enable_domain_verification = false

Component "conference.meet.school.example" "muc"
    modules_enabled = {
        "token_verification";             -- room claim checked on create/join
        "token_affiliation";              -- teachers owner, pupils member
        "muc_transcription_filter";       -- Jitsi's own feature check for transcription
        "privacy_gateway";                -- this project: events, consent filter, guard actions
    }
    -- https:// only (http:// only to localhost). With this, the secret or the hidden domain
    -- missing or invalid the module refuses EVERY join on this MUC and logs why.
    -- The module signs its reports and accepts only answers the gateway signed.
    privacy_gateway_url = "https://gateway.school.example/hooks/jitsi/events"
    privacy_gateway_secret_file = "/etc/prosody/privacy-gateway.secret"  -- = jitsi.hook_secret
    privacy_gateway_av_moderation_component = "avmoderation.meet.school.example"
    -- Required: recorder/transcriber accounts live here (every join is refused without).
    privacy_gateway_hidden_domain = "recorder.meet.school.example"
    privacy_gateway_focus_jid = "focus@auth.meet.school.example"  -- jicofo's account
    privacy_gateway_recorder_prefixes = { "recorder" }
    privacy_gateway_transcriber_prefixes = { "transcriber" }
    privacy_gateway_sync_interval = 10
    -- Every join waits for the gateway's admission answer this long, then is refused.
    privacy_gateway_admission_timeout = 5
    muc_room_locking = false  -- as Jitsi: a refused first join leaves no locked room
    -- G8: a recording start the gateway has not answered (with its announcement) within
    -- this many seconds is stopped and the moderators told.
    privacy_gateway_start_deadline = 5

-- AV moderation: the gateway's guard switches it on for audio and video while a lecture is
-- recorded; jicofo then mutes non-moderators at the bridge (G10).
Component "avmoderation.meet.school.example" "av_moderation_component"
    muc_component = "conference.meet.school.example"

-- Recording is allowed only with the token feature "recording" (VirtualHost module):
-- add "filter_iq_jibri" and "filter_iq_rayo" to the VirtualHost's modules_enabled.
-- G15: the token's "transcription" feature only says transcription is POSSIBLE in the
-- meeting type. Whether it may run is decided live: privacy_gateway refuses the Rayo dial
-- to jitsi_meet_transcribe (sent to the focus occupant through this MUC) and drops
-- transcription requests unless the gateway says everyone present opted in, and removes
-- a transcriber that joins otherwise. Not verified: jicofo's newer async transcription
-- (room metadata asyncTranscription, jitsi.md §2); keep room_metadata from turning it on.

-- jicofo.conf: token_affiliation needs auto-owner off:
--   jicofo.conference.enable-auto-owner = false
