-- privacy_gateway_executor: carries out the gateway's instructions in a room, for
-- mod_privacy_gateway (loaded with module:require, so it runs in that module's environment).
--
--  * AV moderation on/off for audio and video, as the av_moderation component itself does
--    it (so jicofo mutes at the bridge), whitelisting only the occupants the gateway names
--    (teachers/staff by the gateway's knowledge, G10);
--  * an announcement into the room, a notice to one occupant or to the moderators (G8);
--  * removing the recorder (stop recording, G3, G11, G13) or the transcriber (G15).
--
-- It keeps no policy. `new(ctx)` takes what it shares with the module:
--   ctx.av_component, ctx.recorder_prefixes, ctx.transcriber_prefixes,
--   ctx.is_focus(occupant), ctx.service_kind(occupant), ctx.has_prefix(bare, prefixes),
--   ctx.bare_of(occupant)

local st = require "util.stanza";
local json = require "util.json";

local function new(ctx)
	local X = {};

	local function send_json(to, body)
		module:send(st.message({ from = ctx.av_component; to = to })
			:tag("json-message", { xmlns = "http://jitsi.org/jitmeet" }):text(json.encode(body)):up());
	end

	local function focus_of(room)
		for _, occupant in room:each_occupant() do
			if ctx.is_focus(occupant) then return occupant; end
		end
	end

	-- G10: only the occupants the gateway names (teachers/staff as the gateway knows them)
	-- may speak or show video; a MUC moderator role (a pupil promoted by a teacher) is not
	-- enough.
	local function whitelist_of(room, allowed)
		local whitelist, named = {}, {};
		for _, nick in ipairs(type(allowed) == "table" and allowed or {}) do
			local occupant = type(nick) == "string" and room:get_occupant_by_nick(nick);
			if occupant and not ctx.is_focus(occupant) then
				table.insert(whitelist, nick);
				named[nick] = true;
			end
		end
		return whitelist, named;
	end

	-- jicofo lets MUC moderators unmute whatever the whitelist says: a moderator the gateway
	-- did not name (a promoted pupil) becomes a participant while the guard is on (G10).
	local function demote_unnamed_moderators(room, named)
		for _, occupant in room:each_occupant() do
			if occupant.role == "moderator" and not named[occupant.nick]
					and not ctx.service_kind(occupant) then
				room:set_role(true, occupant.nick, "participant",
					"Only teachers speak while a lesson is recorded");
			end
		end
	end

	local function announce_av(room, media, enabled, actor)
		for _, occupant in room:each_occupant() do
			if enabled == nil then
				if occupant.role == "moderator" then
					send_json(occupant.jid, { type = "av_moderation"; room = room.jid;
						whitelists = { [media] = room.av_moderation[media] }; mediaType = media });
				end
			else
				send_json(occupant.jid, { type = "av_moderation"; enabled = enabled; room = room.jid;
					actor = actor; mediaType = media });
				if enabled and occupant.role == "moderator" then
					send_json(occupant.jid, { type = "av_moderation"; room = room.jid;
						whitelists = { [media] = room.av_moderation[media] }; mediaType = media });
				end
			end
		end
	end

	local function switch_on(room, media, whitelist, actor)
		room.av_moderation = room.av_moderation or {};
		room.av_moderation_actors = room.av_moderation_actors or {};
		room.av_moderation[media] = whitelist;
		room.av_moderation_actors[media] = actor;
		local metadata = room.jitsiMetadata;
		if metadata then -- jicofo applies startMuted to newcomers
			metadata.startMuted = metadata.startMuted or {};
			room.av_moderation_startMuted_restore = room.av_moderation_startMuted_restore or {};
			room.av_moderation_startMuted_restore[media] = metadata.startMuted[media];
			metadata.startMuted[media] = true;
		end
	end

	local function switch_off(room, media)
		room.av_moderation[media] = nil;
		room.av_moderation_actors[media] = nil;
		local metadata = room.jitsiMetadata;
		if metadata and metadata.startMuted and room.av_moderation_startMuted_restore then
			metadata.startMuted[media] = room.av_moderation_startMuted_restore[media];
		end
		if next(room.av_moderation) == nil then room.av_moderation = nil; end
	end

	function X.set_av_moderation(room, media, enabled, allowed)
		local current = room.av_moderation and room.av_moderation[media] ~= nil;
		local whitelist, named = whitelist_of(room, allowed);
		if enabled and allowed ~= nil then demote_unnamed_moderators(room, named); end
		if current == enabled then
			if enabled and allowed ~= nil then  -- already on: narrow the whitelist to the gateway's
				room.av_moderation[media] = whitelist;
				announce_av(room, media, nil);
			end
			return false;
		end
		local actor = focus_of(room);
		actor = actor and actor.nick or room.jid;
		if enabled then switch_on(room, media, whitelist, actor); else switch_off(room, media); end
		announce_av(room, media, enabled, actor);
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
			if ctx.has_prefix(ctx.bare_of(occupant), prefixes) then
				room:set_role(true, occupant.nick, "none", reason);
				removed = removed + 1;
			end
		end
		return removed;
	end

	function X.stop_transcription(room)
		room._data.privacy_gateway_transcription = false;
		return remove_matching(room, ctx.transcriber_prefixes,
			"Transcription needs everyone's consent");
	end

	function X.execute(room, instruction)
		local action = instruction.action;
		if action == "av_moderation" and (instruction.media == "audio" or instruction.media == "video") then
			X.set_av_moderation(room, instruction.media, instruction.enabled == true, instruction.allowed);
		elseif action == "announce" and type(instruction.text) == "string" then
			room:broadcast_message(st.message({ from = room.jid; type = "groupchat" })
				:tag("body"):text(instruction.text):up());
		elseif action == "tell" and type(instruction.occupant) == "string" then
			local occupant = room:get_occupant_by_nick(instruction.occupant);
			if occupant then tell(room, occupant, instruction.text or ""); end
		elseif action == "tell_moderators" then
			for _, occupant in room:each_occupant() do
				if occupant.role == "moderator" and not ctx.is_focus(occupant) then
					tell(room, occupant, instruction.text or "");
				end
			end
		elseif action == "stop_recording" then
			remove_matching(room, ctx.recorder_prefixes,
				"Recording stopped by the school's privacy policy");
		elseif action == "stop_transcription" then
			X.stop_transcription(room);
		else
			module:log("warn", "unknown instruction %s", tostring(action));
		end
	end

	return X;
end

return { new = new };
