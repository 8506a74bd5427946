-- privacy_gateway_admission: admission at join, for mod_privacy_gateway (loaded with
-- module:require, so it runs in that module's environment and hooks on its MUC).
--
-- Before anyone enters a room (muc-occupant-pre-join, before other occupants see them) the
-- gateway is asked, with a signed `admission` event, whether this person may enter the
-- room as it is typed NOW (invitation, confidential room, role). The join waits for the
-- answer inside prosody's async runner (the stanza's session thread). A refusal, no answer
-- within ctx.timeout seconds, an unsigned answer or no async context refuses the join
-- (fail closed), with a plain message. Services (jicofo, recorder, transcriber) are not
-- asked: their own checks apply.
--
-- It also carries out `remove_occupant`: the gateway's instruction when a room's type or
-- invitations changed under people already in it (a MUC kick with the plain reason).
--
-- It keeps no policy. `new(ctx)` takes what it shares with the module:
--   ctx.url, ctx.timeout, ctx.sign(timestamp, body), ctx.answer_signature(id, body),
--   ctx.service_kind(occupant), ctx.room_name(room),
--   ctx.refuse_join(event, error_type, condition, text)

local json = require "util.json";
local id = require "util.id";
local http = require "net.http";
local async = require "util.async";

local function new(ctx)
	local A = {};

	-- One signed question to the gateway; nil on any failure (the caller refuses).
	function A.ask(event)
		if not async.ready() then return nil, "not in an async context"; end
		event.id = id.medium();
		local body = json.encode(event);
		local timestamp = tostring(os.time());
		local wait, done = async.waiter();
		local answer, finished = nil, false;
		local function finish(value)
			if finished then return; end
			finished, answer = true, value;
			done();
		end
		http.request(ctx.url, {
			method = "POST"; body = body;
			headers = {
				["Content-Type"] = "application/json";
				["X-Privacy-Gateway-Timestamp"] = timestamp;
				["X-Privacy-Gateway-Signature"] = ctx.sign(timestamp, body);
			};
		}, function (response_body, code, response)
			local headers = type(response) == "table" and response.headers or {};
			if code ~= 200 or headers["x-privacy-gateway-signature"]
					~= ctx.answer_signature(event.id, response_body) then
				finish(nil);
				return;
			end
			local decoded = json.decode(response_body);
			finish(type(decoded) == "table" and decoded or nil);
		end);
		module:add_timer(ctx.timeout, function () finish(nil); end);
		wait();
		return answer;
	end

	local function person_of(session)
		local user = session and session.jitsi_meet_context_user;
		return type(user) == "table" and type(user.id) == "string" and user.id or nil;
	end

	module:hook("muc-occupant-pre-join", function (event)
		local room, occupant = event.room, event.occupant;
		if ctx.service_kind(occupant) then return; end  -- jicofo, recorder, transcriber
		local answer = A.ask({ event = "admission"; room = ctx.room_name(room);
			occupant = occupant.nick; person = person_of(event.origin) });
		if answer and answer.admit == true then return; end
		local text = answer and type(answer.message) == "string" and answer.message
			or "Entry to this room cannot be checked right now. Please try again.";
		module:log("info", "join refused: %s", answer and tostring(answer.reason) or "no answer");
		return ctx.refuse_join(event, answer and "auth" or "wait",
			answer and "forbidden" or "service-unavailable", text);
	end, -20);

	function A.remove_occupant(room, instruction)
		local nick = type(instruction.occupant) == "string" and instruction.occupant or nil;
		local occupant = nick and room:get_occupant_by_nick(nick);
		if not occupant or ctx.service_kind(occupant) then return; end
		local text = type(instruction.message) == "string" and instruction.message or nil;
		room:set_role(true, nick, "none", text);
	end

	return A;
end

return { new = new };
