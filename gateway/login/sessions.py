"""Browser sessions: an opaque id in a cookie, the data in the store with a TTL.

The store key is a hash of the cookie value, so a copy of the store does not
hand out live sessions. Each session carries its own CSRF token.

Sessions parsed before are remembered per process (`known_session`), as a guess only:
a hot path may decide on the remembered session and then check, in the same atomic store
step as its writes, that the session in the store is still exactly that
(gateway/store/batch.py). Nothing is ever decided on the remembered copy alone, so a
logout or expiry on any replica is honoured at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import weakref
from dataclasses import asdict, dataclass

from aiohttp import hdrs, web

from gateway.policy.model import Role
from gateway.web import keys

COOKIE_DEV = "pgw_session"
COOKIE_SECURE = "__Host-pgw_session"
LOGIN_COOKIE_DEV = "pgw_login"
LOGIN_COOKIE_SECURE = "__Host-pgw_login"


@dataclass(frozen=True, slots=True)
class Session:
    issuer: str
    subject: str
    idp: str
    role: Role
    person: str  # keyed pseudonym of (iss, sub)
    name: str | None
    email: str | None
    csrf: str
    created: float


# Looked up once per request; None once we know there is no session.
SESSION_KEY = web.RequestKey[Session | None]("session")


def _store_key(session_id: str) -> str:
    return "session:" + hashlib.sha256(session_id.encode()).hexdigest()


# Per application (one replica): store key -> (the stored bytes, parsed, expires), a parse
# cache and the hot path's guess. Bounded in number and in time: an entry (a name and an
# e-mail address among it) is kept at most KNOWN_MAX_AGE seconds, and never past its
# session's own end (created + session TTL); expired entries go on lookup and insert (G10).
# An entry is used only when the bytes just read from the store (or checked) are equal.
KNOWN_LIMIT = 4096
KNOWN_MAX_AGE = 600.0
_Known = dict[str, tuple[bytes, Session, float]]
_KNOWN: weakref.WeakKeyDictionary[web.Application, _Known] = weakref.WeakKeyDictionary()


def _known_of(app: web.Application) -> _Known:
    known = _KNOWN.get(app)
    if known is None:
        known = _KNOWN[app] = {}
    return known


def _lookup(known: _Known, key: str, now: float) -> tuple[bytes, Session] | None:
    entry = known.get(key)
    if entry is None:
        return None
    if entry[2] <= now:
        del known[key]
        return None
    return entry[0], entry[1]


def _parse(app: web.Application, key: str, raw: bytes) -> Session | None:
    known, now = _known_of(app), app[keys.CLOCK].time()
    entry = _lookup(known, key, now)
    if entry is not None and entry[0] == raw:
        return entry[1]
    try:
        session = Session(**json.loads(raw))
    except (ValueError, TypeError):
        return None
    known.pop(key, None)  # re-inserted last: the order stays the order of insertion
    # Expired entries from the oldest on (O(1) a time): each was put there at most
    # KNOWN_MAX_AGE before its own end, so none outlives its insertion by more than that.
    while known:
        oldest = next(iter(known))
        if known[oldest][2] > now:
            break
        del known[oldest]
    if len(known) >= KNOWN_LIMIT:
        del known[next(iter(known))]
    ttl = app[keys.SETTINGS].policy.gateway.session_ttl_seconds
    expires = min(now + KNOWN_MAX_AGE, float(session.created) + ttl)
    if expires > now:
        known[key] = (raw, session, expires)
    return session


_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,127}")


def _session_id(request: web.Request) -> str | None:
    """The session cookie's value. The common case (one plain `name=token` pair) is read
    straight from the header: aiohttp's full cookie parser was a tenth of a token's cost.
    Anything else (quoted, repeated, odd characters) is left to aiohttp's parser."""
    name = cookie_name(request)
    header = request.headers.get(hdrs.COOKIE, "")
    found = [part.strip()[len(name) + 1:] for part in header.split(";")
             if part.strip().startswith(name + "=")]
    if len(found) == 1 and _SESSION_ID_RE.fullmatch(found[0]):
        return found[0]
    return request.cookies.get(name)


def session_key(request: web.Request) -> str | None:
    """The store key of this request's session cookie, or None without a usable cookie."""
    session_id = _session_id(request)
    if session_id and len(session_id) < 128:
        return _store_key(session_id)
    return None


def known_session(request: web.Request) -> tuple[str, bytes, Session] | None:
    """(store key, stored bytes, session) as last read on this process, UNCHECKED: the
    caller must check the bytes in the store (Batch.get(key, expect=raw)) before acting."""
    key = session_key(request)
    if key is None:
        return None
    known = _lookup(_known_of(request.app), key, request.app[keys.CLOCK].time())
    return (key, *known) if known is not None else None


def settle_session(request: web.Request, key: str, raw: bytes | None) -> Session | None:
    """The request's session from the bytes just read (or checked) in the store."""
    session = _parse(request.app, key, raw) if raw is not None else None
    if raw is None:
        _known_of(request.app).pop(key, None)
    request[SESSION_KEY] = session
    return session


def cookie_name(request: web.Request, login: bool = False) -> str:
    dev = request.app[keys.SETTINGS].policy.gateway.development
    if login:
        return LOGIN_COOKIE_DEV if dev else LOGIN_COOKIE_SECURE
    return COOKIE_DEV if dev else COOKIE_SECURE


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int) -> None:
    dev = request.app[keys.SETTINGS].policy.gateway.development
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        secure=not dev, samesite="Lax")


def delete_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    """Delete with the attributes it was set with: a browser ignores a `__Host-` cookie
    deletion without `Secure`, and keeps the cookie."""
    dev = request.app[keys.SETTINGS].policy.gateway.development
    response.del_cookie(name, path="/", secure=not dev, httponly=True, samesite="Lax")


async def create_session(request: web.Request, response: web.StreamResponse,
                         session: Session) -> None:
    settings = request.app[keys.SETTINGS]
    ttl = settings.policy.gateway.session_ttl_seconds
    session_id = secrets.token_urlsafe(32)
    await request.app[keys.STORE].set(_store_key(session_id),
                                      json.dumps(asdict(session)).encode(), ttl)
    set_cookie(request, response, cookie_name(request), session_id, ttl)


def new_session(*, issuer: str, subject: str, idp: str, role: Role, person: str,
                name: str | None, email: str | None, now: float) -> Session:
    return Session(issuer=issuer, subject=subject, idp=idp, role=role, person=person,
                   name=name, email=email, csrf=secrets.token_urlsafe(24), created=now)


async def current_session(request: web.Request) -> Session | None:
    """The session of this request (looked up once per request), or None."""
    if SESSION_KEY in request:
        return request[SESSION_KEY]
    key = session_key(request)
    if key is None:
        request[SESSION_KEY] = None
        return None
    return settle_session(request, key, await request.app[keys.STORE].get(key))


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    session_id = request.cookies.get(cookie_name(request))
    if session_id and len(session_id) < 128:
        await request.app[keys.STORE].delete(_store_key(session_id))
        _known_of(request.app).pop(_store_key(session_id), None)
    delete_cookie(request, response, cookie_name(request))
    request[SESSION_KEY] = None


def csrf_ok(session: Session | None, submitted: object) -> bool:
    return (session is not None and isinstance(submitted, str)
            and hmac.compare_digest(session.csrf.encode(), submitted.encode()))
