-- Tests only: stands in for Jitsi's mod_auth_token, which binds the verified token's
-- context.user to the session as session.jitsi_meet_context_user (reference/jitsi.md §1).
-- Here the person's pseudonym is the resource the test client binds ("p_...").
module:hook("resource-bind", function (event)
	local session = event.session;
	local person = session.resource and session.resource:match("^(p_.+)$");
	if person then session.jitsi_meet_context_user = { id = person }; end
end);
