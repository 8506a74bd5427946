-- mod_privacy_gateway: the privacy gateway's arm inside prosody (load on the MUC component).
--
-- It keeps NO policy of its own; every decision is made by the gateway:
--  * reports room created/destroyed, occupant joined/left, the recording status jicofo
--    publishes in the focus presence (<jibri-recording-status>) and dropped transcription
--    requests to the gateway over HTTP, signed with HMAC-SHA256 and the shared secret
--    (headers X-Privacy-Gateway-Timestamp and X-Privacy-Gateway-Signature: sha256=<hex>
--    over "<timestamp>.<body>");
--  * drops <jitsi_participant_requestingTranscription> from presences unless the gateway
--    said the room's transcription consent is complete (G15);
--  * executes the gateway's answers: AV moderation on/off for audio and video (as the
--    av_moderation component itself does it, so jicofo mutes at the bridge), an
--    announcement into the room, a notice to one occupant or to the moderators,
--    removing the recorder (stop recording) or the transcriber (stop transcription).
--
-- Options (on the MUC component):
--   privacy_gateway_url            = "https://gateway.school.example/hooks/jitsi/events"
--   privacy_gateway_secret_file    = "/etc/prosody/privacy-gateway.secret" (or _secret)
--   privacy_gateway_av_moderation_component = "avmoderation.meet.school.example"
--   privacy_gateway_hidden_domain  = "recorder.meet.school.example"
--   privacy_gateway_recorder_prefixes = { "recorder" }
--   privacy_gateway_transcriber_prefixes = { "transcriber" }
--   privacy_gateway_sync_interval  = 10 (seconds; pending instructions and consent state)

local st = require "util.stanza";
local json = require "util.json";
local hashes = require "util.hashes";
local id = require "util.id";
local jid_lib = require "util.jid";
local http = require "net.http";

local url = module:get_option_string("privacy_gateway_url");
local secret = module:get_option_string("privacy_gateway_secret");
local secret_file = module:get_option_string("privacy_gateway_secret_file");
local av_component = module:get_option_string("privacy_gateway_av_moderation_component",
	"avmoderation." .. module.host:gsub("^[^.]+%.", ""));
local hidden_domain = module:get_option_string("privacy_gateway_hidden_domain");
local recorder_prefixes = module:get_option_array("privacy_gateway_recorder_prefixes", { "recorder" });
local transcriber_prefixes = module:get_option_array("privacy_gateway_transcriber_prefixes", { "transcriber" });
local sync_interval = module:get_option_number("privacy_gateway_sync_interval", 10);

if secret_file then
	local f = io.open(secret_file, "r");
	if f then secret = f:read("*l"); f:close(); end
end
if not url or not secret or #secret < 32 then
	module:log("error", "privacy_gateway_url and a secret of at least 32 bytes are required");
	return;
end

local M = {};

local function room_name(room) return jid_lib.node(room.jid); end

local function is_focus(occupant) return jid_lib.resource(occupant.nick) == "focus"; end

local function has_prefix(bare, prefixes)
	local node, host = jid_lib.split(bare);
	if not node or host ~= hidden_domain then return false; end
	for _, prefix in ipairs(prefixes) do
		if node:sub(1, #prefix) == prefix then return true; end
	end
	return false;
end

local function is_service(occupant, session)
	if is_focus(occupant) then return true; end
	local bare = occupant.bare_jid or jid_lib.bare(occupant.jid or "");
	if hidden_domain and jid_lib.host(bare) == hidden_domain then return true; end
	return not (session and session.jitsi_meet_context_user);
end

-- Reporting -----------------------------------------------------------------------------

function M.sign(timestamp, body)
	return "sha256=" .. hashes.hmac_sha256(secret, timestamp .. "." .. body, true);
end

function M.report(event, on_answer)
	event.id = id.medium();
	local body = json.encode(event);
	local timestamp = tostring(os.time());
	http.request(url, {
		method = "POST"; body = body;
		headers = {
			["Content-Type"] = "application/json";
			["X-Privacy-Gateway-Timestamp"] = timestamp;
			["X-Privacy-Gateway-Signature"] = M.sign(timestamp, body);
		};
	}, function (response_body, code)
		if code ~= 200 then
			module:log("warn", "gateway answered %s to %s", tostring(code), event.event);
			return;
		end
		local answer = json.decode(response_body);
		if type(answer) == "table" and on_answer then on_answer(answer); end
	end);
end

-- Executing instructions ----------------------------------------------------------------

local function send_json(to, body)
	module:send(st.message({ from = av_component; to = to })
		:tag("json-message", { xmlns = "http://jitsi.org/jitmeet" }):text(json.encode(body)):up());
end

local function focus_of(room)
	for _, occupant in room:each_occupant() do
		if is_focus(occupant) then return occupant; end
	end
end

function M.set_av_moderation(room, media, enabled)
	local current = room.av_moderation and room.av_moderation[media] ~= nil;
	if current == enabled then return false; end
	local actor = focus_of(room);
	actor = actor and actor.nick or room.jid;
	local metadata = room.jitsiMetadata;
	if enabled then
		room.av_moderation = room.av_moderation or {};
		room.av_moderation_actors = room.av_moderation_actors or {};
		local whitelist = {};
		for _, occupant in room:each_occupant() do
			if occupant.role == "moderator" and not is_focus(occupant) then
				table.insert(whitelist, occupant.nick);
			end
		end
		room.av_moderation[media] = whitelist;
		room.av_moderation_actors[media] = actor;
		if metadata then -- jicofo applies startMuted to newcomers
			metadata.startMuted = metadata.startMuted or {};
			room.av_moderation_startMuted_restore = room.av_moderation_startMuted_restore or {};
			room.av_moderation_startMuted_restore[media] = metadata.startMuted[media];
			metadata.startMuted[media] = true;
		end
	else
		room.av_moderation[media] = nil;
		room.av_moderation_actors[media] = nil;
		if metadata and metadata.startMuted and room.av_moderation_startMuted_restore then
			metadata.startMuted[media] = room.av_moderation_startMuted_restore[media];
		end
		if next(room.av_moderation) == nil then room.av_moderation = nil; end
	end
	for _, occupant in room:each_occupant() do
		send_json(occupant.jid, { type = "av_moderation"; enabled = enabled; room = room.jid;
			actor = actor; mediaType = media });
		if enabled and occupant.role == "moderator" then
			send_json(occupant.jid, { type = "av_moderation"; room = room.jid;
				whitelists = { [media] = room.av_moderation[media] }; mediaType = media });
		end
	end
	return true;
end

local function tell(room, occupant, text)
	for real_jid in occupant:each_session() do
		module:send(st.message({ from = room.jid; to = real_jid; type = "groupchat" })
			:tag("body"):text(text):up());
	end
end

local function remove_matching(room, prefixes, reason)
	local removed = 0;
	for _, occupant in room:each_occupant() do
		if has_prefix(occupant.bare_jid or jid_lib.bare(occupant.jid), prefixes) then
			room:set_role(true, occupant.nick, "none", reason);
			removed = removed + 1;
		end
	end
	return removed;
end

function M.execute(room, instruction)
	local action = instruction.action;
	if action == "av_moderation" and (instruction.media == "audio" or instruction.media == "video") then
		M.set_av_moderation(room, instruction.media, instruction.enabled == true);
	elseif action == "announce" and type(instruction.text) == "string" then
		room:broadcast_message(st.message({ from = room.jid; type = "groupchat" })
			:tag("body"):text(instruction.text):up());
	elseif action == "tell" and type(instruction.occupant) == "string" then
		local occupant = room:get_occupant_by_nick(instruction.occupant);
		if occupant then tell(room, occupant, instruction.text or ""); end
	elseif action == "tell_moderators" then
		for _, occupant in room:each_occupant() do
			if occupant.role == "moderator" and not is_focus(occupant) then
				tell(room, occupant, instruction.text or "");
			end
		end
	elseif action == "stop_recording" then
		remove_matching(room, recorder_prefixes, "Recording stopped by the school's privacy policy");
	elseif action == "stop_transcription" then
		room._data.privacy_gateway_transcription = false;
		remove_matching(room, transcriber_prefixes, "Transcription needs everyone's consent");
	else
		module:log("warn", "unknown instruction %s", tostring(action));
	end
end

function M.apply(room, answer)
	if answer.transcription_allowed ~= nil then
		room._data.privacy_gateway_transcription = answer.transcription_allowed == true;
	end
	for _, instruction in ipairs(answer.instructions or {}) do
		if type(instruction) == "table" then M.execute(room, instruction); end
	end
end

local function report_room(room, event)
	event.room = room_name(room);
	M.report(event, function (answer) M.apply(room, answer); end);
end

-- Events --------------------------------------------------------------------------------

local function av_state(room)
	local av = room.av_moderation or {};
	return { audio = av.audio ~= nil; video = av.video ~= nil };
end

module:hook("muc-room-created", function (event)
	report_room(event.room, { event = "room_created" });
end, -1);

module:hook("muc-room-destroyed", function (event)
	report_room(event.room, { event = "room_destroyed" });
end, -1);

module:hook("muc-occupant-joined", function (event)
	local occupant, session = event.occupant, event.origin;
	local user = session and session.jitsi_meet_context_user;
	local person = type(user) == "table" and type(user.id) == "string" and user.id or nil;
	report_room(event.room, { event = "occupant_joined"; occupant = occupant.nick;
		person = person; service = is_service(occupant, session) });
end, -1);

module:hook("muc-occupant-left", function (event)
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
	report_room(room, { event = "recording_status"; status = status.attr.status;
		mode = status.attr.recording_mode; session_id = status.attr.session_id;
		initiator = by and by.nick or nil; av_moderation = av_state(room) });
end, -1);

-- G15: a transcription request survives only while the gateway says consent is complete.
local function filter_transcription(event)
	local stanza = event.stanza;
	if stanza.name ~= "presence" then return; end
	local request = stanza:get_child("jitsi_participant_requestingTranscription");
	if not request then return; end
	local room_jid = jid_lib.bare(stanza.attr.to or "");
	local room = M.get_room and M.get_room(room_jid);
	if room and room._data.privacy_gateway_transcription == true then return; end
	stanza:maptags(function (tag)
		if tag.name == "jitsi_participant_requestingTranscription" then return nil; end
		return tag;
	end);
	if room and request:get_text() == "true" then
		report_room(room, { event = "transcription_requested";
			occupant = stanza.attr.to });
	end
end
module:hook("presence/full", filter_transcription, 100);
module:hook("presence/bare", filter_transcription, 100);
module:hook("presence/host", filter_transcription, 100);

-- Rooms of this MUC component (mod_muc's own functions).
local muc = module:depends("muc");
function M.get_room(room_jid) return muc.get_room_from_jid(room_jid); end

function M.sync()
	local by_name, names = {}, {};
	for room in muc.each_room(true) do
		by_name[room_name(room)] = room;
		table.insert(names, room_name(room));
	end
	if #names == 0 then return; end
	M.report({ event = "sync"; rooms = names }, function (answer)
		for name, state in pairs(type(answer.rooms) == "table" and answer.rooms or {}) do
			if by_name[name] and type(state) == "table" then M.apply(by_name[name], state); end
		end
	end);
end

if sync_interval > 0 then
	module:add_timer(sync_interval, function () M.sync(); return sync_interval; end);
end

return M;
