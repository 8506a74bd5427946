"""`/bigbluebutton/api/<call>`: the BBB API, policy applied, re-signed, streamed.

- create: rewritten by gateway.policy.bbb.decide_create, pinned to a server,
  remembered in the store (bbb_hooks.meetings);
- join: answered with a single-use login ticket (bbb_hooks.join);
- getMeetings / getMeetingInfo: attendee lists removed when the policy says so
  (G20); merged over all servers;
- everything else: re-signed with the server's secret and streamed back.
Every refusal is BBB XML (`FAILED` + messageKey) with HTTP 200, as bbb-web
answers; never HTML, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
from aiohttp import web

from bbb_hooks import join, playback_links, xml
from bbb_hooks.backend import backend_call, fetch_all, oldest_version
from bbb_hooks.checksum import ChecksumError, Verifier
from bbb_hooks.inbound import ApiError, ApiRequest, read_request
from bbb_hooks.meetings import (
    MeetingRecord,
    MeetingWrites,
    meeting_info,
    password_hash,
    save_meeting_name,
)
from bbb_hooks.query import QueryError
from bbb_hooks.record_calls import (
    check_call,
    declared_purposes,
    on_their_servers,
)
from bbb_hooks.servers import Server, ServerPool
from bbb_hooks.upstream import Upstream
from bbb_hooks.xml_scan import check_scan
from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.metrics import Metrics
from gateway.policy.bbb import CreateDecision, UnknownMeetingType, decide_create
from gateway.policy.bbb_client_settings import BadClientSettings, decide_client_settings
from gateway.policy.bbb_records import RECORD_CALLS
from gateway.store.base import Store
from gateway.store.errors import StoreUnavailable
from gateway.web import keys

log = logging.getLogger(__name__)

KNOWN_CALLS = frozenset({
    "create", "join", "isMeetingRunning", "end", "getMeetingInfo", "getMeetings",
    "getRecordings", "publishRecordings", "deleteRecordings", "updateRecordings",
    "getRecordingTextTracks", "putRecordingTextTrack", "insertDocument", "sendChatMessage",
    "getSessions", "endPrompt", "getJoinUrl", "hooks/create", "hooks/destroy", "hooks/list",
})
# Calls carried out on every server at once: success only when every server succeeded.
EVERY_SERVER_CALLS = frozenset({"hooks/create"})
# Calls that carry personal data the gateway must read before passing on.
# getRecordings' playback URLs are replaced (bbb_hooks/playback_links.py), so it is never
# streamed.
BUFFERED_CALLS = frozenset({"getMeetings", "getMeetingInfo", "getRecordings"})
ATTENDEE = re.compile(rb"<attendee[\s/>]")
# What create needs from BBB's answer (bbb.md §1.4); the rest is passed on untouched.
CREATE_FIELDS = frozenset({"returncode", "messageKey", "internalMeetingID", "createTime",
                           "moderatorPW", "attendeePW"})
CLIENT_SETTINGS = "clientSettingsOverride"  # the create module holding client settings
ROOT_CACHE_SECONDS = 60.0
STREAM_PREFIX = 1024 * 1024  # answers up to this size are checked whole before sending


@dataclass
class BBBProxy:
    settings: Settings
    verifier: Verifier
    pool: ServerPool
    store: Store
    metrics: Metrics
    clock: Clock
    record_ttl: float
    http: aiohttp.ClientSession  # our own, for BBB (bbb_hooks.app._proxy_ctx)
    # kept-alive plain GETs read whole (the hot path; bbb_hooks.upstream); None: all on http
    upstream: Upstream | None = None
    # (when asked, the oldest backend bbbVersion: "" none said, None none answered)
    _root: tuple[float, str | None] | None = None
    _writes: MeetingWrites | None = None  # creates' records, stored together (meetings.py)
    _counters: dict[tuple[str, str], Any] = field(default_factory=dict)

    def client(self) -> aiohttp.ClientSession:
        return self.http

    def _counted(self, call: str, result: str) -> Any:
        """The bbb_calls counter for (call, result); label children cached (hot path)."""
        key = (call, result)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self.metrics.bbb_calls.labels(call=call,
                                                                        result=result)
        return child

    # -- the API root ----------------------------------------------------------------
    async def api_root(self, request: web.Request) -> web.Response:
        """BBB's root answer with the backends' `bbbVersion` (the oldest, which every
        server supports), asked at most once a minute: the root needs no checksum."""
        now = self.clock.time()
        if self._root is None or not 0 <= now - self._root[0] < ROOT_CACHE_SECONDS:
            self._root = (now, await oldest_version(self.client(), self.pool.servers))
        version = self._root[1]
        if version is None:
            return xml_response(xml.failed("backendUnavailable"))
        fields = [("version", "2.0"), ("apiVersion", "2.0")]
        if version:  # a BBB before 2.5 says no bbbVersion; neither do we then
            fields.append(("bbbVersion", version))
        return xml_response(xml.response("SUCCESS", fields))

    # -- entry point -------------------------------------------------------------------
    async def api(self, request: web.Request) -> web.StreamResponse:
        call = request.match_info.get("call", "")
        label = call if call in KNOWN_CALLS else "other"
        try:
            if call == "hooks/ping":
                return xml_response(xml.response("SUCCESS"))
            inbound = await read_request(request, self.verifier,
                                         self.settings.policy.bbb.max_body_bytes)
            if inbound.call not in KNOWN_CALLS:
                raise ApiError("unsupportedRequest", "unknown_call")
            response = await self._dispatch(request, inbound)
            response = await playback_links.filter_answer(request, inbound.call, response)
        except (ApiError, QueryError, ChecksumError, web.HTTPRequestEntityTooLarge) as exc:
            key, reason, message = error_key(exc)
            self.metrics.bbb_calls.labels(call=label, result="refused").inc()
            log.info("bbb api refused", extra={"event": "bbb_refused", "call": label,
                                               "reason": reason})
            return xml_response(xml.failed(key, message))
        except StreamCut as cut:
            # The headers are out: a second answer would corrupt the HTTP stream, so the
            # connection is cut and the LMS sees a truncated answer, not a wrong one.
            self.metrics.bbb_calls.labels(call=label, result="error").inc()
            log.warning("bbb api answer cut off", extra={"event": "bbb_stream_cut",
                                                         "call": label, "reason": cut.reason})
            return cut.response
        self._counted(label, "ok").inc()
        return response

    async def _dispatch(self, request: web.Request, inbound: ApiRequest) -> web.StreamResponse:
        await check_call(inbound, self.settings.policy, self.store,
                         lambda ids: declared_purposes(self, ids))
        if inbound.call == "create":
            return await self._create(inbound)
        if inbound.call == "join":
            return await join.api_join(request, self, inbound)
        server = await self._server_for(inbound)
        if server is None and inbound.call in RECORD_CALLS:
            return xml_response(await on_their_servers(self, inbound))
        if server is None:
            return await self._fan_out(inbound)
        if inbound.call in BUFFERED_CALLS:
            return xml_response(await self._meetings_from(server, inbound))
        return await self._stream(request, server, inbound)

    async def _server_for(self, inbound: ApiRequest) -> Server | None:
        """The one server that can answer this call, or None to ask every server.

        Read-only: only create pins a meeting (bbb_hooks/servers.py). A meetingID the
        gateway never created is looked up where it would hash to, and nothing is
        written for it.
        """
        if len(self.pool.servers) == 1:
            return self.pool.servers[0]
        meeting_id = inbound.param("meetingID")
        if meeting_id and "," not in meeting_id:
            record = await meeting_info(self.store, meeting_id)
            named = self.pool.named(record.server) if record else None
            return named or await self.pool.lookup(meeting_id)
        return None

    # -- create --------------------------------------------------------------------------
    async def _create(self, inbound: ApiRequest) -> web.Response:
        meeting_id = inbound.param("meetingID")
        if not meeting_id:
            raise ApiError("missingParamMeetingID")
        try:
            decision = decide_create(self.settings.policy, inbound.params)
        except UnknownMeetingType:
            raise ApiError("invalidMeetingType") from None
        for parameter in decision.overrides:
            self.metrics.bbb_create_overrides.labels(parameter=parameter).inc()
        if inbound.body and xml.may_hold_module(inbound.body, CLIENT_SETTINGS):
            inbound = self._client_settings(inbound)
        server = await self.pool.for_meeting(meeting_id)
        body = await fetch_all(self.http, self.upstream, server, "create", decision.params,
                               inbound)
        try:
            fields = xml.top_fields(body, CREATE_FIELDS)  # checked, passed on as-is
        except xml.BrokenXML:
            raise ApiError("backendError", "broken_xml") from None
        if fields["returncode"].strip() == "SUCCESS":
            await self._remember(meeting_id, server, decision, fields,
                                 inbound.param("name") or "")
        return xml_response(body)

    def _client_settings(self, inbound: ApiRequest) -> ApiRequest:
        """The create body with its clientSettingsOverride filtered (G4, G5, G21)."""
        dropped = 0

        def rewrite(text: str) -> str:
            nonlocal dropped
            decision = decide_client_settings(text)
            dropped += decision.dropped
            return json.dumps(decision.settings, separators=(",", ":"))

        try:
            body = xml.rewrite_modules(inbound.body, CLIENT_SETTINGS, rewrite)
        except (xml.BrokenXML, BadClientSettings):
            raise ApiError("invalidClientSettings") from None
        if dropped:
            self.metrics.bbb_create_overrides.labels(parameter=CLIENT_SETTINGS).inc()
        return replace(inbound, body=body)

    async def _remember(self, meeting_id: str, server: Server, decision: CreateDecision,
                        fields: dict[str, str], name: str) -> None:
        create_time = fields.get("createTime", "")
        if fields.get("messageKey") == "duplicateWarning":
            # Only a repeated create can find a record already kept (bbb.md §1.4: create
            # is idempotent and says duplicateWarning), so a fresh meeting costs no read.
            existing = await meeting_info(self.store, meeting_id)
            if existing is not None and existing.create_time == create_time:
                return  # a repeated create changes nothing BBB kept
        record = MeetingRecord(
            meeting_id=meeting_id,
            internal_meeting_id=fields.get("internalMeetingID", ""),
            server=server.name, meeting_type=decision.meeting_type, purpose=decision.purpose,
            create_time=create_time,
            policy_version=self.settings.policy.gateway.policy_version,
            record=decision.record, created_at=self.clock.time(),
            moderator_pw_hash=password_hash(fields.get("moderatorPW", "")),
            attendee_pw_hash=password_hash(fields.get("attendeePW", "")),
        )
        if self._writes is None:
            self._writes = MeetingWrites(self.store)
        # The record batched with concurrent creates; the name (the teacher's home page)
        # beside it, kept no longer than the home page's entry.
        await asyncio.gather(self._writes.save(record, self.record_ttl),
                             save_meeting_name(self.store, meeting_id, name))

    # -- meetings lists (attendees stripped, G20) ---------------------------------------
    async def _meetings_from(self, server: Server, inbound: ApiRequest) -> bytes:
        body = await fetch_all(self.http, self.upstream, server, inbound.call, inbound.params,
                               inbound)
        # `in` first: a plain search is ~20 times cheaper than the pattern's.
        if (not self.settings.policy.bbb.strip_attendees or b"<attendee" not in body
                or not ATTENDEE.search(body)):
            _check(body)
            return body
        root = _parsed(body)
        xml.strip_attendees(root)
        return xml.to_bytes(root)

    async def _ask(self, server: Server, inbound: ApiRequest) -> Element:
        return _parsed(await fetch_all(self.http, self.upstream, server, inbound.call,
                                       inbound.params, inbound))

    async def _fan_out(self, inbound: ApiRequest) -> web.Response:
        """Calls without one meeting: every server asked at once, lists merged.

        Honest or nothing (config/bbb/README.md "Several servers"): when a server is
        down or answers an error, the caller gets FAILED (backendUnavailable or
        backendError), never a list that silently leaves that server out and never
        a success that was not had on every server.
        """
        container = {"getMeetings": "meetings", "getRecordings": "recordings"}.get(inbound.call)
        answers = await asyncio.gather(*(self._ask(s, inbound) for s in self.pool.servers),
                                       return_exceptions=True)
        roots: list[Element] = []
        failures: list[ApiError] = []
        for server, answer in zip(self.pool.servers, answers, strict=True):
            if isinstance(answer, ApiError):
                log.warning("bbb server failed", extra={
                    "event": "bbb_server_failed", "call": inbound.call, "server": server.name,
                    "reason": answer.reason})
                failures.append(answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                roots.append(answer)
        if failures:
            raise incomplete(failures, len(self.pool.servers))
        if container is None:
            # Every server answered. hooks/create involves every server: all must say
            # SUCCESS. Other calls name one thing on one server: the first success wins.
            failed = next((r for r in roots if not xml.succeeded(r)), None)
            if inbound.call in EVERY_SERVER_CALLS and failed is not None:
                return xml_response(xml.to_bytes(failed))
            chosen = next((r for r in roots if xml.succeeded(r)), roots[0])
            if inbound.call in BUFFERED_CALLS and self.settings.policy.bbb.strip_attendees:
                xml.strip_attendees(chosen)  # G20, on every path that returns meetings
            return xml_response(xml.to_bytes(chosen))
        refused = next((r for r in roots if not xml.succeeded(r)), None)
        if refused is not None:  # one server's FAILED is the whole list's
            return xml_response(xml.to_bytes(refused))
        merged = xml.merge(roots, container)
        if self.settings.policy.bbb.strip_attendees:
            xml.strip_attendees(merged)
        return xml_response(xml.to_bytes(merged))

    # -- everything else: streamed ------------------------------------------------------
    async def _stream(self, request: web.Request, server: Server,
                      inbound: ApiRequest) -> web.StreamResponse:
        async with backend_call(self.client(), server, inbound.call, inbound.params,
                                inbound) as backend:
            chunks = _backend_chunks(backend)
            prefix = bytearray()
            async for chunk in chunks:  # ApiError here still reaches the LMS as XML
                prefix += chunk
                if len(prefix) >= STREAM_PREFIX:
                    break
            if backend.content.at_eof():
                _check(bytes(prefix))  # small answers are checked whole (the usual case)
                return xml_response(bytes(prefix))
            response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
            await response.prepare(request)
            try:
                await response.write(bytes(prefix))
                async for chunk in chunks:
                    await response.write(chunk)
                await response.write_eof()
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                # _backend_chunks names every backend failure ApiError; the rest is the
                # LMS going away while we wrote to it.
                reason = exc.reason if isinstance(exc, ApiError) else "client_gone"
                if request.transport is not None:
                    request.transport.abort()
                raise StreamCut(response, reason) from None
            return response


def incomplete(failures: list[ApiError], servers: int) -> ApiError:
    """FAILED for a call that could not be had on every server (no partial lists)."""
    key = ("backendUnavailable" if any(f.message_key == "backendUnavailable" for f in failures)
           else "backendError")
    return ApiError(key, failures[0].reason,
                    f"{len(failures)} of {servers} BigBlueButton servers did not answer "
                    "properly; the answer would be incomplete, so none is given.")


class StreamCut(Exception):
    """A streamed answer broke after its headers went out; the connection was cut."""

    def __init__(self, response: web.StreamResponse, reason: str) -> None:
        super().__init__(reason)
        self.response, self.reason = response, reason


async def _backend_chunks(backend: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The backend's answer in pieces; a read that fails is ApiError backendUnavailable."""
    try:
        async for chunk in backend.content.iter_chunked(64 * 1024):
            yield chunk
    except (TimeoutError, aiohttp.ClientError, OSError):
        raise ApiError("backendUnavailable", "backend_lost") from None


def _parsed(body: bytes) -> Element:
    try:
        return xml.parse(body)
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None


def _check(body: bytes) -> None:
    try:
        check_scan(body)  # a scan, not a parse: bbb_hooks/xml_scan.py
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None


def xml_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=xml.CONTENT_TYPE, charset="utf-8")


def error_key(exc: BaseException) -> tuple[str, str, str | None]:
    """(messageKey for the caller, bounded reason for logs, specific message or None).

    A specific message (which parameter is doubled, what is wrong with the form)
    reaches the LMS; None means BBB's standard text for the key (xml.MESSAGES).
    """
    if isinstance(exc, ApiError):
        return exc.message_key, exc.reason, exc.message
    if isinstance(exc, QueryError):
        return exc.message_key, exc.message_key, exc.message
    if isinstance(exc, StoreUnavailable):
        return ("storeUnavailable", exc.reason,
                "The gateway cannot reach its store right now. Try again shortly.")
    if isinstance(exc, ChecksumError):
        return "checksumError", exc.reason, None  # the caller learns nothing more
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return "requestTooLarge", "too_large", None
    if isinstance(exc, web.HTTPException) and exc.status in (404, 405):
        return "unsupportedRequest", f"http_{exc.status}", None
    return "internalError", type(exc).__name__, None


async def render_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """ERROR_RENDERERS entry: whatever escaped a handler still reaches the LMS as BBB XML."""
    key, reason, message = error_key(exc)
    request.app[keys.METRICS].bbb_calls.labels(call="other", result="error").inc()
    log.warning("bbb api error", extra={"event": "bbb_error", "reason": reason})
    return xml_response(xml.failed(key, message))
