-- mod_privacy_gateway: the privacy gateway's arm inside prosody (load on the MUC component).
--
-- It keeps NO policy of its own; every decision is made by the gateway:
--  * reports room created/destroyed, occupant joined/left, the recording status jicofo
--    publishes in the focus presence (<jibri-recording-status>) and refused transcription
--    requests to the gateway over HTTP, signed with HMAC-SHA256 and the shared secret
--    (headers X-Privacy-Gateway-Timestamp and X-Privacy-Gateway-Signature: sha256=<hex>
--    over "<timestamp>.<body>"); a report that fails is retried with the SAME event id
--    (the gateway answers a repeat with its first answer);
--  * accepts an answer only with X-Privacy-Gateway-Signature: sha256=<hex> of
--    HMAC(secret, "answer:<event id>.<body>") (L2: an answer is bound to its request);
--  * every sync_interval seconds reports each room's occupants (pseudonymous ids only),
--    recording status and AV moderation, so the gateway reconciles what it missed (M3);
--  * G15: transcription is the module's decision from the gateway's LIVE consent flag
--    for the room, never the token feature alone: it refuses the Rayo dial to
--    jitsi_meet_transcribe (the IQ lib-jitsi-meet sends to the focus occupant) and drops
--    <jitsi_participant_requestingTranscription> unless the flag is true; the flag goes
--    false at once when a person joins (until the gateway answers) and a transcriber
--    that joins while it is not true is removed;
--  * executes the gateway's answers with privacy_gateway_executor.lib.lua (beside this
--    file; prosody's module:require finds it in the same plugin path): AV moderation for
--    audio and video, announcements and notices, removing the recorder or the transcriber.
--
--  * admission at join (privacy_gateway_admission.lib.lua, beside this file): before anyone
--    enters a room (muc-occupant-pre-join) it asks the gateway whether this person may enter the room as it is typed NOW (invitation,
--    confidential room, role); a refusal, no answer in time or an unsigned answer refuses
--    the join (fail closed). People already in a room whose type or invitations changed
--    are removed on the gateway's instruction (remove_occupant), with a plain message.
--
-- It fails closed: without a secret of 32+ bytes, without privacy_gateway_hidden_domain
-- (recorder/transcriber could not be told apart) or with a gateway URL that is not
-- https:// (http:// only to 127.0.0.1/localhost, for tests) it stays loaded, logs why,
-- and refuses EVERY join on its MUC with a service-unavailable error that says why.
--
-- Options (on the MUC component):
--   privacy_gateway_url            = "https://gateway.school.example/hooks/jitsi/events"
--   privacy_gateway_secret_file    = "/etc/prosody/privacy-gateway.secret" (or _secret)
--   privacy_gateway_av_moderation_component = "avmoderation.meet.school.example"
--   privacy_gateway_hidden_domain  = "recorder.meet.school.example"  (required)
--   privacy_gateway_focus_jid      = "focus@auth.meet.school.example" (default from the host)
--   privacy_gateway_recorder_prefixes = { "recorder" }
--   privacy_gateway_transcriber_prefixes = { "transcriber" }
--   privacy_gateway_sync_interval  = 10 (seconds; pending instructions and consent state)
--   privacy_gateway_admission_timeout = 5 (seconds to wait for the gateway at a join)
--   privacy_gateway_start_deadline = 5 (seconds; a recording start the gateway has not
--                                    answered by then is stopped, G8: never unannounced)

local st = require "util.stanza";
local json = require "util.json";
local hashes = require "util.hashes";
local id = require "util.id";
local jid_lib = require "util.jid";
local http = require "net.http";

local base_domain = module.host:gsub("^[^.]+%.", "");
local url = module:get_option_string("privacy_gateway_url");
local secret = module:get_option_string("privacy_gateway_secret");
local secret_file = module:get_option_string("privacy_gateway_secret_file");
local av_component = module:get_option_string("privacy_gateway_av_moderation_component",
	"avmoderation." .. base_domain);
local hidden_domain = module:get_option_string("privacy_gateway_hidden_domain");
local focus_jid = module:get_option_string("privacy_gateway_focus_jid", "focus@auth." .. base_domain);
local recorder_prefixes = module:get_option_array("privacy_gateway_recorder_prefixes", { "recorder" });
local transcriber_prefixes = module:get_option_array("privacy_gateway_transcriber_prefixes", { "transcriber" });
local sync_interval = module:get_option_number("privacy_gateway_sync_interval", 10);
local admission_timeout = module:get_option_number("privacy_gateway_admission_timeout", 5);
local start_deadline = module:get_option_number("privacy_gateway_start_deadline", 5);
local UNANNOUNCED = "De opname is gestopt: de aankondiging kon niet worden gedaan. Probeer het "
	.. "zo opnieuw.\n\nThe recording was stopped: it could not be announced. Try again shortly.";

local RETRY_DELAYS = { 1, 2, 4, 8, 16 };  -- seconds; the timestamp is renewed, the id kept
local SYNC_BATCH = 20;  -- rooms per sync request, to stay well under the gateway's body cap
local TRANSCRIBE = "jitsi_meet_transcribe";

if secret_file then
	local f = io.open(secret_file, "r");
	if f then
		-- The whole file, whitespace stripped at both ends as the gateway does
		-- (gateway/secret_files.py): a CRLF or a trailing space must not change the key.
		secret = f:read("*a"):match("^%s*(.-)%s*$");
		f:close();
	end
end
-- L2: answers carry instructions; they travel over TLS, except to this very machine in tests.
local function acceptable_url(u)
	return u:match("^https://[^/]") or u:match("^http://127%.0%.0%.1[:/]")
		or u:match("^http://localhost[:/]") or u:match("^http://%[::1%][:/]");
end

-- Why the options cannot work, or nil. The gateway is the policy: without it no join
-- may happen on this MUC (fail closed), not a room without events or consent gate.
local function misconfiguration()
	if not url then return "privacy_gateway_url is missing"; end
	if not acceptable_url(url) then
		return "privacy_gateway_url must be https:// (http:// only to localhost)";
	end
	if not secret then
		return "no secret: privacy_gateway_secret_file is missing or unreadable";
	end
	if #secret < 32 then return "the secret is shorter than 32 bytes"; end
	if not hidden_domain or hidden_domain == "" then
		return "privacy_gateway_hidden_domain is missing: the recorder and the transcriber "
			.. "could not be told apart";
	end
	return nil;
end

-- A refused join (XEP-0045 7.2: an error presence carrying the MUC <x/>) that says why.
local function refuse_join(event, error_type, condition, text)
	local reply = st.error_reply(event.stanza, error_type, condition, text, event.room.jid):up();
	reply:tag("x", { xmlns = "http://jabber.org/protocol/muc" }):up();
	event.origin.send(reply);
	return true;
end

local broken = misconfiguration();
if broken then
	module:log("error", "privacy gateway module misconfigured, every join is refused: %s", broken);
	module:hook("muc-occupant-pre-join", function (event)
		module:log("error", "join refused: privacy gateway module misconfigured (%s)", broken);
		return refuse_join(event, "cancel", "service-unavailable",
			"Meetings are unavailable: the privacy gateway is not configured on this server ("
			.. broken .. ")");
	end, 1000);
	return;
end

local M = {};

local function room_name(room) return jid_lib.node(room.jid); end

local function bare_of(occupant) return occupant.bare_jid or jid_lib.bare(occupant.jid or ""); end

-- jicofo: nick "focus" AND its own account (a person choosing the nick "focus" is a person).
local function is_focus(occupant)
	return jid_lib.resource(occupant.nick) == "focus" and bare_of(occupant) == focus_jid;
end

local function has_prefix(bare, prefixes)
	local node, host = jid_lib.split(bare);
	if not node or host ~= hidden_domain then return false; end
	for _, prefix in ipairs(prefixes) do
		if node:sub(1, #prefix) == prefix then return true; end
	end
	return false;
end

-- M4: only jicofo and hidden-domain accounts are services; everybody else is a person,
-- with or without a token (SIP dial-in, guests): present, and not opted in unless known.
function M.service_kind(occupant)
	if is_focus(occupant) then return "focus"; end
	local bare = bare_of(occupant);
	if jid_lib.host(bare) ~= hidden_domain then return nil; end
	if has_prefix(bare, transcriber_prefixes) then return "transcriber"; end
	if has_prefix(bare, recorder_prefixes) then return "recorder"; end
	return "hidden";
end

local function people_of(room)
	room._data.privacy_gateway_people = room._data.privacy_gateway_people or {};
	return room._data.privacy_gateway_people;
end

-- Reporting -----------------------------------------------------------------------------

function M.sign(timestamp, body)
	return "sha256=" .. hashes.hmac_sha256(secret, timestamp .. "." .. body, true);
end

function M.answer_signature(event_id, body)
	return "sha256=" .. hashes.hmac_sha256(secret, "answer:" .. event_id .. "." .. body, true);
end

local function transient(code)
	return type(code) ~= "number" or code == 0 or code == 429 or code >= 500;
end

-- M3: a failed report is sent again with the same id; on_failure runs when it gives up.
function M.report(event, on_answer, on_failure, attempt)
	event.id = event.id or id.medium();
	attempt = attempt or 1;
	local body = json.encode(event);
	local timestamp = tostring(os.time());
	http.request(url, {
		method = "POST"; body = body;
		headers = {
			["Content-Type"] = "application/json";
			["X-Privacy-Gateway-Timestamp"] = timestamp;
			["X-Privacy-Gateway-Signature"] = M.sign(timestamp, body);
		};
	}, function (response_body, code, response)
		if code == 200 then
			local headers = type(response) == "table" and response.headers or {};
			if headers["x-privacy-gateway-signature"] ~= M.answer_signature(event.id, response_body) then
				module:log("error", "answer to %s is not signed by the gateway: ignored", event.event);
				if on_failure then on_failure(); end
				return;
			end
			local answer = json.decode(response_body);
			if type(answer) == "table" and on_answer then on_answer(answer); end
			return;
		end
		if transient(code) and attempt <= #RETRY_DELAYS then
			module:add_timer(RETRY_DELAYS[attempt], function ()
				M.report(event, on_answer, on_failure, attempt + 1);
			end);
			return;
		end
		module:log("warn", "gateway answered %s to %s", tostring(code), event.event);
		if on_failure then on_failure(); end
	end);
end

-- Executing instructions (privacy_gateway_executor.lib.lua, beside this file) -----------

local executor = module:require("privacy_gateway_executor").new({
	av_component = av_component; recorder_prefixes = recorder_prefixes;
	transcriber_prefixes = transcriber_prefixes; is_focus = is_focus;
	service_kind = M.service_kind; has_prefix = has_prefix; bare_of = bare_of;
});
M.set_av_moderation = executor.set_av_moderation;
M.stop_transcription = executor.stop_transcription;
M.execute = executor.execute;

function M.apply(room, answer)
	if answer.transcription_allowed == true then
		room._data.privacy_gateway_transcription = true;
	elseif answer.transcription_allowed == false then
		M.stop_transcription(room);  -- G15: whatever runs without consent stops now
	end
	for _, instruction in ipairs(answer.instructions or {}) do
		if type(instruction) == "table" and instruction.action == "remove_occupant" then
			M.remove_occupant(room, instruction);
		elseif type(instruction) == "table" then
			M.execute(room, instruction);
		end
	end
end

local function report_room(room, event, on_failure)
	event.room = room_name(room);
	M.report(event, function (answer) M.apply(room, answer); end, on_failure);
end

-- Events --------------------------------------------------------------------------------

local function av_state(room)
	local av = room.av_moderation or {};
	return { audio = av.audio ~= nil; video = av.video ~= nil };
end

local function recording_of(room)
	local key = room._data.privacy_gateway_recording;
	return key and key:match("^([^/]*)/") or nil;
end

module:hook("muc-room-created", function (event)
	report_room(event.room, { event = "room_created" });
end, -1);

module:hook("muc-room-destroyed", function (event)
	report_room(event.room, { event = "room_destroyed" });
end, -1);

-- Admission at join (privacy_gateway_admission.lib.lua, beside this file) ------------------

local admission = module:require("privacy_gateway_admission").new({
	url = url; timeout = admission_timeout; sign = M.sign;
	answer_signature = M.answer_signature; service_kind = M.service_kind;
	room_name = room_name; refuse_join = refuse_join;
});
M.ask = admission.ask;
M.remove_occupant = admission.remove_occupant;

module:hook("muc-occupant-joined", function (event)
	local room, occupant, session = event.room, event.occupant, event.origin;
	local user = session and session.jitsi_meet_context_user;
	local person = type(user) == "table" and type(user.id) == "string" and user.id or nil;
	local kind = M.service_kind(occupant);
	if kind == "transcriber" and room._data.privacy_gateway_transcription ~= true then
		M.stop_transcription(room);  -- G15: no transcriber without the gateway's consent flag
		return;
	end
	if not kind then
		people_of(room)[occupant.nick] = person or false;
		-- G15: a newcomer may not have opted in: no new transcription until the gateway
		-- answers; if it never does, whatever transcribes stops (fail closed).
		room._data.privacy_gateway_transcription = false;
	end
	report_room(room, { event = "occupant_joined"; occupant = occupant.nick;
		person = person; service = kind or false },
		not kind and function () M.stop_transcription(room); end or nil);
end, -1);

module:hook("muc-occupant-left", function (event)
	people_of(event.room)[event.occupant.nick] = nil;
	report_room(event.room, { event = "occupant_left"; occupant = event.occupant.nick });
end, -1);

-- jicofo's recording status in the focus presence (lib-jitsi-meet getFocusRecordingUpdate).
module:hook("muc-broadcast-presence", function (event)
	local room, occupant, stanza = event.room, event.occupant, event.stanza;
	if not is_focus(occupant) then return; end
	local status = stanza:get_child("jibri-recording-status", "http://jitsi.org/protocol/jibri");
	if not status or not status.attr.status then return; end
	local key = status.attr.status .. "/" .. (status.attr.session_id or "");
	if room._data.privacy_gateway_recording == key then return; end
	room._data.privacy_gateway_recording = key;
	local initiator = status.attr.initiator;
	local by = initiator and (room:get_occupant_by_real_jid(initiator) or room:get_occupant_by_nick(initiator));
	local event = { event = "recording_status"; status = status.attr.status;
		mode = status.attr.recording_mode; session_id = status.attr.session_id;
		initiator = by and by.nick or nil; av_moderation = av_state(room) };
	if status.attr.status ~= "on" then report_room(room, event); return; end
	-- G8: the announcement comes in the gateway's answer. No answer within
	-- start_deadline seconds (or none at all): the recording stops, the moderators are
	-- told why; a later answer is not applied to a recording already stopped.
	local settled = false;
	local function unannounced()
		if settled or room._data.privacy_gateway_recording ~= key then return; end
		settled = true;
		module:log("warn", "no answer from the gateway to a recording start: stopped (G8)");
		M.execute(room, { action = "tell_moderators"; text = UNANNOUNCED });
		M.execute(room, { action = "stop_recording" });
	end
	module:add_timer(start_deadline, unannounced);
	event.room = room_name(room);
	M.report(event, function (answer)
		if settled then return; end
		settled = true;
		M.apply(room, answer);
	end, unannounced);
end, -1);

-- Rooms of this MUC component (mod_muc's own functions).
local muc = module:depends("muc");
function M.get_room(room_jid) return muc.get_room_from_jid(room_jid); end

local function consent_complete(room_jid)
	local room = M.get_room(jid_lib.bare(room_jid or ""));
	return room ~= nil and room._data.privacy_gateway_transcription == true, room;
end

-- G15: a transcription request survives only while the gateway says consent is complete.
local function filter_transcription(event)
	local stanza = event.stanza;
	if stanza.name ~= "presence" then return; end
	local request = stanza:get_child("jitsi_participant_requestingTranscription");
	if not request then return; end
	local allowed, room = consent_complete(stanza.attr.to);
	if allowed then return; end
	stanza:maptags(function (tag)
		if tag.name == "jitsi_participant_requestingTranscription" then return nil; end
		return tag;
	end);
	if room and request:get_text() == "true" then
		report_room(room, { event = "transcription_requested" });
	end
end
module:hook("presence/full", filter_transcription, 100);
module:hook("presence/bare", filter_transcription, 100);
module:hook("presence/host", filter_transcription, 100);

-- G15: the Rayo dial to jitsi_meet_transcribe (jitsi.md §2, mod_filter_iq_rayo) goes to the
-- focus occupant through this MUC; mod_filter_iq_rayo checks only the token's feature, so
-- this checks the gateway's live consent flag of the room (and of the JvbRoomName header's
-- room, which jicofo uses) before mod_muc passes the IQ on.
function M.filter_dial(event)
	local stanza = event.stanza;
	if stanza.name ~= "iq" or stanza.attr.type ~= "set" then return; end
	local dial = stanza:get_child("dial", "urn:xmpp:rayo:1");
	if not dial or dial.attr.to ~= TRANSCRIBE then return; end
	local allowed, room = consent_complete(stanza.attr.to);
	for _, tag in ipairs(dial.tags) do
		if tag.name == "header" and tag.attr.name == "JvbRoomName" then
			local header_ok = consent_complete(tag.attr.value);
			allowed = allowed and header_ok;
		end
	end
	if allowed then return; end
	local reply = st.error_reply(stanza, "auth", "forbidden",
		"Transcription needs everyone present to opt in");
	if event.origin and event.origin.send then event.origin.send(reply); else module:send(reply); end
	-- G21: the requester's real JID is not sent: the gateway needs the room only.
	if room then report_room(room, { event = "transcription_requested" }); end
	return true;
end
module:hook("iq/full", M.filter_dial, 100);

-- M3: what the gateway may have missed: occupants (pseudonyms only), recording, AV moderation.
function M.room_report(room)
	local occupants, people = {}, people_of(room);
	for _, occupant in room:each_occupant() do
		local kind = M.service_kind(occupant);
		table.insert(occupants, { occupant = occupant.nick; service = kind or false;
			person = not kind and people[occupant.nick] or nil });
	end
	return { room = room_name(room); occupants = occupants; recording = recording_of(room);
		av_moderation = av_state(room) };
end

function M.sync()
	local by_name, batch = {}, {};
	local function send(rooms)
		M.report({ event = "sync"; rooms = rooms }, function (answer)
			for name, state in pairs(type(answer.rooms) == "table" and answer.rooms or {}) do
				if by_name[name] and type(state) == "table" then M.apply(by_name[name], state); end
			end
		end);
	end
	for room in muc.each_room(true) do
		by_name[room_name(room)] = room;
		table.insert(batch, M.room_report(room));
		if #batch >= SYNC_BATCH then send(batch); batch = {}; end
	end
	if #batch > 0 then send(batch); end
end

if sync_interval > 0 then
	module:add_timer(sync_interval, function () M.sync(); return sync_interval; end);
end

return M;
