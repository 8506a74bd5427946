"""A strict parser for BBB API query strings and form bodies.

The checksum covers the raw bytes, so the parser never has to re-encode what
it verifies; it only has to refuse what is ambiguous or malformed: bad
percent-encoding, text that is not UTF-8, odd parameter names, too many
parameters, and the same parameter twice (HTTP parameter pollution: the proxy
and BBB might pick different copies).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

# The longest query the gateway reads (config/bbb/README.md "Sizes"): far above what
# BBB itself takes (8 KiB), so any create an LMS can send BBB directly gets through.
MAX_QUERY_CHARS = 64 * 1024
MAX_PARAMS = 256
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

Params = tuple[tuple[str, str], ...]


class QueryError(Exception):
    """A query string the proxy refuses; `message_key` is what the BBB caller sees."""

    def __init__(self, message_key: str, message: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.message = message


def _decode(part: str) -> str:
    if part.isascii() and "%" not in part and "+" not in part:
        return part  # nothing escaped: the common case, decoded as-is
    if _PERCENT.search(part):
        raise QueryError("malformedQuery", "The query string has a malformed %-escape.")
    try:
        return unquote_to_bytes(part.replace("+", " ")).decode("utf-8")
    except UnicodeError:
        raise QueryError("malformedQuery", "The query string is not UTF-8 text.") from None


def parse_query(raw: str, *, allow_duplicates: frozenset[str] = frozenset()) -> Params:
    """Name/value pairs in the order given; empty segments (`a=1&&b=2`) are skipped."""
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError("requestTooLarge",
                         f"The query string is longer than {MAX_QUERY_CHARS} characters.")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for segment in raw.split("&"):
        if not segment:
            continue
        name_part, _, value_part = segment.partition("=")
        name = _decode(name_part)
        if not _NAME.fullmatch(name):
            raise QueryError("malformedQuery", "A parameter name is not valid.")
        if name in seen and name not in allow_duplicates:
            raise QueryError("duplicateParameter",
                             f"The parameter {name} appears more than once.")
        seen.add(name)
        pairs.append((name, _decode(value_part)))
        if len(pairs) > MAX_PARAMS:
            raise QueryError("malformedQuery", "Too many parameters.")
    return tuple(pairs)


def first(params: Params, name: str) -> str | None:
    return next((v for k, v in params if k == name), None)
