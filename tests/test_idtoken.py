"""Negative ID-token cases: every row of style_security.md B.1 (G1, G2).

The IdP's JWKS is served by a local server that counts its requests; an
"attacker" server stands behind every jku/x5u URL and must never be asked.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.clock import ManualClock
from gateway.login.idtoken import Expectation, TokenRejected, validate_id_token
from gateway.login.jwks import JWKSCache

ISSUER = "https://login.school.example/tenant-a/v2.0"
CLIENT = "privacy-gateway"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_800_000_000.0

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algo.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return dict(jwk)


@dataclass
class Servers:
    jwks_url: str
    attacker_url: str
    jwks_hits: list[float] = field(default_factory=list)
    attacker_hits: list[str] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    state = Servers("", "")
    state.keys = [_jwk(RSA_KEY, "rsa-1", "RS256"), _jwk(EC_KEY, "ec-1", "ES256"),
                  {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}]

    async def jwks(request: web.Request) -> web.Response:
        state.jwks_hits.append(time.monotonic())
        if state.down:
            return web.Response(status=503)
        return web.json_response({"keys": state.keys})

    async def attacker(request: web.Request) -> web.Response:
        state.attacker_hits.append(request.path)
        return web.json_response({"keys": [_jwk(ATTACKER_KEY, "evil", "RS256")]})

    idp, evil = web.Application(), web.Application()
    idp.router.add_get("/jwks", jwks)
    evil.router.add_route("*", "/{tail:.*}", attacker)
    idp_server, evil_server = TestServer(idp), TestServer(evil)
    await idp_server.start_server()
    await evil_server.start_server()
    state.jwks_url = str(idp_server.make_url("/jwks"))
    state.attacker_url = str(evil_server.make_url("/keys.json"))
    yield state
    await idp_server.close()
    await evil_server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def cache(http: aiohttp.ClientSession, servers: Servers, clock: ManualClock,
          **kw: float) -> JWKSCache:
    return JWKSCache(http, servers.jwks_url, clock,
                     refresh_seconds=kw.get("refresh", 600),
                     cooldown_seconds=kw.get("cooldown", 30),
                     max_stale_seconds=kw.get("max_stale", 3600))


def expectation(now: float = NOW, **kw: Any) -> Expectation:
    return Expectation(issuer=ISSUER, client_id=CLIENT, algorithms=("RS256", "ES256"),
                       nonce=NONCE, now=now, leeway=30, max_age=600,
                       trusted_audiences=kw.get("trusted", ()))


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "sub": "pupil-1", "aud": CLIENT, "exp": NOW + 300,
                            "iat": NOW - 5, "nonce": NONCE, "email": "a@school.example",
                            "email_verified": True}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, key: Any = RSA_KEY,
              alg: str = "RS256") -> str:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(h)}.{b64(p)}".encode()
    signature = jwt.get_algorithm_by_name(alg).sign(signing_input, key) if key else b""
    return f"{signing_input.decode()}.{b64(signature)}"


def good(payload: dict[str, Any] | None = None, **header: Any) -> str:
    return raw_token({"alg": "RS256", "typ": "JWT", "kid": "rsa-1", **header},
                     payload if payload is not None else claims())


def _pem_public() -> bytes:
    return RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _hmac_confusion(secret: bytes) -> str:
    return raw_token({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), secret, "HS256")


def _zero_es256() -> str:
    t = raw_token({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}, claims(), EC_KEY, "ES256")
    return t.rsplit(".", 1)[0] + "." + b64(b"\0" * 64)


def _altered_payload() -> str:
    head, _, sig = good().split(".")
    return f"{head}.{b64(json.dumps(claims(sub='teacher-1')).encode())}.{sig}"


def _attacker_jwk_header() -> str:
    return raw_token({"alg": "RS256", "kid": "evil", "jwk": _jwk(ATTACKER_KEY, "evil", "RS256")},
                     claims(), ATTACKER_KEY)


# (case id, token builder, expected reason). Each row is an attack from B.1.
CASES: list[tuple[str, Any, str]] = [
    *[(f"alg-{v}", lambda v=v: raw_token({"alg": v, "kid": "rsa-1"}, claims(), None) + "sig",
       "bad_algorithm") for v in ("none", "None", "NONE", "nOnE")],
    *[(f"alg-{v}-trailing-dot", lambda v=v: raw_token({"alg": v}, claims(), None), "malformed")
      for v in ("none", "NONE")],
    ("stripped-signature", lambda: good().rsplit(".", 1)[0] + ".", "malformed"),
    ("broken-signature", _altered_payload, "bad_signature"),
    ("hs256-with-rsa-public-pem", lambda: _hmac_confusion(_pem_public()), "bad_algorithm"),
    ("hs256-with-rsa-public-jwk",
     lambda: _hmac_confusion(json.dumps(_jwk(RSA_KEY, "rsa-1", "RS256")).encode()),
     "bad_algorithm"),
    ("embedded-jwk", _attacker_jwk_header, "bad_header"),
    ("jku", lambda: "JKU", "bad_header"),
    ("x5u", lambda: "X5U", "bad_header"),
    ("x5c-self-signed", lambda: good(x5c=["MIIBszCCAVmgAwIBAgIUQ"]), "bad_header"),
    *[(f"kid-{name}", lambda kid=kid: good(kid=kid), reason) for name, kid, reason in (
        ("empty", "", "bad_header"), ("traversal", "../../../../dev/null", "unknown_key"),
        ("dev-null", "/dev/null", "unknown_key"), ("invalid-path", "/invalid_path", "unknown_key"),
        ("sql", "' UNION SELECT '1", "unknown_key"), ("shell", ";sleep 10", "unknown_key"),
        ("very-long", "k" * 5000, "bad_header"), ("non-string", 7, "bad_header"),
        ("object", {"$ne": ""}, "bad_header"))],
    ("exp-past", lambda: good(claims(exp=NOW - 31)), "expired"),
    ("exp-missing", lambda: good(claims(exp=_DROP)), "missing_claim"),
    ("exp-not-numeric", lambda: good(claims(exp="tomorrow")), "malformed"),
    ("exp-numeric-string", lambda: good(claims(exp=str(int(NOW + 300)))), "malformed"),
    ("nbf-future", lambda: good(claims(nbf=NOW + 120)), "not_yet_valid"),
    ("iat-future", lambda: good(claims(iat=NOW + 120)), "issued_in_future"),
    ("iat-missing", lambda: good(claims(iat=_DROP)), "missing_claim"),
    ("iat-too-old", lambda: good(claims(iat=NOW - 3600)), "too_old"),
    ("iss-wrong", lambda: good(claims(iss="https://evil.example")), "bad_issuer"),
    ("iss-prefix", lambda: good(claims(iss=ISSUER[:-5])), "bad_issuer"),
    ("iss-longer", lambda: good(claims(iss=ISSUER + "x")), "bad_issuer"),
    ("iss-not-string", lambda: good(claims(iss=[ISSUER])), "bad_issuer"),
    ("iss-missing", lambda: good(claims(iss=_DROP)), "bad_issuer"),
    ("aud-wrong", lambda: good(claims(aud="someone-else")), "bad_audience"),
    ("aud-extra-untrusted", lambda: good(claims(aud=[CLIENT, "evil-app"], azp=CLIENT)),
     "bad_audience"),
    ("aud-missing", lambda: good(claims(aud=_DROP)), "bad_audience"),
    ("aud-substring", lambda: good(claims(aud=CLIENT + "-x")), "bad_audience"),
    ("azp-other", lambda: good(claims(azp="evil-app")), "bad_azp"),
    ("nonce-missing", lambda: good(claims(nonce=_DROP)), "bad_nonce"),
    ("nonce-mismatch", lambda: good(claims(nonce="other")), "bad_nonce"),
    ("crit-unknown", lambda: good(crit=["exp-extension"]), "bad_header"),
    ("access-token-typ", lambda: good(typ="at+jwt"), "bad_header"),
    ("own-jitsi-jwt", lambda: raw_token({"alg": "HS256", "typ": "JWT"},
                                        claims(iss="privacy-gateway", aud="jitsi"),
                                        secrets.token_bytes(32), "HS256"), "bad_algorithm"),
    ("foreign-key", lambda: raw_token({"alg": "RS256", "kid": "rsa-1"}, claims(), ATTACKER_KEY),
     "bad_signature"),
    ("duplicate-header-alg", lambda: raw_token(b'{"alg":"RS256","alg":"none","kid":"rsa-1"}',
                                               claims()), "malformed"),
    ("duplicate-claim", lambda: raw_token({"alg": "RS256", "kid": "rsa-1"},
                                          json.dumps(claims()).encode()[:-1]
                                          + b',"sub":"teacher-1"}'), "malformed"),
    ("header-not-utf8", lambda: raw_token(b'{"alg":"RS256","x":"\xff"}', claims()), "malformed"),
    ("header-not-object", lambda: raw_token(b'["RS256"]', claims()), "malformed"),
    ("four-segments", lambda: good() + ".garbage", "malformed"),
    ("padding", lambda: good().replace(".", "=.", 1), "malformed"),
    ("non-canonical-base64", lambda: good().split(".")[0][:-1] + "." + good().split(".", 1)[1],
     "malformed"),
    ("oversized", lambda: good(claims(pad="x" * 100_000)), "oversized"),
    ("huge-aud", lambda: good(claims(aud=[CLIENT] + [f"a{i}" for i in range(2000)])),
     "oversized"),
    ("es256-zero-signature", _zero_es256, "bad_signature"),
    ("empty", lambda: "", "malformed"),
    ("not-a-jwt", lambda: "hello world", "malformed"),
]


def _materialise(case: str, build: Any, servers: Servers) -> str:
    if case == "jku":
        return raw_token({"alg": "RS256", "kid": "evil", "jku": servers.attacker_url}, claims(),
                         ATTACKER_KEY)
    if case == "x5u":
        return raw_token({"alg": "RS256", "kid": "evil", "x5u": servers.attacker_url}, claims(),
                         ATTACKER_KEY)
    return str(build())


@pytest.mark.parametrize(("case", "build", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_attack_is_refused_with_its_reason(case: str, build: Any, reason: str,
                                                 servers: Servers,
                                                 http: aiohttp.ClientSession) -> None:
    jwks = cache(http, servers, ManualClock(NOW))
    token = _materialise(case, build, servers)
    with pytest.raises(TokenRejected) as refused:
        await validate_id_token(token, jwks, expectation())
    assert refused.value.reason == reason
    assert servers.attacker_hits == []  # no request to a URL named in a token (SSRF)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_valid_tokens_pass(alg: str, servers: Servers, http: aiohttp.ClientSession) -> None:
    jwks = cache(http, servers, ManualClock(NOW))
    key, kid = (RSA_KEY, "rsa-1") if alg == "RS256" else (EC_KEY, "ec-1")
    token = raw_token({"alg": alg, "typ": "JWT", "kid": kid}, claims(), key, alg)
    result = await validate_id_token(token, jwks, expectation())
    assert result["sub"] == "pupil-1"


async def test_leeway_is_applied_but_bounded(servers: Servers,
                                             http: aiohttp.ClientSession) -> None:
    jwks = cache(http, servers, ManualClock(NOW))
    await validate_id_token(good(claims(exp=NOW - 10)), jwks, expectation())  # within 30 s
    with pytest.raises(TokenRejected):
        await validate_id_token(good(claims(exp=NOW - 30)), jwks, expectation())


async def test_multiple_audiences_need_azp(servers: Servers,
                                           http: aiohttp.ClientSession) -> None:
    """OIDC Core 3.1.3.7 items 4-5: a trusted second audience still needs azp."""
    jwks = cache(http, servers, ManualClock(NOW))
    token = good(claims(aud=[CLIENT, "school-portal"]))
    with pytest.raises(TokenRejected) as refused:
        await validate_id_token(token, jwks, expectation(trusted=("school-portal",)))
    assert refused.value.reason == "bad_azp"
    token = good(claims(aud=[CLIENT, "school-portal"], azp=CLIENT))
    await validate_id_token(token, jwks, expectation(trusted=("school-portal",)))


async def test_unknown_kid_flood_costs_one_refetch(servers: Servers,
                                                   http: aiohttp.ClientSession) -> None:
    """B.1 #6: random kids do not amplify into JWKS fetches."""
    clock = ManualClock(NOW)
    jwks = cache(http, servers, clock, cooldown=30)
    await validate_id_token(good(), jwks, expectation())
    assert len(servers.jwks_hits) == 1
    for _ in range(200):  # within the cooldown of the first fetch: no fetch at all
        with pytest.raises(TokenRejected) as refused:
            await validate_id_token(good(kid=secrets.token_hex(8)), jwks, expectation())
        assert refused.value.reason == "unknown_key"
    assert len(servers.jwks_hits) == 1
    clock.advance(31)
    for _ in range(200):  # after it: one refetch for the whole flood
        with pytest.raises(TokenRejected) as refused:
            await validate_id_token(good(kid=secrets.token_hex(8)), jwks,
                                    expectation(now=clock.now))
        assert refused.value.reason == "unknown_key"
    assert len(servers.jwks_hits) == 2
    await validate_id_token(good(claims(iat=clock.now)), jwks, expectation(now=clock.now))


async def test_concurrent_misses_share_one_fetch(servers: Servers,
                                                 http: aiohttp.ClientSession) -> None:
    import asyncio

    jwks = cache(http, servers, ManualClock(NOW))
    results = await asyncio.gather(*(validate_id_token(good(), jwks, expectation())
                                     for _ in range(50)))
    assert len(results) == 50
    assert len(servers.jwks_hits) == 1


async def test_malformed_jwk_is_skipped_not_fatal(servers: Servers,
                                                  http: aiohttp.ClientSession) -> None:
    """B.1 #18: a bad RSA n/e in the IdP's JWKS does not break the other keys."""
    servers.keys.insert(0, {"kty": "RSA", "kid": "bad-e", "n": "AQAB", "e": "@@"})
    servers.keys.insert(0, {"kty": "oct", "kid": "hmac", "k": b64(b"secret" * 8)})
    jwks = cache(http, servers, ManualClock(NOW))
    await validate_id_token(good(), jwks, expectation())
    with pytest.raises(TokenRejected) as refused:
        await validate_id_token(raw_token({"alg": "HS256", "kid": "hmac"}, claims(),
                                          b"secret" * 8, "HS256"), jwks, expectation())
    assert refused.value.reason == "bad_algorithm"


async def test_jwks_cold_start_with_idp_down_refuses(servers: Servers,
                                                     http: aiohttp.ClientSession) -> None:
    servers.down = True
    jwks = cache(http, servers, ManualClock(NOW))
    with pytest.raises(TokenRejected) as refused:
        await validate_id_token(good(), jwks, expectation())
    assert refused.value.reason == "jwks_unavailable"


async def test_warm_cache_survives_outage_until_max_stale(servers: Servers,
                                                          http: aiohttp.ClientSession) -> None:
    clock = ManualClock(NOW)
    jwks = cache(http, servers, clock, refresh=600, cooldown=30, max_stale=3600)
    await validate_id_token(good(), jwks, expectation())
    servers.down = True
    for step in (700, 1500, 3000):  # refreshes fail, the last good keys still serve
        clock.now = NOW + step
        token = good(claims(iat=clock.now - 5, exp=clock.now + 300))
        await validate_id_token(token, jwks, expectation(now=clock.now))
    clock.now = NOW + 3601  # past max-stale: fail closed
    token = good(claims(iat=clock.now - 5, exp=clock.now + 300))
    with pytest.raises(TokenRejected) as refused:
        await validate_id_token(token, jwks, expectation(now=clock.now))
    assert refused.value.reason == "jwks_unavailable"
    servers.down = False  # the IdP is back: keys are fetched again
    clock.now += 31
    token = good(claims(iat=clock.now - 5, exp=clock.now + 300))
    await validate_id_token(token, jwks, expectation(now=clock.now))


async def test_rotated_key_is_accepted_after_one_refetch(servers: Servers,
                                                         http: aiohttp.ClientSession) -> None:
    clock = ManualClock(NOW)
    jwks = cache(http, servers, clock)
    await validate_id_token(good(), jwks, expectation())
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    servers.keys = [_jwk(new_key, "rsa-2", "RS256")]
    clock.advance(60)  # rotation happens some time after the last fetch
    token = raw_token({"alg": "RS256", "kid": "rsa-2"}, claims(iat=clock.now - 5), new_key)
    await validate_id_token(token, jwks, expectation(now=clock.now))
    assert len(servers.jwks_hits) == 2
    with pytest.raises(TokenRejected) as refused:  # the old key is gone after rotation
        await validate_id_token(good(claims(iat=clock.now - 5)), jwks,
                                expectation(now=clock.now))
    assert refused.value.reason == "unknown_key"


async def test_jwks_arriving_in_pieces_is_read_whole(http: aiohttp.ClientSession) -> None:
    """A JWKS (or discovery) body that arrives in several TCP pieces is not truncated."""
    import asyncio

    body = json.dumps({"keys": [_jwk(RSA_KEY, "rsa-1", "RS256")],
                       "padding": "x" * 60_000}).encode()

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for start in range(0, len(body), 16_000):
            await response.write(body[start:start + 16_000])
            await asyncio.sleep(0.02)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/jwks", slow)
    server = TestServer(app)
    await server.start_server()
    try:
        jwks = JWKSCache(http, str(server.make_url("/jwks")), ManualClock(NOW),
                         refresh_seconds=600, cooldown_seconds=30, max_stale_seconds=3600)
        claims_ = await validate_id_token(good(), jwks, expectation())
        assert claims_["sub"] == "pupil-1"
    finally:
        await server.close()
