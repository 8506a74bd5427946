"""What an LMS may do to recordings and webhooks through the proxy (G14, G16, G20, G21).

The rules are pure and live in gateway.policy.bbb_records; this module gathers
their facts (the registry's rows, the purpose BBB's own metadata carries for a
recording not registered yet) and carries out publish/update/delete on several
servers, reporting honestly what was done where.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from bbb_hooks import xml
from bbb_hooks.backend import MAX_ANSWER, backend_call, read_all
from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.servers import Server
from gateway.policy.bbb import META_PURPOSE
from gateway.policy.bbb_records import (
    RECORD_CALLS,
    RecordCall,
    call_refusal,
    registered_refusal,
    unregistered_refusal,
)
from gateway.policy.model import Policy
from gateway.store.base import Store
from gateway.store.registry import Registry

if TYPE_CHECKING:
    from bbb_hooks.proxy import BBBProxy

# getRecordings lists meta keys lower-cased, without `meta_` (bbb.md §1.4).
PURPOSE_KEY = META_PURPOSE.removeprefix("meta_").lower()


def _record_ids(inbound: ApiRequest) -> list[str]:
    return [r.strip() for r in (inbound.param("recordID") or "").split(",") if r.strip()]


# The purposes BBB's own metadata gives for recordings the registry has not seen yet.
PurposeLookup = Callable[[list[str]], Awaitable[dict[str, str | None]]]


async def check_call(inbound: ApiRequest, policy: Policy, store: Store,
                     lookup: PurposeLookup | None = None) -> None:
    """Raise ApiError when this call would undo the policy; None when it may pass.

    The rules are gateway.policy.bbb_records'; this gathers their facts."""
    call = RecordCall(inbound.call, tuple(k for k, _ in inbound.params), inbound.param("publish"))
    refusal = call_refusal(policy, call)
    if refusal is None and call.call in RECORD_CALLS and call.needs_recordings:
        registry = Registry(store)
        ids = _record_ids(inbound)
        rows = {i: await registry.get(f"bbb:{i}") for i in ids}
        refusal = registered_refusal(policy, call, (r for r in rows.values() if r is not None))
        unregistered = [i for i, row in rows.items() if row is None]
        if refusal is None and call.publishing and unregistered:
            # Not registered yet: the purpose BBB carries decides, by the sweeper's rule.
            declared = await lookup(unregistered) if lookup is not None else {}
            refusal = unregistered_refusal(policy, unregistered, declared)
    if refusal is not None:
        raise ApiError(refusal)


async def declared_purposes(proxy: BBBProxy, ids: list[str]) -> dict[str, str | None]:
    """{recording id: its meta_privacy-purpose or None} for the ids any server lists.

    A server that cannot answer lists nothing: the publish itself then meets it.
    """
    params = (("recordID", ",".join(ids)), ("state", "any"))

    async def listed(server: Server) -> list[Element]:
        async with backend_call(proxy.client(), server, "getRecordings", params) as response:
            root = _parsed(await read_all(response, MAX_ANSWER))
        return root.findall("recordings/recording")

    answers = await asyncio.gather(*(listed(s) for s in proxy.pool.servers),
                                   return_exceptions=True)
    _unexpected(answers)
    purposes: dict[str, str | None] = {}
    for answer in answers:
        for node in answer if isinstance(answer, list) else []:
            record_id = (xml.text(node, "recordID") or "").strip()
            if any(record_id.startswith(i) for i in ids):
                purposes[record_id] = (xml.text(node, f"metadata/{PURPOSE_KEY}")
                                       or "").strip() or None
    return purposes


# -- several servers: find each recording's server, act there, report honestly -------

async def _holding(proxy: BBBProxy, server: Server, ids: list[str]) -> set[str]:
    """The ids of `ids` this server holds (any state); ApiError when it cannot say."""
    params = (("recordID", ",".join(ids)), ("state", "any"))
    async with backend_call(proxy.client(), server, "getRecordings", params) as response:
        root = _parsed(await read_all(response, MAX_ANSWER))
    if not xml.succeeded(root):
        raise ApiError("backendError", "locate_refused")
    listed = {(xml.text(r, "recordID") or "").strip()
              for r in root.findall("recordings/recording")}
    # bbb-web matches a recordID as a prefix of the recording's id.
    return {i for i in ids if any(r.startswith(i) for r in listed)}


async def _act(proxy: BBBProxy, server: Server, inbound: ApiRequest,
               ids: list[str]) -> Element:
    params = tuple((k, ",".join(ids) if k == "recordID" else v) for k, v in inbound.params)
    async with backend_call(proxy.client(), server, inbound.call, params,
                            inbound) as response:
        return _parsed(await read_all(response, MAX_ANSWER))


def _parsed(body: bytes) -> Element:
    try:
        return xml.parse(body)
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None


def _unexpected(results: Sequence[object]) -> None:
    """Only a server's failure (ApiError) is an answer; anything else is a bug: raised."""
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ApiError):
            raise result


async def on_their_servers(proxy: BBBProxy, inbound: ApiRequest) -> bytes:
    """publish/update/deleteRecordings with several servers (G14, G16).

    Each id is first looked up on every server. An id that may sit on a server
    that cannot be reached is never answered notFound: the call is refused
    (backendUnavailable, nothing changed). Otherwise each server is asked for its
    own ids, and SUCCESS comes back only when every one of them succeeded; else
    FAILED names the ids that were not done.
    """
    ids = _record_ids(inbound)
    servers = proxy.pool.servers
    if not ids:
        return xml.to_bytes(await _act(proxy, servers[0], inbound, ids))  # BBB's own error
    # A server that fails or answers garbage cannot say what it holds: "unreachable".
    found = await asyncio.gather(*(_holding(proxy, s, ids) for s in servers),
                                 return_exceptions=True)
    _unexpected(found)
    reached = [(s, f) for s, f in zip(servers, found, strict=True) if isinstance(f, set)]
    located = set().union(*(f for _, f in reached))
    unknown = [i for i in ids if i not in located]
    if len(reached) < len(servers) and unknown:
        raise ApiError("backendUnavailable", "record_server_down",
                       "Not done: these recordings may be on a BigBlueButton server that "
                       f"cannot be reached right now: {', '.join(unknown)}. Nothing was "
                       "changed.")
    if not located:
        return xml.failed("notFound", "We could not find recordings")
    plan = [(s, [i for i in ids if i in f]) for s, f in reached if f]
    answers = await asyncio.gather(*(_act(proxy, s, inbound, own) for s, own in plan),
                                   return_exceptions=True)
    _unexpected(answers)
    failed = [i for (_, own), a in zip(plan, answers, strict=True)
              if not isinstance(a, Element) or not xml.succeeded(a) for i in own]
    if failed:
        done = [i for i in ids if i in located and i not in failed]
        return xml.failed("notDoneEverywhere",
                          f"Not done for: {', '.join(failed)}. Done for: "
                          f"{', '.join(done) or 'none'}.")
    first = next(a for a in answers if isinstance(a, Element))
    return xml.to_bytes(first)
