"""ID-token validations per second: the gateway's validator vs bare jwt.decode.

Same token, same key, same run. The gateway's validator does more (shape
checks, duplicate-key JSON, header allow-list, JWKS lookup, every claim), so
the figure to watch is the ratio; target: at least 80% of the bare rate.

    python -m bench.idtoken [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.clock import SystemClock
from gateway.login.idtoken import Expectation, validate_id_token
from gateway.login.jwks import JWKSCache, parse_jwks

ISSUER, CLIENT, NONCE = "https://idp.school.example", "privacy-gateway", "bench-nonce"


def _token(alg: str) -> tuple[str, Any, bytes]:
    if alg == "RS256":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": alg, "use": "sig"})
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "pupil-1", "aud": CLIENT, "iat": now, "exp": now + 3600,
              "nonce": NONCE, "email": "p@school.example", "email_verified": True,
              "groups": ["pupils"], "name": "Pupil"}
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", "typ": "JWT"})
    return token, key.public_key(), json.dumps({"keys": [jwk]}).encode()


def _rate(fn: Any, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            fn()
        count += 100
    return count / (time.perf_counter() - start)


async def _gateway_rate(token: str, jwks_body: bytes, alg: str, seconds: float) -> float:
    cache = JWKSCache(None, "unused", SystemClock(),  # type: ignore[arg-type]
                      refresh_seconds=3600, cooldown_seconds=30, max_stale_seconds=7200)
    cache._keys = parse_jwks(json.loads(jwks_body))  # warm cache, as after a fetch
    cache._fetched_at = time.time()
    exp = Expectation(issuer=ISSUER, client_id=CLIENT, algorithms=("RS256", "ES256"),
                      nonce=NONCE, now=time.time(), leeway=30, max_age=3600)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            await validate_id_token(token, cache, exp)
        count += 100
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(f"{'alg':6} {'bare jwt.decode/s':>18} {'gateway/s':>12} {'ratio':>7}  (target >= 0.80)")
    for alg in ("RS256", "ES256"):
        token, public, body = _token(alg)

        def bare(token: str = token, public: Any = public, alg: str = alg) -> None:
            jwt.decode(token, public, algorithms=[alg], audience=CLIENT, issuer=ISSUER,
                       options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]})

        bare_rate = _rate(bare, args.seconds)
        gw_rate = asyncio.run(_gateway_rate(token, body, alg, args.seconds))
        print(f"{alg:6} {bare_rate:18,.0f} {gw_rate:12,.0f} {gw_rate / bare_rate:7.2f}")


if __name__ == "__main__":
    main()
