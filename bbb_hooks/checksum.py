"""BBB API checksums: signing, verification and the exact strings bbb-web signs.

`checksum = hex(HASH(call + query_without_checksum + secret))` (bbb.md §1.1).
The algorithm is chosen by the hex length of the checksum; only algorithms on
the policy's allow-list are accepted (style_security.md B.5: SHA-1 off unless an
admin enables it for an old LMS). Comparison is constant-time and runs over
every front-end secret so timing does not tell which LMS matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

ALGORITHM_BY_LENGTH = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
_HEX = frozenset("0123456789abcdefABCDEF")


class ChecksumError(Exception):
    """The caller's checksum is missing, malformed, of a refused algorithm or wrong.

    `reason` is a bounded label for logs and metrics; BBB callers always see
    `checksumError` (the caller learns nothing about which check failed).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(call: str, query: str, secret: bytes, algorithm: str) -> str:
    """The lower-case hex checksum of exactly these bytes."""
    digest = hashlib.new(algorithm)
    digest.update(call.encode() + query.encode() + secret)
    return digest.hexdigest()


def java_urlencode(value: str) -> str:
    """Java's `URLEncoder.encode(value, UTF-8)`: space is `+`, only `*-_.` stay bare.

    `quote_plus` also leaves `~` alone where Java writes `%7E`.
    """
    return quote_plus(value, safe="*").replace("~", "%7E")


def canonical_form(params: Iterable[tuple[str, str]]) -> str:
    """bbb-web's query string for a form POST with an empty URL query (bbb.md §1.1).

    Keys sorted (a TreeSet), `checksum` skipped, multi-valued keys repeated in
    the order received, values Java-URL-encoded.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        if key != "checksum":
            grouped.setdefault(key, []).append(value)
    return "&".join(
        f"{key}={java_urlencode(value)}" for key in sorted(grouped) for value in grouped[key]
    )


def strip_checksum(raw_query: str, checksum: str) -> str:
    """Remove the checksum the way bbb-web does: literal string replacement.

    GetChecksum.java replaces `&checksum=v`, then `checksum=v&`, then `checksum=v`.
    """
    out = raw_query.replace("&checksum=" + checksum, "")
    out = out.replace("checksum=" + checksum + "&", "")
    return out.replace("checksum=" + checksum, "")


def algorithm_for(checksum: str) -> str:
    algorithm = ALGORITHM_BY_LENGTH.get(len(checksum))
    if algorithm is None or not set(checksum) <= _HEX:
        raise ChecksumError("malformed")
    return algorithm


@dataclass(frozen=True, slots=True)
class FrontendSecret:
    """One LMS (or one generation of its secret during rotation)."""

    name: str
    secret: bytes


class Verifier:
    """Checks inbound checksums against every front-end secret in constant time."""

    def __init__(self, frontends: Sequence[FrontendSecret], allowed: Iterable[str]) -> None:
        if not frontends:
            raise ValueError("at least one front-end secret is needed")
        self._frontends = tuple(frontends)
        self._allowed = frozenset(allowed)

    def verify(self, call: str, signed: str, checksum: str | None) -> str:
        """The name of the front end whose secret signed `signed`, or ChecksumError."""
        if not checksum:
            raise ChecksumError("missing")
        algorithm = algorithm_for(checksum)
        if algorithm not in self._allowed:
            raise ChecksumError("algorithm_refused")
        given = checksum.lower().encode()
        matched: str | None = None
        for frontend in self._frontends:
            expected = sign(call, signed, frontend.secret, algorithm).encode()
            # Every secret is tried, even after a match: constant work per request.
            if hmac.compare_digest(expected, given) and matched is None:
                matched = frontend.name
        if matched is None:
            raise ChecksumError("mismatch")
        return matched
