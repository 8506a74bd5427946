"""Run a real OpenID Provider (panva/oidc-provider 9.x, ``tests/op/server.mjs``) for tests.

Needs Node.js >= 20 and ``npm ci`` run once in ``tests/op``.

Typical use::

    from tests.oidc_provider import start_op, browser_login

    @pytest.fixture
    def op(tmp_path):
        with start_op(tmp_path, clients=[CLIENT], accounts=ACCOUNTS) as op:
            yield op

    async def test_login(op):
        jar = aiohttp.CookieJar(unsafe=True)   # hosts are 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            result = await browser_login(s, "http://127.0.0.1:8080/login", "alice")
        assert result.location.startswith("https://meet.example.org/")

``start_op`` blocks until the OP prints ``READY`` (well under 3 s); from async
code that must not block the event loop use ``await async_start_op(...)``.
The returned :class:`OPHandle` is a sync and an async context manager; leaving
it stops the node process (terminate, wait, kill).

The OP's login page is a plain HTML form (``<input name="login">``); consent is
granted automatically, so one form submission completes a login.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import html.parser
import ipaddress
import json
import os
import shutil
import subprocess
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from tests.support import free_port

__all__ = [
    "OP_DIR",
    "LoginResult",
    "OPHandle",
    "OPStartError",
    "async_start_op",
    "browser_follow",
    "browser_login",
    "browser_logout",
    "start_op",
]

OP_DIR = Path(__file__).resolve().parent / "op"
READY_TIMEOUT = 20.0
_NPM_HINT = "run `npm ci` in tests/op (cd tests/op && npm ci)"

# Every OP started by this module and not yet stopped: browser_login treats their
# origins as "inside the flow" and stops them at interpreter exit at the latest.
_RUNNING: weakref.WeakSet[OPHandle] = weakref.WeakSet()


class OPStartError(RuntimeError):
    """The OP did not come up; the message includes its stderr."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class OPHandle:
    """A running oidc-provider process.

    Attributes: ``issuer`` (``http://127.0.0.1:PORT``), ``port``, ``config``
    (the dict written to ``config_path``), ``process``.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        issuer: str,
        port: int,
        config: dict[str, Any],
        config_path: Path,
    ) -> None:
        self.process = process
        self.issuer = issuer
        self.port = port
        self.config = config
        self.config_path = config_path
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=self._pump, args=(process.stdout, self._stdout, True), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(process.stderr, self._stderr, False), daemon=True
            ),
        ]
        for t in self._threads:
            t.start()

    # -- output ---------------------------------------------------------------
    def _pump(self, stream: Any, sink: list[str], watch_ready: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                sink.append(line)
            if watch_ready and line.startswith("READY "):
                self._ready.set()
        stream.close()

    @property
    def stdout_text(self) -> str:
        with self._lock:
            return "\n".join(self._stdout)

    @property
    def stderr_text(self) -> str:
        """Everything the OP wrote to stderr (warnings, provider error events)."""
        with self._lock:
            return "\n".join(self._stderr)

    # -- URLs -----------------------------------------------------------------
    @property
    def origin(self) -> str:
        return _origin(self.issuer)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/me"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.issuer}/session/end"

    # -- lifecycle ------------------------------------------------------------
    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self.process.poll() is not None:
                for t in self._threads:
                    t.join(1.0)
                raise OPStartError(
                    self._failure_message(f"exited with code {self.process.returncode}")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise OPStartError(
                    self._failure_message(f"did not print READY within {timeout:g} s")
                )

    def _failure_message(self, what: str) -> str:
        stderr = self.stderr_text
        hint = ""
        if "ERR_MODULE_NOT_FOUND" in stderr or "Cannot find package" in stderr:
            hint = f"\nnode_modules is missing: {_NPM_HINT}"
        return (
            f"test OP (node {OP_DIR / 'server.mjs'}) {what}{hint}\n"
            f"--- stderr ---\n{stderr}\n--- stdout ---\n{self.stdout_text}"
        )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the OP: SIGTERM, wait, SIGKILL. Idempotent."""
        _RUNNING.discard(self)
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout)
        if proc.stdin and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        for t in self._threads:
            t.join(1.0)

    def __enter__(self) -> OPHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> OPHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- test hooks -----------------------------------------------------------
    async def rotate_keys(self, *, keep_old: bool = False) -> list[str]:
        """Replace the signing keys (new RS256 + ES256 kids); returns the JWKS kids.

        With ``keep_old=True`` the previous keys stay in the JWKS (verification only)
        and the new ones sign; by default the old keys disappear from the JWKS.
        """
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{self.issuer}/__test/rotate", json={"keep_old": keep_old}) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"key rotation failed: {resp.status} {body}")
                return list(body["kids"])

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{self.issuer}/__test/health") as resp:
                resp.raise_for_status()
                health: dict[str, Any] = await resp.json()
                return health

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OPHandle {self.issuer} pid={self.process.pid} {state}>"


def start_op(
    tmp_path: str | os.PathLike[str],
    *,
    clients: Sequence[Mapping[str, Any]],
    accounts: Mapping[str, Mapping[str, Any]],
    claims: Mapping[str, Sequence[str]] | None = None,
    ttl: Mapping[str, int] | None = None,
    pkce_required: bool = True,
    port: int | None = None,
    timeout: float = READY_TIMEOUT,
    op_dir: str | os.PathLike[str] | None = None,
    node: str | None = None,
) -> OPHandle:
    """Start the OP and block until it is ready; returns a running :class:`OPHandle`.

    ``clients``: oidc-provider client metadata dicts (``client_id``, ``client_secret``,
    ``redirect_uris``, ``post_logout_redirect_uris``, optionally
    ``id_token_signed_response_alg`` ``"RS256"`` (default) or ``"ES256"``; auth method
    defaults to ``client_secret_basic``).
    ``accounts``: login name -> claims; ``sub`` defaults to the login name. Claims are
    released in the ID token by scope: ``email`` (email, email_verified), ``profile``
    (name, ...), ``school`` (groups, tid, roles, eduPersonAffiliation); any other claim
    is released with ``openid``. ``claims`` adds/overrides scope -> claim-name lists.
    ``ttl``: oidc-provider TTLs in seconds, e.g. ``{"IdToken": 5}``.
    ``pkce_required``: PKCE (S256) is required for every client unless False.

    Files ``op-config.json`` (and the OP's logs via ``OPHandle.stderr_text``) live in
    ``tmp_path``. The free port is picked here; a lost race is retried.
    """
    op_dir = Path(op_dir) if op_dir is not None else OP_DIR
    script = op_dir / "server.mjs"
    node = node or shutil.which("node")
    if not node:
        raise OPStartError("node (Node.js >= 20) is not on PATH; it is needed for the test OP")
    if not (op_dir / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise OPStartError(f"{op_dir / 'node_modules'} has no oidc-provider: {_NPM_HINT}")

    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else 3
    last_error: OPStartError | None = None
    for attempt in range(attempts):
        use_port = port if port is not None else free_port()
        issuer = f"http://127.0.0.1:{use_port}"
        config: dict[str, Any] = {
            "port": use_port,
            "issuer": issuer,
            "clients": [dict(c) for c in clients],
            "accounts": {k: dict(v) for k, v in accounts.items()},
            "pkce_required": pkce_required,
        }
        if claims:
            config["claims"] = {k: list(v) for k, v in claims.items()}
        if ttl:
            config["ttl"] = dict(ttl)
        config_path = tmp_path / ("op-config.json" if attempt == 0 else f"op-config-{attempt}.json")
        config_path.write_text(json.dumps(config, indent=2))

        env = dict(os.environ, TEST_OP_EXIT_ON_STDIN_EOF="1", NODE_ENV="test")
        env.pop("NODE_OPTIONS", None)
        process = subprocess.Popen(
            [node, str(script), str(config_path)],
            cwd=str(op_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        handle = OPHandle(
            process, issuer=issuer, port=use_port, config=config, config_path=config_path
        )
        try:
            handle._wait_ready(timeout)
        except OPStartError as exc:
            handle.stop()
            last_error = exc
            if "EADDRINUSE" in handle.stderr_text and attempt + 1 < attempts:
                continue
            raise
        _RUNNING.add(handle)
        return handle
    assert last_error is not None
    raise last_error


async def async_start_op(tmp_path: str | os.PathLike[str], **kwargs: Any) -> OPHandle:
    """:func:`start_op` without blocking the event loop (same keyword arguments)."""
    return await asyncio.to_thread(start_op, tmp_path, **kwargs)


@atexit.register
def _stop_all() -> None:
    for handle in list(_RUNNING):
        with contextlib.suppress(Exception):
            handle.stop(timeout=2.0)


# ---------------------------------------------------------------------------
# A minimal "browser": follows redirects by hand and submits the OP's forms.


@dataclasses.dataclass
class LoginResult:
    """Where a browser flow ended.

    ``response_status``/``location``/``headers``/``body_text`` describe the last
    response (``location`` is absolute, or None if it was no redirect);
    ``final_url`` is the URL that produced it; ``url_history`` lists every URL
    requested in order (``"POST "`` prefixed for form submissions);
    ``login_submitted`` tells whether the OP's login form was submitted (False when
    an existing OP session made the login silent).
    """

    response_status: int
    location: str | None
    final_url: str
    url_history: list[str]
    body_text: str
    headers: dict[str, str]
    login_submitted: bool = False

    @property
    def is_redirect(self) -> bool:
        return self.location is not None

    @property
    def status(self) -> int:
        return self.response_status


@dataclasses.dataclass
class _Form:
    attrs: dict[str, str]
    inputs: list[dict[str, str]]

    @property
    def id(self) -> str:
        return self.attrs.get("id", "")

    def field_names(self) -> set[str]:
        return {i.get("name", "") for i in self.inputs if i.get("name")}

    def hidden_values(self) -> dict[str, str]:
        return {
            i["name"]: i.get("value", "")
            for i in self.inputs
            if i.get("name") and i.get("type", "text").lower() == "hidden"
        }


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._current = _Form(a, [])
            self.forms.append(self._current)
        elif tag in ("input", "textarea", "select") and self._current is not None:
            self._current.inputs.append(a)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _forms(body: str) -> list[_Form]:
    parser = _FormParser()
    parser.feed(body)
    parser.close()
    return parser.forms


def _check_cookie_jar(session: aiohttp.ClientSession, urls: Iterable[str]) -> None:
    jar = session.cookie_jar
    if not isinstance(jar, aiohttp.CookieJar) or getattr(jar, "_unsafe", True):
        return
    for url in urls:
        try:
            ipaddress.ip_address(urlsplit(url).hostname or "")
        except ValueError:
            continue
        raise ValueError(
            f"{url} is on an IP address: aiohttp's default CookieJar drops its cookies; "
            "use aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))"
        )


_REDIRECTS = {301, 302, 303, 307, 308}


async def browser_follow(
    session: aiohttp.ClientSession,
    start_url: str,
    *,
    account: str | None = None,
    logout: bool = False,
    op: OPHandle | str | None = None,
    follow_origins: Iterable[str] = (),
    max_hops: int = 20,
) -> LoginResult:
    """Engine behind :func:`browser_login` / :func:`browser_logout`.

    Follows redirects while they stay on the start URL's origin, an OP origin
    (``op`` or any OP started by this module) or ``follow_origins``. On an OP page:
    submits the login form (``account``) at most once, submits the OP's logout
    confirmation (``logout=True``) and auto-submits hidden-only ``form_post`` pages.
    Stops at the first response that is not a redirect, or at a redirect leaving
    those origins (e.g. to Jitsi/BBB), and returns it without requesting it.
    """
    op_origins = {h.origin for h in list(_RUNNING)}
    if isinstance(op, OPHandle):
        op_origins.add(op.origin)
    elif isinstance(op, str):
        op_origins.add(_origin(op))
    inside = {_origin(start_url), *op_origins, *(_origin(o) for o in follow_origins)}
    _check_cookie_jar(session, [start_url, *op_origins])

    history: list[str] = []
    method, url, data = "GET", start_url, None
    login_submitted = False
    logout_submitted = False

    for _ in range(max_hops + 1):
        history.append(url if method == "GET" else f"{method} {url}")
        async with session.request(method, url, data=data, allow_redirects=False) as resp:
            body = await resp.text(errors="replace")
            status = resp.status
            headers = {k: v for k, v in resp.headers.items()}
            location = resp.headers.get("Location")
        final = LoginResult(
            response_status=status,
            location=urljoin(url, location) if location and status in _REDIRECTS else None,
            final_url=url,
            url_history=history,
            body_text=body,
            headers=headers,
            login_submitted=login_submitted,
        )

        if final.location is not None:
            if _origin(final.location) not in inside:
                return final
            if status in (307, 308):
                url = final.location  # method and body are kept
            else:
                method, url, data = "GET", final.location, None
            continue

        if _origin(url) not in op_origins or status >= 500:
            return final
        if "interaction session id cookie not found" in body:
            raise RuntimeError(
                "the OP did not get its op_interaction cookie back; is the session's "
                "cookie jar aiohttp.CookieJar(unsafe=True)? url_history=" + repr(history)
            )

        forms = _forms(body)
        login_form = next((f for f in forms if "login" in f.field_names()), None)
        logout_form = next((f for f in forms if f.id == "op.logoutForm"), None)
        if login_form is not None and account is not None and not login_submitted:
            fields = login_form.hidden_values()
            fields["login"] = account
            method, data = "POST", fields
            url = urljoin(url, login_form.attrs.get("action") or url)
            login_submitted = True
            continue
        if logout_form is not None and logout and not logout_submitted:
            fields = logout_form.hidden_values()
            fields.setdefault("logout", "yes")
            method, data = "POST", fields
            url = urljoin(url, logout_form.attrs.get("action") or url)
            logout_submitted = True
            continue
        # response_mode=form_post or logout without OP session: a self-submitting
        # form made of hidden inputs only
        auto = next(
            (
                f
                for f in forms
                if f.inputs
                and all(i.get("type", "").lower() == "hidden" for i in f.inputs)
                and f.attrs.get("method", "get").lower() == "post"
                and f.id != "op.logoutForm"
            ),
            None,
        )
        if auto is not None:
            method, data = "POST", auto.hidden_values()
            url = urljoin(url, auto.attrs.get("action") or url)
            if _origin(url) not in inside:
                return final
            continue
        return final

    raise RuntimeError(f"more than {max_hops} hops: {history}")


async def browser_login(
    session: aiohttp.ClientSession,
    start_url: str,
    account: str,
    *,
    op: OPHandle | str | None = None,
    follow_origins: Iterable[str] = (),
    max_hops: int = 20,
) -> LoginResult:
    """Log in like a browser: GET ``start_url``, follow redirects, submit the OP login.

    The session's cookie jar is the browser's; because every host is 127.0.0.1 it must
    be ``aiohttp.CookieJar(unsafe=True)`` (the default jar ignores cookies of IP hosts;
    a ValueError says so). Redirects are followed manually (max ``max_hops``) while
    they stay on the start URL's origin, the OP's origin or ``follow_origins``; on the
    OP's interaction page the login form is POSTed with ``account`` once; the OP then
    grants consent by itself. Returns the first response that is not a redirect, or
    the first redirect leaving those origins (``result.location`` is then e.g. the
    Jitsi/BBB join URL, not requested). Reaching the login form again (unknown
    account) returns that page (status 401).

    The OP's origin is known for every OP started by :func:`start_op` in this process;
    pass ``op`` (handle or issuer URL) for another one.
    """
    return await browser_follow(
        session, start_url, account=account, op=op, follow_origins=follow_origins, max_hops=max_hops
    )


async def browser_logout(
    session: aiohttp.ClientSession,
    start_url: str,
    *,
    op: OPHandle | str | None = None,
    follow_origins: Iterable[str] = (),
    max_hops: int = 20,
) -> LoginResult:
    """RP-initiated logout like a browser: follow ``start_url`` (an RP logout URL or
    the OP's end_session URL), confirm the OP's "sign out?" page, and follow the
    redirect to the client's ``post_logout_redirect_uri`` (same stop rules as
    :func:`browser_login`)."""
    return await browser_follow(
        session, start_url, logout=True, op=op, follow_origins=follow_origins, max_hops=max_hops
    )
