"""One publication rule for proxy and sweeper (G14): a recording is shown only when
its purpose is a known one that includes distribution; undeclared is not consent."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bbb_hooks.recordings import BBBSource
from bbb_hooks.servers import Server
from gateway.demo.bbb_server import BBBEmulator
from gateway.policy.model import PURPOSES
from gateway.policy.retention import (
    UNDECLARED,
    RegistryRow,
    distributes,
    private_purposes,
    withheld,
)
from gateway.store.registry import Registry
from gateway.web import keys
from tests.bbb.support import Gateway, get_xml
from tests.bbb.test_proxy import failed_key
from tests.support import make_settings


def test_the_rule_over_every_purpose(tmp_path: Path) -> None:
    policy = make_settings(tmp_path).policy
    for purpose in PURPOSES:
        assert distributes(policy, purpose) is policy.purposes[purpose].distribute
    for undeclared in (None, UNDECLARED, "", "lecture ", "something-else"):
        assert not distributes(policy, undeclared)
        assert withheld(undeclared, private_purposes(policy))


async def _listing(emulator: BBBEmulator, http: aiohttp.ClientSession, private: frozenset[str]
                   ) -> None:
    server = Server("bbb1", emulator.url, emulator.secret.encode(), "sha256")
    source = BBBSource(server, http, ["true"], private_purposes=private)
    async for _ in source.listing():
        pass


async def test_proxy_and_sweeper_agree_on_an_undeclared_recording(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    policy = gateway.app[keys.SETTINGS].policy
    undeclared = emulator.add_recording("m-undeclared", meta={})  # no privacy-purpose
    lecture = emulator.add_recording("m-lecture", meta={"privacy-purpose": "lecture"})
    # The sweeper takes the undeclared recording out of view ...
    await _listing(emulator, http, private_purposes(policy))
    assert emulator.recording_state(undeclared) == "unpublished"
    assert emulator.recording_state(lecture) == "published"
    # ... and the proxy will not put it back (the registry holds it as undeclared).
    await Registry(gateway.store).put(RegistryRow(
        platform="bbb", recording_id=undeclared, server="bbb1", meeting_ref=undeclared,
        meeting_type="lesson", purpose=UNDECLARED, created=0.0, retain_until=4e9))
    url = gateway.url("publishRecordings", [("recordID", undeclared), ("publish", "true")])
    assert failed_key(*await get_xml(http, url)) == "notForDistribution"
    assert emulator.recording_state(undeclared) == "unpublished"


@pytest.mark.parametrize("purpose", sorted(PURPOSES))
async def test_a_declared_purpose_is_shown_exactly_when_it_distributes(
        purpose: str, tmp_path: Path, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    policy = make_settings(tmp_path).policy
    rid = emulator.add_recording("m-" + purpose, meta={"privacy-purpose": purpose})
    await _listing(emulator, http, private_purposes(policy))
    shown = emulator.recording_state(rid) == "published"
    assert shown is distributes(policy, purpose)


@pytest.mark.parametrize("meta, allowed", [
    ({}, False),  # undeclared: not consent to distribute (G14)
    ({"privacy-purpose": "exam_evidence"}, False),
    ({"privacy-purpose": "lecture"}, True),
])
async def test_a_recording_not_registered_yet_follows_the_same_rule(
        meta: dict[str, str], allowed: bool, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    rid = emulator.add_recording("m-new", meta=meta, published=False)
    assert await Registry(gateway.store).get(f"bbb:{rid}") is None  # the sweep is to come
    url = gateway.url("publishRecordings", [("recordID", rid), ("publish", "true")])
    _, _, body = await get_xml(http, url)
    if allowed:
        assert "<published>true</published>" in body
        assert emulator.recording_state(rid) == "published"
    else:
        assert failed_key(200, "text/xml", body) == "notForDistribution"
        assert emulator.recording_state(rid) == "unpublished"
