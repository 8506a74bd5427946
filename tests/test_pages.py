"""Pages, headers and operational endpoints as a visitor and an admin see them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web

from gateway.config.loading import load_settings
from tests.gateway_fixtures import browser, start_gateway, wait_for_idp
from tests.support import EXAMPLE, demo_settings, free_port, make_settings


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[str]:
    """The example policy as shipped: development IdP, memory store."""
    port = free_port()
    settings = demo_settings(tmp_path, port)
    async with start_gateway(settings, port, wait_ready=False) as app:
        await wait_for_idp(app)
        yield f"http://127.0.0.1:{port}"


async def _dev_login(base: str, account: str) -> tuple[int, str, str]:
    async with browser() as session:
        async with session.get(base + "/login?next=/") as resp:
            page = await resp.text()
        assert 'class="dev-warning"' in page
        fields = {k: html.unescape(v) for k, v in
                  re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page)}
        fields["account"] = account
        async with session.post(base + "/dev-idp/choose", data=fields) as resp:
            status, body = resp.status, await resp.text()
        async with session.get(base + "/?lang=en") as resp:
            home = await resp.text()
    return status, body, home


async def test_demo_login_succeeds_and_private_account_is_refused(demo: str) -> None:
    """What a newcomer sees with `privacy-gateway demo` (G1)."""
    status, _, home = await _dev_login(demo, "teacher")
    assert status == 200 and "You are logged in as teacher." in home
    status, body, home = await _dev_login(demo, "private")
    assert status == 403 and 'data-reason="consumer_domain"' in body
    assert "You are not logged in." in home


async def test_dev_login_page_speaks_one_language(demo: str) -> None:
    """G18: the sample-account page in Dutch is Dutch throughout, and English in English."""
    async with browser() as session:
        async with session.get(demo + "/login?next=/") as resp:
            authorize = str(resp.url)
        assert "/dev-idp/authorize?" in authorize
        async with session.get(authorize + "&lang=nl") as resp:
            nl = await resp.text()
        async with session.get(authorize + "&lang=en") as resp:
            en = await resp.text()
    assert "niet voor echt gebruik" in nl and "<h1>Voorbeeldaccounts</h1>" in nl
    for english in ("Development", "not for production", "Pick a sample", "Sample accounts"):
        assert english not in nl, english
    assert "not for production" in en and "<h1>Sample accounts</h1>" in en


async def test_security_headers_and_no_external_assets(demo: str) -> None:
    """G21: no outside scripts, fonts or analytics; strict CSP without inline script."""
    async with browser() as session:
        for path in ("/", "/privacy", "/login", "/no-such-page"):
            async with session.get(demo + path, allow_redirects=False) as resp:
                csp = resp.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp and "script-src 'self'" in csp
                assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
                assert resp.headers["Referrer-Policy"] == "same-origin"
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                body = await resp.text()
                assert not re.search(r'(src|href)="(https?:)?//', body)
                assert "<script>" not in body


async def test_privacy_notice_follows_the_policy(tmp_path: Path) -> None:
    """G18: the notice shows purposes and retention from the active policy."""
    port = free_port()
    settings = demo_settings(tmp_path, port, {"purposes": {"feedback": {"retention_days": 9}}})
    async with start_gateway(settings, port, wait_ready=False), browser() as session:
        async with session.get(f"http://127.0.0.1:{port}/privacy?lang=en") as resp:
            page = await resp.text()
        assert "9 days, then deleted automatically" in page
        assert "30 days, then deleted automatically" in page  # lecture
        assert "No, pupils&#39; cameras and microphones are off" in page
        assert "Public task" in page
        async with browser() as fresh, fresh.get(f"http://127.0.0.1:{port}/privacy") as resp:
            assert "Welke gegevens?" in await resp.text()  # the policy's default language


async def test_language_switch_is_remembered(demo: str) -> None:
    async with browser() as session:
        async with session.get(demo + "/privacy?lang=en") as resp:
            assert "Which data?" in await resp.text()
        async with session.get(demo + "/privacy") as resp:
            assert "Which data?" in await resp.text()
        async with session.get(demo + "/privacy", headers={"Accept-Language": "nl"}) as resp:
            assert "Which data?" in await resp.text()  # an explicit choice wins


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/no-such-page", 404, "error.not_found"),
    ("/login?idp=unknown", 404, "error.not_found"),
])
async def test_friendly_error_pages(demo: str, path: str, status: int, message: str) -> None:
    async with browser() as session, session.get(demo + path) as resp:
        assert resp.status == status
        assert f'data-message="{message}"' in await resp.text()


async def test_post_without_session_is_refused_as_csrf(demo: str) -> None:
    async with browser() as session, session.post(demo + "/logout", data={"x": "1"}) as resp:
        assert resp.status == 403
        assert 'data-message="error.csrf"' in await resp.text()


async def test_health_readiness_and_metrics(demo: str) -> None:
    async with browser() as session:
        async with session.get(demo + "/healthz") as resp:
            assert (await resp.json()) == {"status": "ok"}
        async with session.get(demo + "/readyz") as resp:
            body = await resp.json()
            assert resp.status == 200 and body["checks"]["store"] is True
        async with session.get(demo + "/metrics") as resp:
            text = await resp.text()
            assert "privacy_gateway_request_duration_seconds_bucket" in text
            assert 'route="/readyz"' in text  # route templates, never raw paths


async def test_readyz_fails_while_the_idp_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, {
        "gateway": {"public_url": f"http://127.0.0.1:{port}"}, "dev_idp": {"enabled": False},
        "identity": {"providers": [{**load_settings(EXAMPLE, env={}).policy.identity
                                    .providers[0].model_dump(mode="json"),
                                    "client_secret_file": _secret(tmp_path),
                                    "issuer": "http://127.0.0.1:9/none"}]}})
    async with start_gateway(settings, port, wait_ready=False), browser() as session:
        async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["idp_metadata"] is False
        async with session.get(f"http://127.0.0.1:{port}/login") as resp:
            assert resp.status == 503  # fail closed, with a page saying so
            assert "login.unavailable" in await resp.text()


def test_app_has_no_string_keys(tmp_path: Path) -> None:
    from privacy_gateway import create_app

    app = create_app(make_settings(tmp_path))
    assert all(isinstance(k, web.AppKey) for k in app)


def _secret(tmp_path: Path) -> str:
    path = tmp_path / "s"
    path.write_text("x" * 40)
    return str(path)


async def test_a_failing_store_gives_a_friendly_500_page(tmp_path: Path) -> None:
    """A 500 is still a page in the visitor's language, never aiohttp's bare error."""
    from gateway.store.base import MemoryStore

    class BrokenStore(MemoryStore):
        async def get(self, key: str) -> bytes | None:
            raise ConnectionError("store down")

    port = free_port()
    settings = demo_settings(tmp_path, port)
    async with start_gateway(settings, port, store=BrokenStore(), wait_ready=False), \
            browser() as session:
        session.cookie_jar.update_cookies({"pgw_session": "x" * 43})
        async with session.get(f"http://127.0.0.1:{port}/?lang=en") as resp:
            assert resp.status == 500
            body = await resp.text()
            assert 'data-message="error.internal"' in body and "Something went wrong" in body


async def test_large_bodies_are_refused_before_login(demo: str) -> None:
    """Nothing unauthenticated makes the gateway buffer more than 1 MiB."""
    import io

    async with browser() as session, session.post(
            demo + "/logout", data=io.BytesIO(b"csrf=x&" + b"a" * (2 * 1024 * 1024)),
            headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 413
        assert "text/html" in resp.headers["Content-Type"]


def _language_link(page: str) -> str:
    found = re.search(r'<a href="([^"]*)" hreflang="(?:nl|en)" class="lang">', page)
    assert found, "every page has a language link"
    return html.unescape(found.group(1))


async def test_language_link_keeps_the_login_request(demo: str) -> None:
    """Switching language on the development login page keeps the authorization request
    (it was `/dev-idp/authorize?lang=nl`: a 400)."""
    async with browser() as session:
        async with session.get(demo + "/login?next=/") as resp:
            assert resp.status == 200 and resp.url.path == "/dev-idp/authorize"
            page = await resp.text()
            asked = dict(resp.url.query)
        other = "en" if '<html lang="nl">' in page else "nl"
        link = _language_link(page)
        assert link.startswith("/dev-idp/authorize?")
        assert dict(parse_qsl(urlsplit(link).query)) == {**asked, "lang": other}
        async with session.get(demo + link) as resp:
            assert resp.status == 200 and f'<html lang="{other}">' in await resp.text()


@pytest.mark.parametrize(("method", "path", "link"), [
    pytest.param("GET", "/privacy?x=1&lang=en&y=%C3%A9", "/privacy?x=1&y=%C3%A9&lang=nl",
                 id="every_parameter_kept_only_lang_replaced"),
    pytest.param("GET", "/privacy?a=1&a=2&lang=en", "/privacy?a=1&a=2&lang=nl",
                 id="repeated_parameters_kept"),
    pytest.param("GET", "/%2F%2Fevil.example?lang=en&q=1", "/?lang=nl",
                 id="no_open_redirect_from_an_unknown_path"),
    pytest.param("POST", "/logout?lang=en", "/?lang=nl", id="post_only_page_links_home"),
    pytest.param("POST", "/admin/approvals?lang=en&x=1", "/admin/approvals?lang=nl",
                 id="post_page_links_its_get_page"),
])
async def test_language_link_is_this_page_in_the_other_language(
        demo: str, method: str, path: str, link: str) -> None:
    async with browser() as session, session.request(method, demo + path,
                                                     data={"x": "1"}) as resp:
        assert _language_link(await resp.text()) == link


async def test_favicon_ico_leads_to_the_pages_icon(demo: str) -> None:
    """Browsers ask /favicon.ico even when the page links an SVG icon: no 404."""
    async with browser() as session:
        async with session.get(demo + "/favicon.ico", allow_redirects=False) as resp:
            assert resp.status == 301 and resp.headers["Location"] == "/static/favicon.svg"
        async with session.get(demo + "/favicon.ico") as resp:
            assert resp.status == 200 and resp.content_type == "image/svg+xml"


async def test_login_link_comes_back_to_this_page_with_its_parameters(demo: str) -> None:
    """Logging in from a filled-in page returns to it, parameters and all (not a blank
    form); only the gateway's own path, never another site."""
    async with browser() as session:
        async with session.get(demo + "/privacy?platform=bbb&meeting=m%201&lang=en") as resp:
            page = await resp.text()
        found = re.search(r'<a href="([^"]*)" class="login">', page)
        assert found
        link = html.unescape(found.group(1))
        assert dict(parse_qsl(urlsplit(link).query)) == {
            "next": "/privacy?platform=bbb&meeting=m+1"}
        async with session.get(demo + "/%2F%2Fevil.example?next=x") as resp:
            found = re.search(r'<a href="([^"]*)" class="login">', await resp.text())
        assert found and html.unescape(found.group(1)) == "/login?next=/"
