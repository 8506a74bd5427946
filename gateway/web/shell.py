"""The web shell: page rendering, security headers, errors, CSRF, metrics.

Pages use no external assets, fonts, CDNs or analytics (G21); the CSP has no
inline script. Errors reach each caller in its own format.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from multidict import CIMultiDict

from gateway import logs
from gateway.demo import DEMO
from gateway.login.sessions import SESSION_KEY, csrf_ok, current_session
from gateway.store.errors import StoreUnavailable
from gateway.web import i18n, keys
from gateway.web.errors import CSRFError, GatewayError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# POSTs under these prefixes authenticate by other means (BBB checksum, HMAC, the
# development IdP's own client authentication).
CSRF_EXEMPT = ("/bigbluebutton/api/", "/hooks/", "/dev-idp/")
CSP_KEY = web.RequestKey[dict[str, list[str]]]("csp_extra")


async def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None,
                 status: int = 200) -> web.Response:
    lang = i18n.language(request)
    other_lang = "en" if lang == "nl" else "nl"
    messages = request.app[i18n.MESSAGES_KEY]
    session = await current_session(request)
    ctx: dict[str, Any] = {
        "lang": lang,
        "other_lang": other_lang,
        "lang_href": await language_link(request, other_lang),
        "this_page": await this_page(request),
        "t": lambda key, **values: messages.t(lang, key, **values),
        "session": session,
        "school_name": request.app[keys.SETTINGS].policy.gateway.school_name,
        "path": own_path(request),
        "demo": request.app.get(DEMO, False),  # gateway.demo.mark_demo
    }
    ctx.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    if "lang" in request.query and request.query["lang"] in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, request.query["lang"], max_age=365 * 86400,
                            path="/", samesite="Lax", httponly=True,
                            secure=not request.app[keys.SETTINGS].policy.gateway.development)
    return response


def own_path(request: web.Request) -> str:
    """This page's path rebuilt from the gateway's own route, for links on the page.

    Never the raw request path: `GET /%2Fevil.example` must not become a link to
    `//evil.example`. An unmatched path (404, 405) links to the home page."""
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    if resource is None:
        return "/"
    try:
        path = str(resource.url_for(**dict(info)))
    except (KeyError, ValueError, TypeError):
        return "/"
    if not path.startswith("/") or path.startswith(("//", "/\\")) or not path.isascii():
        return "/"
    return path


async def language_link(request: web.Request, lang: str) -> str:
    """The link to this same page in another language.

    The path is the gateway's own route (`own_path`: never an open redirect) and every
    query parameter stays, only `lang` replaced, so a filled-in form or a login request
    survives the switch. A page answering a POST links to the GET page at that path if
    there is one (the form's values are not in a link), else to the home page."""
    path, query = await _this_page(request)
    return f"{path}?{urlencode([*query, ('lang', lang)], errors='replace')}"


async def this_page(request: web.Request) -> str:
    """This page as a link (its path and query, without `lang`), e.g. to come back after
    logging in; the same rules as `language_link`."""
    path, query = await _this_page(request)
    return f"{path}?{urlencode(query, errors='replace')}" if query else path


async def _this_page(request: web.Request) -> tuple[str, list[tuple[str, str]]]:
    path, query = own_path(request), [(k, v) for k, v in request.query.items() if k != "lang"]
    if request.match_info.http_exception is not None:  # no page here: the home page
        return path, []
    if request.method not in ("GET", "HEAD"):
        # The router reads only the method and the path (a form's body may be read already,
        # so the request itself cannot be cloned).
        probe = SimpleNamespace(method="GET", rel_url=request.rel_url)
        found = await request.app.router.resolve(cast(web.Request, probe))
        return ("/" if found.http_exception is not None else path), []
    return path, query


def _decodable(value: str) -> bool:
    """aiohttp keeps undecodable header bytes as lone surrogates; those are not text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_headers(request: web.Request) -> CIMultiDict[str] | None:
    """The headers without undecodable ones (and cookies), or None if all are clean."""
    if all(_decodable(v) for v in request.headers.values()):
        return None
    cleaned: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        if name.lower() == "cookie":
            value = ";".join(p for p in value.split(";") if _decodable(p))
        if value and _decodable(value):
            cleaned.add(name, value)
    return cleaned


@web.middleware
async def undecodable_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A header or cookie that is not valid UTF-8 is treated as absent (never a 500)."""
    cleaned = _clean_headers(request)
    if cleaned is not None:
        request = request.clone(headers=cleaned)
    return await handler(request)


def redirect(location: str, status: int = 302) -> web.Response:
    """A redirect response that can carry cookies (returning HTTPFound is deprecated)."""
    return web.Response(status=status, headers={"Location": location})


def add_csp(request: web.Request, directive: str, *sources: str) -> None:
    """Let one page allow more sources (for example the school's own Jitsi)."""
    request.setdefault(CSP_KEY, {}).setdefault(directive, []).extend(sources)


_BASE_CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",), "script-src": ("'self'",), "style-src": ("'self'",),
    "img-src": ("'self'",), "connect-src": ("'self'",), "form-action": ("'self'",),
    "frame-ancestors": ("'none'",), "base-uri": ("'none'",),
}
_DEFAULT_CSP = "; ".join(f"{d} {' '.join(s)}" for d, s in _BASE_CSP.items())


def _csp(request: web.Request) -> str:
    extra = request.get(CSP_KEY)
    if not extra:
        return _DEFAULT_CSP
    directives = {d: list(s) for d, s in _BASE_CSP.items()}
    for directive, sources in extra.items():
        directives.setdefault(directive, []).extend(sources)
    return "; ".join(f"{d} {' '.join(s)}" for d, s in directives.items())


_SLOW_REQUEST_SECONDS = 1.0


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, latency metric and an access log line without personal data.

    Routine requests are logged at DEBUG; refusals, errors and slow requests at
    INFO, so the log stays useful (and cheap) under load.
    """
    rid = secrets.token_hex(8)
    token = logs.request_id.set(rid)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers.setdefault("X-Request-Id", rid)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - start
        info = request.match_info.route.resource if request.match_info.route else None
        route = info.canonical if info is not None else "unmatched"
        request.app[keys.METRICS].observe_request(route, request.method, status, elapsed)
        level = (logging.INFO if status >= 400 or elapsed > _SLOW_REQUEST_SECONDS
                 else logging.DEBUG)
        if log.isEnabledFor(level):
            log.log(level, "request", extra={"event": "request", "route": route,
                                             "method": request.method, "status": status,
                                             "duration_ms": round(elapsed * 1000, 3)})
        logs.request_id.reset(token)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _headers(request, exc)
        raise
    _headers(request, response)
    return response


def _headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", _csp(request))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")  # nothing leaks to other sites
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "geolocation=(), payment=(), usb=()")
    h.setdefault("Cache-Control", "no-store")
    if not request.app[keys.SETTINGS].policy.gateway.development:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every browser form POST carries the session's token and a same origin."""
    if request.method == "POST" and not request.path.startswith(CSRF_EXEMPT):
        origin = request.headers.get("Origin")
        public = urlsplit(request.app[keys.SETTINGS].policy.gateway.public_url)
        # "null" is what browsers send under some referrer policies; the token decides then.
        if origin and origin != "null" and origin != f"{public.scheme}://{public.netloc}":
            raise CSRFError("csrf_origin")
        if request.content_type not in ("application/x-www-form-urlencoded",
                                        "multipart/form-data"):
            raise CSRFError("csrf_content_type")
        form = await request.post()
        if not csrf_ok(await current_session(request), form.get("csrf")):
            raise CSRFError("csrf_token")
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type not in ("text/plain",):
            raise
        return await _render_error(request, exc, exc.status, _http_message(exc.status))
    except GatewayError as exc:
        return await _render_error(request, exc, exc.status, exc.message_key)
    except StoreUnavailable as exc:  # try again shortly, in the caller's format
        log.warning("store unavailable", extra={"event": "store_unavailable",
                                                "error": str(exc)})
        return await _render_error(request, exc, exc.status, exc.message_key)
    except Exception as exc:
        log.error("unhandled error", exc_info=True,
                  extra={"event": "unhandled_error", "error": type(exc).__name__})
        return await _render_error(request, exc, 500, "error.internal")


def _http_message(status: int) -> str:
    return {404: "error.not_found", 405: "error.method", 403: "error.forbidden",
            413: "error.bad_request"}.get(status, "error.bad_request")


async def _render_error(request: web.Request, exc: Exception, status: int,
                        message_key: str) -> web.StreamResponse:
    if SESSION_KEY not in request:
        try:  # the page shows who is logged in, unless the store is what failed
            await current_session(request)
        except Exception:
            request[SESSION_KEY] = None
    for prefix, renderer in request.app[keys.ERROR_RENDERERS]:
        if request.path.startswith(prefix):
            return await renderer(request, exc)
    if request.path.startswith(("/hooks/", "/api/")):
        reason = exc.reason if isinstance(exc, GatewayError) else message_key.split(".")[-1]
        return web.json_response({"error": reason}, status=status)
    return await render(request, "error.html", {"message_key": message_key, "status": status,
                                                "who_key": who_may_see(request, exc, status)},
                        status=status)


def who_may_see(request: web.Request, exc: Exception, status: int) -> str:
    """The text key saying who may see a page that refused someone (gateway/home_texts.py)."""
    key = f"forbidden.{exc.reason}" if isinstance(exc, GatewayError) and status == 403 else ""
    return key if key and key in request.app[i18n.MESSAGES_KEY] else ""
