-- A small stand-in for prosody's module API and MUC rooms, for busted specs.
-- Real prosody utility libraries (util.stanza, util.json, util.hashes, util.jid, util.id)
-- come from the installed Debian prosody; only the host, rooms and net.http are faked.
package.path = "/usr/lib/prosody/?.lua;" .. package.path;
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath;

local jid_lib = require "util.jid";
local standin = {};

function standin.new_occupant(nick, real_jid, role)
	local occupant = { nick = nick; jid = real_jid; bare_jid = jid_lib.bare(real_jid); role = role };
	function occupant:each_session()
		local done = false;
		return function ()
			if done then return nil; end
			done = true;
			return self.jid;
		end
	end
	return occupant;
end

function standin.new_room(room_jid)
	local room = { jid = room_jid; _data = {}; occupants = {}; order = {}; broadcasts = {};
		kicked = {}; jitsiMetadata = { startMuted = {} } };
	function room:add(occupant)
		self.occupants[occupant.nick] = occupant;
		table.insert(self.order, occupant.nick);
		return occupant;
	end
	function room:each_occupant()
		local i = 0;
		return function ()
			repeat
				i = i + 1;
				local nick = self.order[i];
				if nick and self.occupants[nick] then return nick, self.occupants[nick]; end
			until nick == nil
		end
	end
	function room:get_occupant_by_nick(nick) return self.occupants[nick]; end
	function room:get_occupant_by_real_jid(real)
		for _, o in self:each_occupant() do if o.jid == real then return o; end end
	end
	function room:broadcast_message(stanza) table.insert(self.broadcasts, stanza); return true; end
	function room:set_role(actor, nick, role, reason)
		assert(actor == true, "the module acts as the system");
		table.insert(self.kicked, { nick = nick; role = role; reason = reason });
		if role == "none" then self.occupants[nick] = nil; else self.occupants[nick].role = role; end
		return true;
	end
	return room;
end

-- Load the module with `options`; returns (exports, host) where host records everything.
function standin.load(options)
	local host = { hooks = {}; sent = {}; requests = {}; timers = {}; rooms = {}; logs = {} };
	package.loaded["net.http"] = {
		request = function (url, ex, callback)
			table.insert(host.requests, { url = url; ex = ex; callback = callback });
		end;
	};
	local module = { host = "conference.meet.example" };
	function module:get_option_string(name, default) local v = options[name]; if v == nil then return default; end return v; end
	module.get_option_number = module.get_option_string;
	module.get_option_array = module.get_option_string;
	function module:log(level, fmt, ...) table.insert(host.logs, { level, string.format(fmt, ...) }); end
	function module:hook(name, handler, priority)
		host.hooks[name] = host.hooks[name] or {};
		table.insert(host.hooks[name], { handler = handler; priority = priority or 0 });
	end
	function module:send(stanza) table.insert(host.sent, stanza); end
	function module:add_timer(delay, fn) table.insert(host.timers, { delay = delay; fn = fn }); end
	function module:depends(name)
		assert(name == "muc");
		return {
			get_room_from_jid = function (j) return host.rooms[j]; end;
			each_room = function ()
				local list = {};
				for _, r in pairs(host.rooms) do table.insert(list, r); end
				local i = 0;
				return function () i = i + 1; return list[i]; end
			end;
		};
	end
	function host.fire(name, event)
		for _, h in ipairs(host.hooks[name] or {}) do h.handler(event); end
		return event;
	end
	function host.add_room(room) host.rooms[room.jid] = room; return room; end
	-- Answer the oldest pending request with `answer`, signed as the gateway signs it
	-- (HMAC over "answer:<event id>.<body>"); `signature` replaces the right one.
	function host.answer(answer, code, signature)
		local json = require "util.json";
		local request = table.remove(host.requests, 1);
		assert(request, "no request to answer");
		local body = json.encode(answer);
		local event_id = json.decode(request.ex.body).id;
		local right = "sha256=" .. require("util.hashes").hmac_sha256(
			options.privacy_gateway_secret, "answer:" .. event_id .. "." .. body, true);
		request.callback(body, code or 200,
			{ code = code or 200; headers = { ["x-privacy-gateway-signature"] = signature or right } });
		return request;
	end
	-- The gateway cannot be reached (net.http reports code 0).
	function host.fail(reason)
		local request = table.remove(host.requests, 1);
		assert(request, "no request to fail");
		request.callback(reason or "connection refused", 0, request);
		return request;
	end
	-- Run (and drop) the oldest one-shot timer, e.g. a retry.
	function host.run_timer(index)
		local timer = table.remove(host.timers, index or #host.timers);
		assert(timer, "no timer");
		return timer.fn();
	end
	-- Like prosody's plugin loader: the module runs in its own environment with `module`.
	local env = setmetatable({ module = module }, { __index = _G });
	-- module:require(name) as prosody does it: <name>.lib.lua from the plugin path, run in
	-- the module's environment (core/moduleapi.lua api:require).
	function module:require(name)
		host.required = host.required or {};
		table.insert(host.required, name);
		return assert(loadfile(name .. ".lib.lua", "t", env))();
	end
	local chunk = assert(loadfile("mod_privacy_gateway.lua", "t", env));
	return chunk(), host;
end

return standin;
