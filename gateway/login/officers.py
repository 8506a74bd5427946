"""Who is the privacy officer (G12, G11, G19): one check for every officer page.

The policy names officers by e-mail address (`retention.privacy_officer_emails`,
normalised once by the settings), because that is what a school's admins know.
An e-mail claim alone is weak (a multi-tenant IdP may let anyone type any
address, "nOAuth"), so the session must also carry a staff or teacher role from
the school's own role claims: a pupil or guest account never decides, whatever
its e-mail says. Logins themselves only accept verified addresses, or any
address from an IdP marked `email_authoritative` (gateway.policy.identity).
"""

from __future__ import annotations

from aiohttp import web

from gateway.config.loading import Settings
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.web import keys
from gateway.web.errors import Forbidden

OFFICER_ROLES = frozenset({"staff", "teacher"})


def is_privacy_officer(settings: Settings, session: Session) -> bool:
    email = (session.email or "").strip().lower()
    return (session.role in OFFICER_ROLES and bool(email)
            and email in settings.policy.retention.privacy_officer_emails)


async def require_officer(request: web.Request) -> Session:
    """The officer's session; anyone else logs in first (302) or is refused (403)."""
    session = await current_session(request)
    if session is None:
        raise web.HTTPFound(login_url(request.path_qs))
    if not is_privacy_officer(request.app[keys.SETTINGS], session):
        raise Forbidden("not_privacy_officer")
    return session
