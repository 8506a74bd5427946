"""The proxy's fast paths give exactly what the slow, obvious code gives, and stay safe.

- `xml.top_fields` (create's answer read in one expat pass) equals ElementTree's
  `find(name).text`, and refuses what `xml.parse` refuses (DTDs, entities).
- `client.query_string` is byte for byte `urlencode` (BBB's checksum covers it).
- `query.parse_query`'s shortcut for unescaped values decodes as before.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbb_hooks import xml
from bbb_hooks.client import query_string
from bbb_hooks.query import QueryError, parse_query

FIELDS = ("returncode", "messageKey", "internalMeetingID", "createTime", "moderatorPW",
          "attendeePW")

ANSWERS = [
    b"<response><returncode>SUCCESS</returncode><meetingID>m</meetingID>"
    b"<internalMeetingID>abc-1</internalMeetingID><attendeePW>ap</attendeePW><moderatorPW/>"
    b"<createTime>1700000000000</createTime><messageKey>duplicateWarning</messageKey>"
    b"</response>",
    b'<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  <returncode> SUCCESS </returncode>'
    b"<createTime>1<b>x</b>2</createTime><x><createTime>9</createTime></x>"
    b"<createTime>3</createTime><attendeePW>a&amp;b&#65;&lt;</attendeePW></response>",
    b"<response><returncode>FAILED</returncode><messageKey>idNotUnique</messageKey></response>",
]


@pytest.mark.parametrize("body", ANSWERS)
def test_top_fields_read_what_elementtree_reads(body: bytes) -> None:
    root = xml.parse(body)
    expected = {name: xml.text(root, name) for name in FIELDS}
    assert xml.top_fields(body, FIELDS) == {k: v for k, v in expected.items() if v is not None}


@pytest.mark.parametrize("attack, body", [
    ("billion_laughs", b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY a "aaaa">'
                       b'<!ENTITY b "&a;&a;&a;">]><response><returncode>SUCCESS</returncode>'
                       b"<createTime>&b;</createTime></response>"),
    ("external_entity", b'<!DOCTYPE response [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                        b"<response><returncode>SUCCESS</returncode><m>&x;</m></response>"),
    ("external_dtd", b'<!DOCTYPE response SYSTEM "http://evil.example/x.dtd">'
                     b"<response><returncode>SUCCESS</returncode></response>"),
    ("undeclared_entity", b"<response><returncode>SUCCESS</returncode><m>&x;</m></response>"),
    ("truncated", b"<response><returncode>SUCCESS</returncode><meet"),
    ("not_a_response", b"<html><returncode>SUCCESS</returncode></html>"),
    ("no_returncode", b"<response><createTime>1</createTime></response>"),
    ("empty", b""),
])
def test_top_fields_refuse_what_parse_refuses(attack: str, body: bytes) -> None:
    with pytest.raises(xml.BrokenXML):
        xml.parse(body)
    with pytest.raises(xml.BrokenXML):
        xml.top_fields(body, FIELDS)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_query_string_is_urlencode_byte_for_byte(params: list[tuple[str, str]]) -> None:
    assert query_string(tuple(params)) == urlencode(params)


def _decoded_the_slow_way(part: str) -> str:
    return unquote_to_bytes(part.replace("+", " ")).decode("utf-8")


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF,
                                      exclude_characters="&"), max_size=20))
def test_parse_query_values_decode_as_before(value: str) -> None:
    try:
        got = parse_query("v=" + value)[0][1]
    except QueryError:
        assert "%" in value  # only a bad escape (or bytes that are not UTF-8) is refused
        return
    assert got == _decoded_the_slow_way(value)
