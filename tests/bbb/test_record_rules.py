"""The LMS's recording calls, as pure rules (gateway.policy.bbb_records) and as the
proxy gathers their facts (bbb_hooks/record_calls.py): G12, G14, G20, G21."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.record_calls import check_call
from gateway.clock import ManualClock
from gateway.policy.bbb_records import (
    RecordCall,
    call_refusal,
    registered_refusal,
    unregistered_refusal,
)
from gateway.policy.retention import UNDECLARED, RegistryRow
from gateway.store.base import MemoryStore
from tests.support import make_settings


def row(purpose: str, holds: frozenset[str] = frozenset()) -> RegistryRow:
    return RegistryRow(platform="bbb", recording_id="r1", server="bbb1", meeting_ref="m",
                       meeting_type="lesson", purpose=purpose, created=0.0, retain_until=4e9,
                       holds=holds)


PUBLISH = RecordCall("publishRecordings", ("recordID", "publish"), "true")
UNPUBLISH = RecordCall("publishRecordings", ("recordID", "publish"), "false")
DELETE = RecordCall("deleteRecordings", ("recordID",), None)


@pytest.mark.parametrize(("call", "rows", "refusal"), [
    (PUBLISH, [row("lecture")], None),
    (PUBLISH, [row("exam_evidence")], "notForDistribution"),  # G14
    (PUBLISH, [row(UNDECLARED)], "notForDistribution"),  # undeclared is not consent
    (PUBLISH, [row("lecture", frozenset({"legal:case-1"}))], "recordingOnHold"),  # G12
    (DELETE, [row("lecture", frozenset({"objection:1"}))], "recordingOnHold"),  # G12
    (DELETE, [row("exam_evidence")], None),
    (UNPUBLISH, [row("exam_evidence")], None),
])
def test_registered_recordings(call: RecordCall, rows: list[RegistryRow], refusal: str | None,
                               tmp_path: Path) -> None:
    assert registered_refusal(make_settings(tmp_path).policy, call, rows) == refusal


@pytest.mark.parametrize(("declared", "refusal"), [
    ({"r1-1700000000000": "lecture"}, None),  # bbb-web matches an id as a prefix
    ({"r1-1700000000000": "exam_evidence"}, "notForDistribution"),
    ({"r1-1700000000000": None}, "notForDistribution"),
    ({}, "notForDistribution"),  # no answer names it: fails closed (G14)
    ({"r2-1700000000000": "lecture"}, "notForDistribution"),  # another recording's purpose
])
def test_unregistered_recordings_fail_closed(declared: dict[str, str | None],
                                             refusal: str | None, tmp_path: Path) -> None:
    assert unregistered_refusal(make_settings(tmp_path).policy, ["r1"], declared) == refusal


@pytest.mark.parametrize(("call", "refusal"), [
    (RecordCall("hooks/create", ("callbackURL",), None), "webhooksNotAllowed"),  # G20, G21
    (RecordCall("updateRecordings", ("recordID", "meta_Privacy-Purpose"), None),
     "privacyMetadataReadOnly"),
    (RecordCall("updateRecordings", ("recordID", "meta_course"), None), None),
])
def test_calls_refused_without_facts(call: RecordCall, refusal: str | None,
                                     tmp_path: Path) -> None:
    assert call_refusal(make_settings(tmp_path).policy, call) == refusal


async def test_a_publish_whose_purpose_nobody_could_tell_is_refused(tmp_path: Path) -> None:
    """Before: an unregistered recording whose purpose lookup came back empty (its server
    did not answer getRecordings) was let through to be published."""
    settings = make_settings(tmp_path)
    clock = ManualClock()
    inbound = ApiRequest(call="publishRecordings", params=(("recordID", "r1"),
                                                           ("publish", "true")),
                         frontend="lms", body=b"", body_type="", form=False)

    async def nobody_answered(ids: list[str]) -> dict[str, str | None]:
        return {}

    with pytest.raises(ApiError) as refused:
        await check_call(inbound, settings.policy, MemoryStore("pgw", clock), nobody_answered)
    assert refused.value.message_key == "notForDistribution"
