-- busted specs for mod_privacy_gateway against the stand-in (run from jitsi_hooks/prosody).
local standin = require "spec.standin";
local json = require "util.json";
local hashes = require "util.hashes";
local st = require "util.stanza";

local SECRET = string.rep("s", 40);
local OPTIONS = {
	privacy_gateway_url = "https://gateway.test/hooks/jitsi/events";
	privacy_gateway_secret = SECRET;
	privacy_gateway_av_moderation_component = "avmoderation.meet.example";
	privacy_gateway_hidden_domain = "recorder.meet.example";
	privacy_gateway_recorder_prefixes = { "recorder" };
	privacy_gateway_transcriber_prefixes = { "transcriber" };
};
local ROOM = "lesson1@conference.meet.example";

local function setup()
	local mod, host = standin.load(OPTIONS);
	local room = host.add_room(standin.new_room(ROOM));
	local focus = room:add(standin.new_occupant(ROOM .. "/focus", "focus@auth.meet.example/f1", "moderator"));
	local teacher = room:add(standin.new_occupant(ROOM .. "/t1", "t1@meet.example/a", "moderator"));
	local pupil = room:add(standin.new_occupant(ROOM .. "/p1", "p1@meet.example/b", "participant"));
	return mod, host, room, { focus = focus; teacher = teacher; pupil = pupil };
end

local function body_of(request) return json.decode(request.ex.body); end

local function recording_presence(status)
	return st.presence({ from = ROOM .. "/focus" })
		:tag("jibri-recording-status", { xmlns = "http://jitsi.org/protocol/jibri";
			status = status; recording_mode = "file"; session_id = "s1" }):up();
end

local function json_messages(host, enabled_only)
	local out = {};
	for _, stanza in ipairs(host.sent) do
		local tag = stanza:get_child("json-message", "http://jitsi.org/jitmeet");
		if tag then
			local body = json.decode(tag:get_text());
			if body.enabled ~= nil or not enabled_only then
				table.insert(out, { to = stanza.attr.to; from = stanza.attr.from; body = body });
			end
		end
	end
	return out;
end

local LECTURE_ON = { transcription_allowed = false; instructions = {
	{ action = "announce"; text = "Deze les wordt opgenomen." },
	{ action = "av_moderation"; media = "audio"; enabled = true; allowed = { ROOM .. "/t1" } },
	{ action = "av_moderation"; media = "video"; enabled = true; allowed = { ROOM .. "/t1" } },
	{ action = "announce"; text = "Deze les wordt opgenomen." },
} };

describe("signed reporting", function ()
	it("posts occupant events signed with the shared secret, with a pseudonym only", function ()
		local _, host, room, people = setup();
		host.fire("muc-occupant-joined", { room = room; occupant = people.pupil;
			origin = { jitsi_meet_context_user = { id = "p_abc"; name = "Lotte"; email = "l@school.example" } } });
		local request = host.requests[1];
		assert.are.equal(OPTIONS.privacy_gateway_url, request.url);
		local headers = request.ex.headers;
		local expected = "sha256=" .. hashes.hmac_sha256(SECRET,
			headers["X-Privacy-Gateway-Timestamp"] .. "." .. request.ex.body, true);
		assert.are.equal(expected, headers["X-Privacy-Gateway-Signature"]);
		local body = body_of(request);
		assert.are.same({ "occupant_joined", "lesson1", ROOM .. "/p1", "p_abc", false },
			{ body.event, body.room, body.occupant, body.person, body.service });
		assert.is_nil(request.ex.body:find("Lotte", 1, true));  -- G20: no names leave prosody
		assert.is_nil(request.ex.body:find("school.example", 1, true));
		assert.is_true(#body.id >= 8);
	end);

	it("marks jicofo's focus as a service, not a person", function ()
		local _, host, room, people = setup();
		host.fire("muc-occupant-joined", { room = room; occupant = people.focus; origin = {} });
		assert.are.equal("focus", body_of(host.requests[1]).service);
	end);

	-- M4: SIP dial-in, guest-domain users and a person who calls themself "focus" are people.
	for _, case in ipairs({
		{ "sip_dial_in", ROOM .. "/sip1", "jigasi@auth.meet.example/x" },
		{ "guest_domain", ROOM .. "/g1", "abc@guest.meet.example/y" },
		{ "nick_focus_but_not_jicofo", ROOM .. "/focus", "mallory@meet.example/z" },
	}) do
		it("G15: an occupant without a token counts as present (" .. case[1] .. ")", function ()
			local _, host, room = setup();
			local occupant = room:add(standin.new_occupant(case[2], case[3], "participant"));
			host.fire("muc-occupant-joined", { room = room; occupant = occupant; origin = {} });
			local body = body_of(host.requests[1]);
			assert.is_false(body.service);
			assert.is_nil(body.person);
		end);
	end

	it("reports the recording status from the focus presence once per change", function ()
		local _, host, room, people = setup();
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		assert.are.equal(1, #host.requests);
		local body = body_of(host.requests[1]);
		assert.are.same({ "recording_status", "on", "file", false, false },
			{ body.event, body.status, body.mode, body.av_moderation.audio, body.av_moderation.video });
	end);

	it("ignores a recording status in anybody else's presence", function ()
		local _, host, room, people = setup();
		host.fire("muc-broadcast-presence", { room = room; occupant = people.pupil; stanza = recording_presence("off") });
		assert.are.equal(0, #host.requests);
	end);

	for _, case in ipairs({ { "CRLF", "\r\n" }, { "trailing spaces", "  \n" }, { "no newline", "" } }) do
		it("reads a secret file ending in " .. case[1] .. " as the gateway does (stripped)", function ()
			local path = os.tmpname();
			local f = assert(io.open(path, "w"));
			f:write("  " .. SECRET .. case[2]);
			f:close();
			local from_file = {};
			for k, v in pairs(OPTIONS) do from_file[k] = v; end
			from_file.privacy_gateway_secret = nil;
			from_file.privacy_gateway_secret_file = path;
			local _, host = standin.load(from_file);
			os.remove(path);
			local room = host.add_room(standin.new_room(ROOM));
			host.fire("muc-room-created", { room = room });
			local request = host.requests[1];
			local timestamp = request.ex.headers["X-Privacy-Gateway-Timestamp"];
			assert.are.equal("sha256=" .. hashes.hmac_sha256(SECRET, timestamp .. "." .. request.ex.body, true),
				request.ex.headers["X-Privacy-Gateway-Signature"]);  -- the gateway would accept it
		end);
	end

	it("loads its instruction executor and admission from their .lib.lua files", function ()
		local mod, host = standin.load(OPTIONS);
		assert.are.same({ "privacy_gateway_executor", "privacy_gateway_admission" }, host.required);
		assert.is_function(mod.execute);
	end);

	it("fails closed without a strong secret: no events, every join refused", function ()
		local weak = {};
		for k, v in pairs(OPTIONS) do weak[k] = v; end
		weak.privacy_gateway_secret = "short";
		local mod, host = standin.load(weak);
		assert.is_nil(mod);
		assert.is_nil(host.hooks["muc-occupant-joined"]);
		assert.are.equal(1, #host.hooks["muc-occupant-pre-join"]);  -- the refusal (real prosody:
		-- tests/jitsi/test_prosody_admission.py)
	end);
end);

describe("AV moderation on the gateway's instruction (G10)", function ()
	it("turns AV moderation on for audio and video and announces, when the recording starts", function ()
		local _, host, room, people = setup();
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.answer(LECTURE_ON);
		assert.are.same({ ROOM .. "/t1" }, room.av_moderation.audio);  -- moderators only, never the focus
		assert.are.same({ ROOM .. "/t1" }, room.av_moderation.video);
		assert.are.equal(ROOM .. "/focus", room.av_moderation_actors.audio);
		assert.is_true(room.jitsiMetadata.startMuted.audio);  -- jicofo mutes newcomers too
		assert.is_true(room.jitsiMetadata.startMuted.video);
		local enables = json_messages(host, true);
		assert.are.equal(6, #enables);  -- 3 occupants x 2 media
		for _, m in ipairs(enables) do
			assert.are.equal("avmoderation.meet.example", m.from);
			assert.are.same({ "av_moderation", true }, { m.body.type, m.body.enabled });
		end
		assert.are.equal(2, #room.broadcasts);  -- before and right after (G8)
		assert.are.equal("Deze les wordt opgenomen.", room.broadcasts[1]:get_child_text("body"));
		assert.are.equal("groupchat", room.broadcasts[1].attr.type);
	end);

	it("switches it off again when the recording stops and restores startMuted", function ()
		local _, host, room, people = setup();
		room.jitsiMetadata.startMuted.video = false;
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.answer(LECTURE_ON);
		host.sent = {};
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("off") });
		assert.are.same({ true, true }, { body_of(host.requests[1]).av_moderation.audio,
			body_of(host.requests[1]).av_moderation.video });
		host.answer({ instructions = {
			{ action = "av_moderation"; media = "audio"; enabled = false },
			{ action = "av_moderation"; media = "video"; enabled = false },
			{ action = "announce"; text = "De opname is gestopt." } } });
		assert.is_nil(room.av_moderation);
		assert.is_nil(room.jitsiMetadata.startMuted.audio);
		assert.is_false(room.jitsiMetadata.startMuted.video);
		local messages = json_messages(host, true);
		assert.are.equal(6, #messages);
		for _, m in ipairs(messages) do assert.is_false(m.body.enabled); end
		assert.are.equal("De opname is gestopt.", room.broadcasts[3]:get_child_text("body"));
	end);

	it("leaves AV moderation a teacher had switched on before in place", function ()
		local mod, host, room = setup();
		mod.set_av_moderation(room, "audio", true);  -- the teacher's own choice
		host.sent = {};
		mod.apply(room, { instructions = {
			{ action = "av_moderation"; media = "audio"; enabled = true },
			{ action = "av_moderation"; media = "video"; enabled = false } } });
		assert.is_not_nil(room.av_moderation.audio);
		assert.are.equal(0, #json_messages(host, true));  -- nothing changed, nothing sent
	end);

	it("tells one occupant, or the moderators, privately", function ()
		local mod, host, room = setup();
		mod.apply(room, { instructions = {
			{ action = "tell"; occupant = ROOM .. "/p1"; text = "Je camera is uitgezet." },
			{ action = "tell_moderators"; text = "De opname is meteen gestopt." } } });
		assert.are.same({ "p1@meet.example/b", "t1@meet.example/a" },
			{ host.sent[1].attr.to, host.sent[2].attr.to });
		assert.are.equal("Je camera is uitgezet.", host.sent[1]:get_child_text("body"));
	end);

	it("stops a recording by removing the recorder (G3, G11)", function ()
		local mod, _, room = setup();
		room:add(standin.new_occupant(ROOM .. "/rec", "recorder@recorder.meet.example/r", "participant"));
		mod.apply(room, { instructions = { { action = "stop_recording" } } });
		assert.are.same({ { nick = ROOM .. "/rec"; role = "none";
			reason = "Recording stopped by the school's privacy policy" } }, room.kicked);
	end);
end);

describe("transcription consent (G15)", function ()
	local function request_presence(value)
		return st.presence({ to = ROOM .. "/p1"; from = "p1@meet.example/b" })
			:tag("jitsi_participant_requestingTranscription"):text(value):up()
			:tag("audiomuted"):text("true"):up();
	end

	it("drops a transcription request while consent is not complete and tells the gateway", function ()
		local _, host = setup();
		local stanza = request_presence("true");
		host.fire("presence/full", { stanza = stanza; origin = {} });
		assert.is_nil(stanza:get_child("jitsi_participant_requestingTranscription"));
		assert.is_not_nil(stanza:get_child("audiomuted"));  -- the rest of the presence goes on
		assert.are.equal("transcription_requested", body_of(host.requests[1]).event);
	end);

	it("lets it through once the gateway says everyone present opted in", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		local stanza = request_presence("true");
		host.fire("presence/full", { stanza = stanza; origin = {} });
		assert.is_not_nil(stanza:get_child("jitsi_participant_requestingTranscription"));
		assert.are.equal(0, #host.requests);
	end);

	it("stops transcription when someone who did not opt in joins", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		room:add(standin.new_occupant(ROOM .. "/tr", "transcriber@recorder.meet.example/j", "participant"));
		mod.apply(room, { transcription_allowed = false; instructions = { { action = "stop_transcription" } } });
		assert.are.equal(ROOM .. "/tr", room.kicked[1].nick);
		local stanza = request_presence("true");
		host.fire("presence/full", { stanza = stanza; origin = {} });
		assert.is_nil(stanza:get_child("jitsi_participant_requestingTranscription"));
	end);

	it("applies pending instructions from the periodic sync", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		assert.are.equal(10, host.timers[1].delay);
		host.timers[1].fn();
		assert.are.same({ "lesson1" }, { body_of(host.requests[1]).rooms[1].room });
		host.answer({ rooms = { lesson1 = { transcription_allowed = false;
			instructions = { { action = "announce"; text = "x" } } } } });
		assert.is_false(room._data.privacy_gateway_transcription);
		assert.are.equal(1, #room.broadcasts);
	end);
end);

describe("G15: transcription follows the gateway's live consent, not the token", function ()
	local function dial(to_room, header_room)
		local iq = st.iq({ type = "set"; id = "d1"; from = "t1@meet.example/a"; to = to_room .. "/focus" })
			:tag("dial", { xmlns = "urn:xmpp:rayo:1"; to = "jitsi_meet_transcribe"; from = "fromnumber" })
			:tag("header", { xmlns = "urn:xmpp:rayo:1"; name = "JvbRoomName"; value = header_room or to_room }):up()
			:up();
		return iq;
	end

	local function fire_dial(host, stanza)
		local replies = {};
		local handled = false;
		for _, h in ipairs(host.hooks["iq/full"]) do
			if h.handler({ stanza = stanza; origin = { send = function (r) table.insert(replies, r); end } }) then
				handled = true;
			end
		end
		return handled, replies;
	end

	it("G15: refuses the Rayo dial to jitsi_meet_transcribe while consent is not complete", function ()
		local _, host = setup();  -- a token with transcription=true changes nothing here
		local handled, replies = fire_dial(host, dial(ROOM));
		assert.is_true(handled);
		assert.are.same({ "error", "forbidden" }, { replies[1].attr.type,
			replies[1]:get_child("error").tags[1].name });
		assert.are.equal("transcription_requested", body_of(host.requests[1]).event);
	end);

	it("G21: a refused dial is reported without the requester's real JID", function ()
		local _, host = setup();
		fire_dial(host, dial(ROOM));
		local report = host.requests[1].ex.body;
		assert.are.same({ event = true; id = true; room = true },
			(function () local keys = {}; for k in pairs(json.decode(report)) do keys[k] = true; end return keys; end)());
		assert.is_nil(report:find("t1@meet.example", 1, true));
	end);

	it("G15: lets the dial through once the gateway says everyone present opted in", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		local handled, replies = fire_dial(host, dial(ROOM));
		assert.is_false(handled);
		assert.are.equal(0, #replies);
	end);

	it("G15: refuses a dial whose JvbRoomName names a room without consent", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		host.add_room(standin.new_room("other@conference.meet.example"));
		local handled = fire_dial(host, dial(ROOM, "other@conference.meet.example"));
		assert.is_true(handled);
	end);

	it("G15: leaves other Rayo dials to mod_filter_iq_rayo", function ()
		local _, host = setup();
		local iq = st.iq({ type = "set"; id = "d2"; to = ROOM .. "/focus" })
			:tag("dial", { xmlns = "urn:xmpp:rayo:1"; to = "+3212345678" }):up();
		assert.is_false((fire_dial(host, iq)));
	end);

	it("G15: a transcriber that joins without the consent flag is removed at once", function ()
		local _, host, room = setup();
		local transcriber = room:add(standin.new_occupant(ROOM .. "/tr", "transcriber@recorder.meet.example/j", "participant"));
		host.fire("muc-occupant-joined", { room = room; occupant = transcriber; origin = {} });
		assert.are.equal(ROOM .. "/tr", room.kicked[1].nick);
		assert.are.equal(0, #host.requests);
	end);

	it("G15: a person joining stops new transcription until the gateway answers", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		local pupil = room:add(standin.new_occupant(ROOM .. "/p2", "p2@meet.example/c", "participant"));
		host.fire("muc-occupant-joined", { room = room; occupant = pupil;
			origin = { jitsi_meet_context_user = { id = "p_2" } } });
		assert.is_false(room._data.privacy_gateway_transcription);
		host.answer({ transcription_allowed = true; instructions = {} });  -- p_2 had opted in
		assert.is_true(room._data.privacy_gateway_transcription);
	end);

	it("G15: a sync saying consent is not complete removes a running transcriber", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		room:add(standin.new_occupant(ROOM .. "/tr", "transcriber@recorder.meet.example/j", "participant"));
		host.timers[1].fn();
		host.answer({ rooms = { lesson1 = { transcription_allowed = false; instructions = {} } } });
		assert.are.equal(ROOM .. "/tr", room.kicked[1].nick);
	end);
end);

describe("M3: reports that fail are retried; sync reconciles", function ()
	it("G15: retries a failed join report with the same event id, then stops transcription", function ()
		local mod, host, room = setup();
		mod.apply(room, { transcription_allowed = true; instructions = {} });
		room:add(standin.new_occupant(ROOM .. "/tr", "transcriber@recorder.meet.example/j", "participant"));
		local pupil = room:add(standin.new_occupant(ROOM .. "/p2", "p2@meet.example/c", "participant"));
		host.fire("muc-occupant-joined", { room = room; occupant = pupil; origin = {} });
		local first = body_of(host.fail());
		local delays = {};
		for _ = 1, 5 do
			table.insert(delays, host.timers[#host.timers].delay);
			host.run_timer();
			local again = body_of(host.fail());
			assert.are.equal(first.id, again.id);  -- the gateway dedups by id
		end
		assert.are.same({ 1, 2, 4, 8, 16 }, delays);
		assert.are.equal(1, #host.timers);  -- only the sync timer left: it gave up
		assert.are.equal(ROOM .. "/tr", room.kicked[1].nick);  -- fail closed
	end);

	it("G8: a retried recording report still gets the guard's answer applied", function ()
		local _, host, room, people = setup();
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.answer({ error = "busy" }, 503);
		host.run_timer();
		host.answer(LECTURE_ON);
		assert.is_not_nil(room.av_moderation.audio);
	end);

	it("G8: a recording start the gateway does not answer in time is stopped", function ()
		local _, host, room, people = setup();
		room:add(standin.new_occupant(ROOM .. "/rec", "recorder@recorder.meet.example/r", "participant"));
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		local deadline;
		for i, timer in ipairs(host.timers) do if timer.delay == 5 then deadline = i; end end
		assert.is_not_nil(deadline);
		host.run_timer(deadline);
		assert.are.equal(ROOM .. "/rec", room.kicked[1].nick);
		local told = false;
		for _, stanza in ipairs(host.sent) do
			local body = stanza:get_child_text("body");
			if body and body:find("could not be announced", 1, true) then told = true; end
		end
		assert.is_true(told);
		host.answer(LECTURE_ON);  -- too late: not applied to a stopped recording
		assert.is_nil((room.av_moderation or {}).audio);
	end);

	it("G8: a recording start answered in time is not stopped by the deadline", function ()
		local _, host, room, people = setup();
		room:add(standin.new_occupant(ROOM .. "/rec", "recorder@recorder.meet.example/r", "participant"));
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.answer(LECTURE_ON);
		for i, timer in ipairs(host.timers) do
			if timer.delay == 5 then host.run_timer(i); break; end
		end
		assert.are.same({}, room.kicked);
		assert.is_not_nil(room.av_moderation.audio);
	end);

	it("G10: sync reports each room's occupants (pseudonyms only), recording and AV state", function ()
		local _, host, room, people = setup();
		host.fire("muc-occupant-joined", { room = room; occupant = people.pupil;
			origin = { jitsi_meet_context_user = { id = "p_abc"; name = "Lotte" } } });
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.requests = {};
		host.timers[1].fn();
		local report = body_of(host.requests[1]).rooms[1];
		assert.are.same({ "lesson1", "on", false }, { report.room, report.recording, report.av_moderation.audio });
		local by_nick = {};
		for _, o in ipairs(report.occupants) do by_nick[o.occupant] = o; end
		assert.are.equal("focus", by_nick[ROOM .. "/focus"].service);
		assert.are.same({ false, "p_abc" }, { by_nick[ROOM .. "/p1"].service, by_nick[ROOM .. "/p1"].person });
		assert.is_nil(host.requests[1].ex.body:find("Lotte", 1, true));  -- G20
	end);
end);

describe("L2: the module fails closed", function ()
	local function with(changes)
		local options = {};
		for k, v in pairs(OPTIONS) do options[k] = v; end
		for k, v in pairs(changes) do options[k] = v or nil; end  -- false: option left out
		return standin.load(options);
	end

	for _, case in ipairs({
		{ "no_hidden_domain", { privacy_gateway_hidden_domain = false } },
		{ "plain_http", { privacy_gateway_url = "http://gateway.school.example/hooks/jitsi/events" } },
		{ "http_lookalike_localhost", { privacy_gateway_url = "http://localhost.evil.example/x" } },
	}) do
		it("G15: refuses to load with " .. case[1], function ()
			local mod, host = with(case[2]);
			assert.is_nil(mod);
			assert.is_nil(host.hooks["muc-occupant-joined"]);
			assert.are.equal("error", host.logs[1][1]);
		end);
	end

	it("G15: loads with http:// only to this machine (tests)", function ()
		assert.is_not_nil((with({ privacy_gateway_url = "http://127.0.0.1:8080/hooks/jitsi/events" })));
	end);

	it("G10: ignores an answer the gateway did not sign", function ()
		local _, host, room, people = setup();
		host.fire("muc-broadcast-presence", { room = room; occupant = people.focus; stanza = recording_presence("on") });
		host.answer({ instructions = { { action = "av_moderation"; media = "audio"; enabled = false } ;
			{ action = "stop_transcription" } }, transcription_allowed = true }, 200, "sha256=" .. string.rep("0", 64));
		-- None of its instructions ran; an unanswered start is stopped and the moderators
		-- told (G8), which is all that was sent.
		assert.are.equal(0, #json_messages(host));
		for _, stanza in ipairs(host.sent) do
			assert.is_truthy(stanza:get_child_text("body"):find("could not be announced", 1, true));
		end
		assert.is_not_true(room._data.privacy_gateway_transcription);
	end);
end);

describe("L5: AV moderation whitelists by the gateway's roles (G10)", function ()
	it("G10: whitelists only the named teacher and demotes a pupil promoted to moderator", function ()
		local mod, _, room = setup();
		room.occupants[ROOM .. "/p1"].role = "moderator";  -- promoted by the teacher
		mod.apply(room, { instructions = {
			{ action = "av_moderation"; media = "audio"; enabled = true; allowed = { ROOM .. "/t1" } } } });
		assert.are.same({ ROOM .. "/t1" }, room.av_moderation.audio);
		assert.are.equal("participant", room.occupants[ROOM .. "/p1"].role);
		assert.are.equal("moderator", room.occupants[ROOM .. "/t1"].role);
		assert.are.equal("moderator", room.occupants[ROOM .. "/focus"].role);
	end);

	it("G10: without the gateway's list nobody is whitelisted (fails closed)", function ()
		local mod, _, room = setup();
		mod.apply(room, { instructions = { { action = "av_moderation"; media = "video"; enabled = true } } });
		assert.are.same({}, room.av_moderation.video);
	end);
end);
