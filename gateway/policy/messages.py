"""Validation errors in the words of a person editing a TOML file.

pydantic says "Input should be a valid tuple"; a school's admin needs "expected a
list of domains, got a string". Each error type the policy model can raise gets
a plain sentence that says what was expected and what the file has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What the items of a list key are, for "expected a list of ...".
_LIST_ITEMS: Mapping[str, str] = {
    "allowed_email_domains": "domains", "consumer_domains": "domains",
    "allowed_tenants": "tenant ids", "scopes": "scopes", "algorithms": "algorithm names",
    "role_claims": "claim names", "teacher": "claim values", "pupil": "claim values",
    "staff": "claim values", "record_roles": "roles", "may_start": "roles",
    "privacy_officer_emails": "e-mail addresses", "bbb_purge_command": "program arguments",
    "servers": "[[bbb.servers]] blocks", "frontends": "[[bbb.frontends]] blocks",
    "providers": "[[identity.providers]] blocks", "room_rules": "[[jitsi.room_rules]] blocks",
    "checksum_algorithms": "algorithm names", "lecture": "audiences", "feedback": "audiences",
    "exam_evidence": "audiences", "approved_exception": "audiences",
}


def describe(value: Any) -> str:
    """What the file holds, as TOML would call it."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "nothing" if value is None else type(value).__name__


# Error types that need only what the file holds: a sentence with {got}.
_SIMPLE: Mapping[str, str] = {
    "string_type": "expected text in quotes, got {got}",
    "int_type": "expected a whole number, got {got}",
    "int_parsing": "expected a whole number, got {got}",
    "int_from_float": "expected a whole number, got {got}",
    "float_type": "expected a number, got {got}",
    "float_parsing": "expected a number, got {got}",
    "bool_type": "expected true or false, got {got}",
    "bool_parsing": "expected true or false, got {got}",
    "model_type": "expected a table of keys ([section] or {{ key = value }}), got {got}",
    "dict_type": "expected a table of keys ([section] or {{ key = value }}), got {got}",
    "model_attributes_type": "expected a table of keys ([section] or {{ key = value }}), "
                             "got {got}",
    "string_too_short": "must not be empty",
    "missing": "is required but missing",
}


def plain_message(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    got = describe(error.get("input"))
    names = [str(x) for x in error.get("loc", ()) if isinstance(x, str)]
    if kind in _SIMPLE:
        return _SIMPLE[kind].format(got=got)
    if kind in ("tuple_type", "list_type"):
        items = _LIST_ITEMS.get(names[-1] if names else "", "values")
        return f"expected a list of {items}, got {got}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '?')}, got {got}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}, got {got}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}, got {got}"
    if kind == "string_pattern_mismatch":
        return f"{got} has characters that are not allowed here (allowed: {ctx.get('pattern')})"
    message = str(error.get("msg", "not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
