"""Checksums exactly as bbb-web computes them (bbb.md §1.1, style_security.md B.5)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbb_hooks.checksum import (
    ChecksumError,
    FrontendSecret,
    Verifier,
    canonical_form,
    java_urlencode,
    sign,
    strip_checksum,
)
from bbb_hooks.query import QueryError, parse_query

DOC_SECRET = b"639259d4-9dd8-4b25-bf01-95f9567eaf4b"
DOC_QUERY = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
SECRET = b"s" * 48
STRONG = ("sha256", "sha384", "sha512")


def test_the_api_docs_worked_example_gives_the_documented_checksum() -> None:
    assert sign("create", DOC_QUERY, DOC_SECRET, "sha1") == (
        "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17")


@pytest.mark.parametrize("raw, expected", [
    ("a=1&checksum=X", "a=1"),
    ("checksum=X&a=1", "a=1"),
    ("a=1&checksum=X&b=2", "a=1&b=2"),
    ("checksum=X", ""),
])
def test_checksum_may_sit_anywhere_in_the_query(raw: str, expected: str) -> None:
    assert strip_checksum(raw, "X") == expected


@pytest.mark.parametrize("value, java", [
    ("a b", "a+b"), ("*-_.", "*-_."), ("~", "%7E"), ("é", "%C3%A9"),
    ("a/b?c=d&e", "a%2Fb%3Fc%3Dd%26e"),
])
def test_form_values_are_encoded_like_java_urlencoder(value: str, java: str) -> None:
    assert java_urlencode(value) == java


def test_canonical_form_sorts_keys_repeats_values_and_skips_the_checksum() -> None:
    params = [("name", "Les 1"), ("checksum", "x"), ("meetingID", "m"), ("b", "2"), ("b", "1")]
    assert canonical_form(params) == "b=2&b=1&meetingID=m&name=Les+1"


def _verifier(*secrets: bytes, allowed: tuple[str, ...] = STRONG) -> Verifier:
    return Verifier([FrontendSecret(f"lms{i}", s) for i, s in enumerate(secrets)], allowed)


@pytest.mark.parametrize("algorithm", STRONG)
def test_each_allowed_algorithm_is_chosen_by_length(algorithm: str) -> None:
    checksum = sign("getMeetings", "", SECRET, algorithm)
    assert _verifier(SECRET).verify("getMeetings", "", checksum) == "lms0"


def test_upper_case_hex_is_accepted_as_bbb_does() -> None:
    checksum = sign("getMeetings", "", SECRET, "sha256").upper()
    assert _verifier(SECRET).verify("getMeetings", "", checksum) == "lms0"


def test_secret_rotation_accepts_old_and_new_secret_and_names_the_frontend() -> None:
    old, new = b"o" * 40, b"n" * 40
    verifier = _verifier(old, new)
    query = "meetingID=m"
    assert verifier.verify("end", query, sign("end", query, new, "sha512")) == "lms1"
    assert verifier.verify("end", query, sign("end", query, old, "sha256")) == "lms0"


@pytest.mark.parametrize("name, checksum, reason", [
    ("missing", None, "missing"),
    ("sha1_refused_by_default", sign("end", "a=1", SECRET, "sha1"), "algorithm_refused"),
    ("wrong_length_63", "a" * 63, "malformed"),
    ("wrong_length_65", "a" * 65, "malformed"),
    ("md5_length", "a" * 32, "malformed"),
    ("not_hex", "g" * 64, "malformed"),
    ("other_call_signed", sign("create", "a=1", SECRET, "sha256"), "mismatch"),
    ("other_query_signed", sign("end", "a=2", SECRET, "sha256"), "mismatch"),
    ("other_secret", sign("end", "a=1", b"x" * 48, "sha256"), "mismatch"),
])
def test_bad_checksums_are_refused(name: str, checksum: str | None, reason: str) -> None:
    with pytest.raises(ChecksumError) as err:
        _verifier(SECRET).verify("end", "a=1", checksum)
    assert err.value.reason == reason


def test_sha1_is_accepted_only_when_the_policy_enables_it() -> None:
    checksum = sign("end", "a=1", SECRET, "sha1")
    assert _verifier(SECRET, allowed=("sha1", *STRONG)).verify("end", "a=1", checksum) == "lms0"


# -- the query parser --------------------------------------------------------------------

@pytest.mark.parametrize("attack, raw, key", [
    ("duplicate_parameter_pollution", "record=false&record=true", "duplicateParameter"),
    ("duplicate_checksum", "a=1&checksum=x&checksum=y", "duplicateParameter"),
    ("broken_percent_escape", "name=%zz", "malformedQuery"),
    ("truncated_percent_escape", "name=ab%2", "malformedQuery"),
    ("not_utf8", "name=%ff%fe", "malformedQuery"),
    ("empty_name", "=value", "malformedQuery"),
    ("name_with_space", "a+b=1", "malformedQuery"),
    ("name_with_bracket", "a[]=1", "malformedQuery"),
    ("too_many_parameters", "&".join(f"p{i}=1" for i in range(300)), "malformedQuery"),
    ("too_long", "a=" + "x" * 70_000, "requestTooLarge"),
])
def test_malformed_queries_are_refused(attack: str, raw: str, key: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_query(raw)
    assert err.value.message_key == key


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(st.dictionaries(_names, _values, max_size=20))
def test_parser_reads_back_what_urlencode_wrote(params: dict[str, str]) -> None:
    assert dict(parse_query(urlencode(list(params.items())))) == params


@given(st.text(max_size=200))
def test_parser_never_fails_other_than_with_a_query_error(raw: str) -> None:
    try:
        parsed = parse_query(raw)
    except QueryError as err:
        assert err.message_key in ("malformedQuery", "duplicateParameter")
    else:
        names = [k for k, _ in parsed]
        assert len(names) == len(set(names))


@given(st.dictionaries(_names, _values, max_size=10))
def test_parser_agrees_with_the_standard_library_on_valid_queries(params: dict[str, str]) -> None:
    raw = urlencode(list(params.items()))
    assert list(parse_query(raw)) == parse_qsl(raw, keep_blank_values=True)


@given(st.lists(st.tuples(_names, _values), max_size=10))
def test_canonical_form_is_what_bbb_web_signs_for_a_form_post(pairs: list[tuple[str, str]]) -> None:
    body = urlencode(pairs)
    # bbb-web decodes the form, then re-encodes sorted: the signature must survive.
    form = canonical_form(parse_qsl(body, keep_blank_values=True))
    assert canonical_form(parse_qsl(form, keep_blank_values=True)) == form
    checksum = hashlib.sha256(("create" + form).encode() + SECRET).hexdigest()
    assert _verifier(SECRET).verify("create", form, checksum) == "lms0"
