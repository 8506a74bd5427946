"""`/bigbluebutton/api/<call>`: the BBB API, policy applied, re-signed, streamed.

- create: rewritten by gateway.bbb_policy.decide_create, pinned to a server,
  remembered in the store (bbb_hooks.meetings);
- join: answered with a single-use login ticket (bbb_hooks.join);
- getMeetings / getMeetingInfo: attendee lists removed when the policy says so
  (G20); merged over all servers;
- everything else: re-signed with the server's secret and streamed back.
Every refusal is BBB XML (`FAILED` + messageKey) with HTTP 200, as bbb-web
answers; never HTML, never a 500.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import aiohttp
from aiohttp import web

from bbb_hooks import join, xml
from bbb_hooks.backend import backend_call, read_all
from bbb_hooks.checksum import ChecksumError, Verifier
from bbb_hooks.inbound import ApiError, ApiRequest, read_request
from bbb_hooks.meetings import MeetingRecord, meeting_info, password_hash, save_meeting
from bbb_hooks.query import QueryError
from bbb_hooks.record_calls import check_call
from bbb_hooks.servers import Server, ServerPool
from gateway import keys
from gateway.bbb_policy import CreateDecision, UnknownMeetingType, decide_create
from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store import Store

log = logging.getLogger(__name__)

KNOWN_CALLS = frozenset({
    "create", "join", "isMeetingRunning", "end", "getMeetingInfo", "getMeetings",
    "getRecordings", "publishRecordings", "deleteRecordings", "updateRecordings",
    "getRecordingTextTracks", "putRecordingTextTrack", "insertDocument", "sendChatMessage",
    "getSessions", "endPrompt", "getJoinUrl", "hooks/create", "hooks/destroy", "hooks/list",
})
# Calls that carry personal data the gateway must read before passing on.
BUFFERED_CALLS = frozenset({"getMeetings", "getMeetingInfo"})
ATTENDEE = re.compile(rb"<attendee[\s/>]")
# What create needs from BBB's answer (bbb.md §1.4); the rest is passed on untouched.
CREATE_FIELDS = frozenset({"returncode", "messageKey", "internalMeetingID", "createTime",
                           "moderatorPW", "attendeePW"})
STREAM_PREFIX = 1024 * 1024  # answers up to this size are checked whole before sending
MAX_BUFFERED = 32 * 1024 * 1024


@dataclass
class BBBProxy:
    settings: Settings
    verifier: Verifier
    pool: ServerPool
    store: Store
    metrics: Metrics
    clock: Clock
    record_ttl: float
    http: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        assert self.http is not None, "the BBB client session starts with the app"
        return self.http

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
        except (ApiError, QueryError, ChecksumError, web.HTTPRequestEntityTooLarge) as exc:
            key, reason = error_key(exc)
            self.metrics.bbb_calls.labels(call=label, result="refused").inc()
            log.info("bbb api refused", extra={"event": "bbb_refused", "call": label,
                                               "reason": reason})
            return xml_response(xml.failed(key))
        self.metrics.bbb_calls.labels(call=label, result="ok").inc()
        return response

    async def _dispatch(self, request: web.Request, inbound: ApiRequest) -> web.StreamResponse:
        await check_call(inbound, self.settings.policy, self.store)
        if inbound.call == "create":
            return await self._create(inbound)
        if inbound.call == "join":
            return await join.api_join(request, self, inbound)
        server = await self._server_for(inbound)
        if server is None:
            return await self._fan_out(inbound)
        if inbound.call in BUFFERED_CALLS:
            return xml_response(await self._meetings_from(server, inbound))
        return await self._stream(request, server, inbound)

    async def _server_for(self, inbound: ApiRequest) -> Server | None:
        """The one server that can answer this call, or None to ask every server."""
        if len(self.pool.servers) == 1:
            return self.pool.servers[0]
        meeting_id = inbound.param("meetingID")
        if meeting_id and "," not in meeting_id:
            record = await meeting_info(self.store, meeting_id)
            named = self.pool.named(record.server) if record else None
            return named or await self.pool.for_meeting(meeting_id)
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
        server = await self.pool.for_meeting(meeting_id)
        async with backend_call(self.client(), server, "create", decision.params,
                                inbound) as response:
            body = await read_all(response, MAX_BUFFERED)
        try:
            fields = xml.top_fields(body, CREATE_FIELDS)  # checked, passed on as-is
        except xml.BrokenXML:
            raise ApiError("backendError", "broken_xml") from None
        if fields["returncode"].strip() == "SUCCESS":
            await self._remember(meeting_id, server, decision, fields)
        return xml_response(body)

    async def _remember(self, meeting_id: str, server: Server, decision: CreateDecision,
                        fields: dict[str, str]) -> None:
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
        await save_meeting(self.store, record, self.record_ttl)

    # -- meetings lists (attendees stripped, G20) ---------------------------------------
    async def _meetings_from(self, server: Server, inbound: ApiRequest) -> bytes:
        async with backend_call(self.client(), server, inbound.call, inbound.params,
                                inbound) as response:
            body = await read_all(response, MAX_BUFFERED)
        if not self.settings.policy.bbb.strip_attendees or not ATTENDEE.search(body):
            _check(body)
            return body
        root = _parsed(body)
        xml.strip_attendees(root)
        return xml.to_bytes(root)

    async def _fan_out(self, inbound: ApiRequest) -> web.Response:
        """Calls without one meeting: every server asked, lists merged."""
        container = {"getMeetings": "meetings", "getRecordings": "recordings"}.get(inbound.call)
        roots = []
        for server in self.pool.servers:
            async with backend_call(self.client(), server, inbound.call, inbound.params,
                                    inbound) as response:
                roots.append(_parsed(await read_all(response, MAX_BUFFERED)))
        if container is None:
            # Record, hook and meeting-info calls: the first success (or first answer) wins.
            chosen = next((r for r in roots if xml.succeeded(r)), roots[0])
            if inbound.call in BUFFERED_CALLS and self.settings.policy.bbb.strip_attendees:
                xml.strip_attendees(chosen)  # G20, on every path that returns meetings
            return xml_response(xml.to_bytes(chosen))
        merged = xml.merge([r for r in roots if xml.succeeded(r)], container)
        if self.settings.policy.bbb.strip_attendees:
            xml.strip_attendees(merged)
        return xml_response(xml.to_bytes(merged))

    # -- everything else: streamed ------------------------------------------------------
    async def _stream(self, request: web.Request, server: Server,
                      inbound: ApiRequest) -> web.StreamResponse:
        async with backend_call(self.client(), server, inbound.call, inbound.params,
                                inbound) as backend:
            prefix = bytearray()
            async for chunk in backend.content.iter_any():
                prefix += chunk
                if len(prefix) >= STREAM_PREFIX:
                    break
            if backend.content.at_eof():
                _check(bytes(prefix))  # small answers are checked whole (the usual case)
                return xml_response(bytes(prefix))
            response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
            await response.prepare(request)
            await response.write(bytes(prefix))
            async for chunk in backend.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response


def _parsed(body: bytes) -> Element:
    try:
        return xml.parse(body)
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None


def _check(body: bytes) -> None:
    try:
        xml.check(body)
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None


def xml_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=xml.CONTENT_TYPE, charset="utf-8")


def error_key(exc: BaseException) -> tuple[str, str]:
    """(messageKey for the caller, bounded reason for logs)."""
    if isinstance(exc, ApiError):
        return exc.message_key, exc.reason
    if isinstance(exc, QueryError):
        return exc.message_key, exc.message_key
    if isinstance(exc, ChecksumError):
        return "checksumError", exc.reason
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return "requestTooLarge", "too_large"
    if isinstance(exc, web.HTTPException) and exc.status in (404, 405):
        return "unsupportedRequest", f"http_{exc.status}"
    return "internalError", type(exc).__name__


async def render_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """ERROR_RENDERERS entry: whatever escaped a handler still reaches the LMS as BBB XML."""
    key, reason = error_key(exc)
    request.app[keys.METRICS].bbb_calls.labels(call="other", result="error").inc()
    log.warning("bbb api error", extra={"event": "bbb_error", "reason": reason})
    return xml_response(xml.failed(key))
