"""The pass-through answer check is a byte scan (bbb_hooks/xml_scan.py), and refuses what
the whole-document parse refused: DTDs and entities, cut-off bodies, non-answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbb_hooks import xml
from bbb_hooks.xml_scan import check_scan
from tests.bbb.test_fast_paths import ANSWERS

GET_MEETINGS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<response><returncode>SUCCESS</returncode>'
    b"<meetings>" + b"".join(
        b"<meeting><meetingName>Les &amp; toets &#233;</meetingName><meetingID>m%d</meetingID>"
        b"<metadata><bbb-origin>Moodle</bbb-origin></metadata></meeting>" % i
        for i in range(20)) + b"</meetings></response>\n")


@pytest.mark.parametrize("body", [*ANSWERS, GET_MEETINGS])
def test_complete_answers_pass(body: bytes) -> None:
    xml.check(body)
    check_scan(body)


@pytest.mark.parametrize("attack, body", [
    ("billion_laughs", b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY a "aaaa">'
                       b'<!ENTITY b "&a;&a;&a;">]><response><returncode>SUCCESS</returncode>'
                       b"<createTime>&b;</createTime></response>"),
    ("external_dtd", b'<!DOCTYPE response SYSTEM "http://evil.example/x.dtd">'
                     b"<response><returncode>SUCCESS</returncode></response>"),
    ("undeclared_entity", b"<response><returncode>SUCCESS</returncode><m>&x;</m></response>"),
    ("bare_ampersand", b"<response><returncode>SUCCESS</returncode><m>a & b</m></response>"),
    ("truncated", b"<response><returncode>SUCCESS</returncode><meet"),
    ("html_page", b"<html><body>502 Bad Gateway</body></html>"),
    ("no_returncode", b"<response><createTime>1</createTime></response>"),
    ("empty", b""),
])
def test_what_the_parse_refused_the_scan_refuses(attack: str, body: bytes) -> None:
    with pytest.raises(xml.BrokenXML):
        xml.check(body)
    with pytest.raises(xml.BrokenXML):
        check_scan(body)


@given(st.integers(min_value=0, max_value=len(GET_MEETINGS) - 2))
def test_every_cut_off_answer_is_refused(cut: int) -> None:
    """A body cut anywhere before its end (a backend dying mid-answer) never passes."""
    body = GET_MEETINGS[:cut]
    if body.rstrip() == GET_MEETINGS.rstrip():
        return  # only trailing whitespace was cut: the answer is whole
    with pytest.raises(xml.BrokenXML):
        check_scan(body)
