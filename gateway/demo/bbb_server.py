"""A BigBlueButton stand-in (aiohttp): bbb-web's API. NOT FOR PRODUCTION.

A stand-in for development and tests only: `privacy-gateway demo` starts it
(only with `gateway.development = true`), and the tests and benchmarks use it
in place of a BBB server. It is never part of a real deployment.

Faithful to bbb-web's wire format, written from reference/bbb.md only and
deliberately independent of bbb_hooks: it has its own checksum code, so a
wrong re-signing by the gateway fails here.

    emu = BBBEmulator(secret="…", root=tmp_path / "var-bigbluebutton")
    await emu.start()                 # emu.url == "http://127.0.0.1:PORT/bigbluebutton"
    rec_id = emu.add_recording("meeting-1", meta={"privacy-purpose": "lecture"})
    emu.requests                      # every request received (RecordedRequest)
    emu.fault = "broken_xml" | "xml_bomb" | "http_500" | "close" | None
    emu.fault = "cut_stream"          # 1.5 MiB of an answer, then the connection drops
    emu.fault = "slow_stream"         # a 16 MiB answer in paced pieces
    emu.gone_on_info = {"m1"}         # listed by getMeetings, notFound for getMeetingInfo
    await emu.stop()

Checksums (bbb.md §1.1): GET uses the raw query string with the checksum
removed by literal replacement; a request with an empty query string (form
POST) uses the canonical form (sorted keys, Java URLEncoder). The hash comes
from the checksum's length and must be in `algorithms`.

Recordings live in a tree shaped like /var/bigbluebutton (bbb.md §6):
`recording/raw/<id>/events.xml`, `published|unpublished|deleted/<format>/<id>/metadata.xml`.
deleteRecordings moves format folders to `deleted/` and leaves raw data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
import shutil
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from aiohttp import web
from aiohttp.test_utils import TestServer

_ALGOS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
_META = re.compile(r"meta_[a-zA-Z][a-zA-Z0-9-]*$")
STATES = ("published", "unpublished", "deleted")


@dataclass
class RecordedRequest:
    method: str
    call: str
    raw_query: str
    params: dict[str, list[str]]
    body: bytes
    content_type: str
    checksum_ok: bool

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@dataclass
class Meeting:
    meeting_id: str
    internal_id: str
    name: str
    create_time: int
    attendee_pw: str
    moderator_pw: str
    params: dict[str, str]
    metadata: dict[str, str]
    body: bytes = b""
    attendees: list[dict[str, str]] = field(default_factory=list)
    running: bool = False
    ended: bool = False


def _el(parent: ET.Element, tag: str, text: object = "") -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = str(text)
    return node


def _xml(root: ET.Element) -> web.Response:
    return web.Response(body=ET.tostring(root, encoding="utf-8"),
                        content_type="text/xml", charset="utf-8")


def _ok(*fields: tuple[str, object]) -> ET.Element:
    root = ET.Element("response")
    _el(root, "returncode", "SUCCESS")
    for tag, value in fields:
        _el(root, tag, value)
    return root


def _failed(key: str, message: str) -> web.Response:
    root = ET.Element("response")
    _el(root, "returncode", "FAILED")
    _el(root, "messageKey", key)
    _el(root, "message", message)
    return _xml(root)


CHAT_MESSAGE_MAX = 500  # sendChatMessage `message` maxLength (bbb.md §5)


def _java_length(text: str) -> int:
    """Java's `String.length()`: UTF-16 code units, so a character beyond U+FFFF is two."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def java_encode(value: str) -> str:
    return quote_plus(value, safe="*").replace("~", "%7E")


class BBBEmulator:
    def __init__(self, secret: str, root: Path, *,
                 algorithms: tuple[str, ...] = ("sha1", "sha256", "sha384", "sha512")) -> None:
        self.secret = secret
        self.root = Path(root)
        self.algorithms = algorithms
        self.requests: list[RecordedRequest] = []
        self.meetings: dict[str, Meeting] = {}
        self.sessions: dict[str, dict[str, str]] = {}  # sessionToken -> join params
        self.fault: str | None = None
        self.gone_on_info: set[str] = set()  # ended between getMeetings and getMeetingInfo
        self.bbb_version = "3.0"  # the API root's <bbbVersion> (bbb-web 2.5+)
        self.chat: list[tuple[str, str]] = []  # (meetingID, message) taken by sendChatMessage
        self.server: TestServer | None = None
        self._runner: web.AppRunner | None = None
        self._base: str | None = None
        for state in STATES:
            (self.root / state).mkdir(parents=True, exist_ok=True)
        (self.root / "recording" / "raw").mkdir(parents=True, exist_ok=True)
        self.app = web.Application(client_max_size=512 * 1024 * 1024)
        self.app.router.add_route("*", "/bigbluebutton/api/{call:.+}", self._api)
        self.app.router.add_get("/bigbluebutton/api", self._version)
        self.app.router.add_get("/html5client/join", self._client)

    # -- lifecycle -----------------------------------------------------------------
    async def start(self, port: int | None = None) -> str:
        self.server = TestServer(self.app, host="127.0.0.1", port=port)
        await self.server.start_server()
        return self.url

    async def serve(self, sock: socket.socket, base: str) -> None:
        """Serve on a socket bound beforehand, known to browsers as `base` (the demo)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._base = base.rstrip("/")

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        if self._base is not None:
            return self._base
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def url(self) -> str:
        """What goes in the gateway's `bbb.servers[].url`."""
        return self.base + "/bigbluebutton"

    def calls(self, call: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.call == call]

    # -- checksum, exactly as bbb-web ----------------------------------------------
    def _signed_string(self, raw_query: str, params: dict[str, list[str]],
                       checksum: str) -> str:
        if raw_query:
            out = raw_query.replace("&checksum=" + checksum, "")
            out = out.replace("checksum=" + checksum + "&", "")
            return out.replace("checksum=" + checksum, "")
        return "&".join(f"{k}={java_encode(v)}" for k in sorted(params) if k != "checksum"
                        for v in params[k])

    def _checksum_ok(self, call: str, raw_query: str, params: dict[str, list[str]]) -> bool:
        checksum = (params.get("checksum") or [""])[0]
        algorithm = _ALGOS.get(len(checksum))
        if algorithm is None or algorithm not in self.algorithms:
            return False
        data = call + self._signed_string(raw_query, params, checksum) + self.secret
        expected = hashlib.new(algorithm, data.encode()).hexdigest()
        return hmac.compare_digest(expected, checksum.lower())

    # -- dispatch ------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.StreamResponse:
        call = request.match_info["call"]
        raw_query = request.rel_url.raw_query_string
        body = await request.read()
        url_params = parse_qsl(raw_query, keep_blank_values=True)
        form = (parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                if request.content_type == "application/x-www-form-urlencoded" else [])
        params: dict[str, list[str]] = {}
        for key, value in url_params + form:
            params.setdefault(key, []).append(value)
        both = {k for k, _ in url_params} & {k for k, _ in form}
        ok = not both and self._checksum_ok(call, raw_query, params)
        self.requests.append(RecordedRequest(request.method, call, raw_query, params, body,
                                             request.content_type, ok))
        if self.fault == "close":
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPInternalServerError()
        if self.fault == "http_500":
            return web.Response(status=500, text="<html>Internal error</html>",
                                content_type="text/html")
        if self.fault == "xml_bomb":
            return web.Response(body=b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY a '
                                     b'"aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                                     b'<response><returncode>SUCCESS</returncode><x>&b;</x>'
                                     b'</response>', content_type="text/xml")
        if self.fault in ("cut_stream", "slow_stream"):
            return await self._stream_fault(request, cut=self.fault == "cut_stream")
        if self.fault == "broken_xml":
            return web.Response(body=b"<response><returncode>SUCCESS</returncode><meet",
                                content_type="text/xml")
        if not ok:
            return _failed("checksumError", "Checksums do not match")
        single = {k: v[0] for k, v in params.items()}
        handler = getattr(self, "_call_" + call.replace("/", "_"), None)
        if handler is None:
            return _failed("unsupportedRequest", "This request is not supported.")
        result: web.StreamResponse = await handler(single, body, request)
        return result

    @staticmethod
    async def _stream_fault(request: web.Request, cut: bool) -> web.StreamResponse:
        """A big streamed answer that breaks off (cut) or comes slowly (slow)."""
        response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
        await response.prepare(request)
        piece = (b"<recording><recordID>" + b"r" * 1000 + b"</recordID></recording>") * 256
        try:
            await response.write(b"<response><returncode>SUCCESS</returncode><recordings>")
            for _ in range(6 if cut else 64):  # 1.5 MiB / 16 MiB
                await response.write(piece)
                if not cut:
                    await asyncio.sleep(0.01)
            if cut:
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(b"</recordings></response>")
            await response.write_eof()
        except ConnectionError:
            pass  # the gateway hung up: nothing more to send
        return response

    async def _version(self, request: web.Request) -> web.Response:
        return _xml(_ok(("version", "2.0"), ("apiVersion", "2.0"),
                        ("bbbVersion", self.bbb_version)))

    # -- meetings ------------------------------------------------------------------
    async def _call_create(self, p: dict[str, str], body: bytes,
                           request: web.Request) -> web.Response:
        meeting_id = p.get("meetingID")
        if not meeting_id:
            return _failed("missingParamMeetingID", "You must specify a meeting ID for the "
                                                    "meeting.")
        meeting = self.meetings.get(meeting_id)
        duplicate = meeting is not None
        if meeting is None:
            created = int(time.time() * 1000)
            internal = hashlib.sha1(meeting_id.encode()).hexdigest() + f"-{created}"
            meta = {k[5:].lower(): v for k, v in p.items() if _META.match(k)}
            meeting = Meeting(meeting_id, internal, p.get("name", meeting_id), created,
                              p.get("attendeePW") or secrets.token_hex(4),
                              p.get("moderatorPW") or secrets.token_hex(4), dict(p), meta,
                              body)
            self.meetings[meeting_id] = meeting
        root = _ok(("meetingID", meeting.meeting_id), ("internalMeetingID", meeting.internal_id),
                   ("parentMeetingID", "bbb-none"), ("attendeePW", meeting.attendee_pw),
                   ("moderatorPW", meeting.moderator_pw), ("createTime", meeting.create_time),
                   ("voiceBridge", "70000"), ("dialNumber", "613-555-1234"),
                   ("createDate", time.ctime(meeting.create_time / 1000)),
                   ("hasUserJoined", "false"), ("duration", "0"),
                   ("hasBeenForciblyEnded", "false"))
        if duplicate:
            _el(root, "messageKey", "duplicateWarning")
            _el(root, "message", "This conference was already in existence and may currently "
                                 "be in progress.")
        return _xml(root)

    def _meeting(self, p: dict[str, str]) -> Meeting | None:
        meeting = self.meetings.get(p.get("meetingID", ""))
        return None if meeting is None or meeting.ended else meeting

    async def _call_join(self, p: dict[str, str], body: bytes,
                         request: web.Request) -> web.Response:
        if not p.get("fullName"):
            return _failed("missingParamFullName", "You must specify a name for the attendee "
                                                   "who will be joining the meeting.")
        meeting = self._meeting(p)
        if meeting is None:
            return _failed("invalidMeetingIdentifier", "The meeting ID that you supplied did "
                                                       "not match any existing meetings")
        if "createTime" in p and p["createTime"] != str(meeting.create_time):
            return _failed("mismatchCreateTimeParam", "The createTime parameter submitted "
                                                      "mismatches with the current meeting.")
        role = p.get("role", "").upper()
        if not role:
            role = {meeting.moderator_pw: "MODERATOR", meeting.attendee_pw: "VIEWER"}.get(
                p.get("password", ""), "")
        if role not in ("MODERATOR", "VIEWER"):
            return _failed("invalidPassword", "The password you submitted is not valid.")
        token = secrets.token_hex(8)
        user_id = "w_" + secrets.token_hex(6)
        self.sessions[token] = {**p, "role": role, "internalUserID": user_id}
        meeting.running = True
        meeting.attendees.append({"userID": p.get("userID", user_id), "fullName": p["fullName"],
                                  "role": role})
        client = f"{self.base}/html5client/join?sessionToken={token}"
        if p.get("redirect", "true").lower() == "false":
            return _xml(_ok(("messageKey", "successfullyJoined"),
                            ("message", "You have joined successfully."),
                            ("meeting_id", meeting.internal_id), ("user_id", user_id),
                            ("auth_token", secrets.token_hex(6)), ("session_token", token),
                            ("url", client)))
        response = web.HTTPFound(client)
        response.set_cookie(self.session_cookie(token), token, path="/", httponly=True)
        raise response

    def session_cookie(self, token: str) -> str:
        """The cookie that holds a join's session: BBB's host-wide `JSESSIONID`."""
        return "JSESSIONID"

    async def _client(self, request: web.Request) -> web.Response:
        """The html5 client: only the browser holding BBB's session cookie gets in."""
        token = request.query.get("sessionToken", "")
        if token not in self.sessions or request.cookies.get(self.session_cookie(token)) != token:
            return web.Response(status=401, text="no session")
        return web.Response(text=f"html5client session {token}")

    def _meeting_xml(self, parent: ET.Element, m: Meeting) -> None:
        _el(parent, "meetingName", m.name)
        for tag, value in (("meetingID", m.meeting_id), ("internalMeetingID", m.internal_id),
                           ("createTime", m.create_time), ("createDate", "x"),
                           ("voiceBridge", "70000"), ("dialNumber", "613-555-1234"),
                           ("attendeePW", m.attendee_pw), ("moderatorPW", m.moderator_pw),
                           ("running", str(m.running).lower()), ("duration", 0),
                           ("hasUserJoined", str(bool(m.attendees)).lower()),
                           ("recording", "false"), ("hasBeenForciblyEnded", "false"),
                           ("startTime", m.create_time), ("endTime", 0),
                           ("participantCount", len(m.attendees)), ("listenerCount", 0),
                           ("voiceParticipantCount", 0), ("videoCount", 0), ("maxUsers", 0),
                           ("moderatorCount",
                            sum(a["role"] == "MODERATOR" for a in m.attendees))):
            _el(parent, tag, value)
        attendees = ET.SubElement(parent, "attendees")
        for a in m.attendees:
            node = ET.SubElement(attendees, "attendee")
            for tag in ("userID", "fullName", "role"):
                _el(node, tag, a[tag])
            for tag in ("isPresenter", "isListeningOnly", "hasJoinedVoice", "hasVideo"):
                _el(node, tag, "false")
            _el(node, "clientType", "HTML5")
        meta = ET.SubElement(parent, "metadata")
        for key, value in m.metadata.items():
            _el(meta, key, value)
        _el(parent, "isBreakout", "false")

    async def _call_getMeetings(self, p: dict[str, str], body: bytes,
                                request: web.Request) -> web.Response:
        root = _ok()
        box = ET.SubElement(root, "meetings")
        for m in self.meetings.values():
            if not m.ended:
                self._meeting_xml(ET.SubElement(box, "meeting"), m)
        if len(box) == 0:  # bbb-web's answer for no meetings
            _el(root, "messageKey", "noMeetings")
            _el(root, "message", "no meetings were found on this server")
        return _xml(root)

    async def _call_getMeetingInfo(self, p: dict[str, str], body: bytes,
                                   request: web.Request) -> web.Response:
        meeting = self._meeting(p)
        if meeting is None or meeting.meeting_id in self.gone_on_info:
            return _failed("notFound", "We could not find a meeting with that meeting ID - "
                                       "perhaps the meeting is not yet running?")
        root = _ok()
        self._meeting_xml(root, meeting)
        return _xml(root)

    async def _call_isMeetingRunning(self, p: dict[str, str], body: bytes,
                                     request: web.Request) -> web.Response:
        meeting = self._meeting(p)
        return _xml(_ok(("running", str(bool(meeting and meeting.running)).lower())))

    async def _call_end(self, p: dict[str, str], body: bytes,
                        request: web.Request) -> web.Response:
        meeting = self._meeting(p)
        if meeting is None:
            return _failed("notFound", "We could not find a meeting with that meeting ID")
        meeting.ended = True
        return _xml(_ok(("messageKey", "sentEndMeetingRequest"),
                        ("message", "A request to end the meeting was sent.")))

    async def _call_insertDocument(self, p: dict[str, str], body: bytes,
                                   request: web.Request) -> web.Response:
        meeting = self._meeting(p)
        if meeting is None:
            return _failed("notFound", "We could not find a meeting with that meeting ID")
        return _xml(_ok(("messageKey", "documentInserted"), ("message", "ok")))

    async def _call_sendChatMessage(self, p: dict[str, str], body: bytes,
                                    request: web.Request) -> web.Response:
        """BBB 3.0 (bbb.md §5, sendChatMessage.tsx): `message` 1 to 500 characters,
        `userName` at most 255; a longer message is refused, never cut. bbb-web is Java:
        lengths are `String.length()`, UTF-16 units (an emoji counts two)."""
        message = p.get("message", "")
        if (not 1 <= _java_length(message) <= CHAT_MESSAGE_MAX
                or _java_length(p.get("userName", "")) > 255):
            return _failed("paramError", "The message must be 1 to 500 characters long.")
        if self._meeting(p) is None:
            return _failed("notFound", "We could not find a meeting with that meeting ID")
        self.chat.append((p["meetingID"], message))
        return _xml(_ok(("messageKey", "chatMessageSent"), ("message", "Chat message sent")))

    # -- recordings ----------------------------------------------------------------
    def add_recording(self, meeting_id: str, *, meta: dict[str, str] | None = None,
                      formats: tuple[str, ...] = ("presentation",), published: bool = True,
                      start_ms: int | None = None, duration_ms: int = 60_000,
                      participants: int = 3, name: str | None = None) -> str:
        """Put a processed recording into the tree; returns its recordID."""
        start = start_ms if start_ms is not None else int(time.time() * 1000) - duration_ms
        record_id = hashlib.sha1(meeting_id.encode()).hexdigest() + f"-{start}"
        raw = self.root / "recording" / "raw" / record_id
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "events.xml").write_text("<recording/>")
        all_meta = {"meetingId": meeting_id, "meetingName": name or meeting_id,
                    "isBreakout": "false", **(meta or {})}
        state = "published" if published else "unpublished"
        for fmt in formats:
            folder = self.root / state / fmt / record_id
            folder.mkdir(parents=True, exist_ok=True)
            rec = ET.Element("recording")
            for tag, value in (("id", record_id), ("state", state),
                               ("published", str(published).lower()), ("start_time", start),
                               ("end_time", start + duration_ms),
                               ("participants", participants)):
                _el(rec, tag, value)
            meta_el = ET.SubElement(rec, "meta")
            for key, value in all_meta.items():
                _el(meta_el, key, value)
            playback = ET.SubElement(rec, "playback")
            _el(playback, "format", fmt)
            # The player URL of each format (bbb.md "Recording playback paths").
            player = "presentation/2.3/" + record_id if fmt == "presentation" else (
                f"{fmt}/{record_id}/")
            _el(playback, "link", f"{self.base}/playback/{player}")
            _el(playback, "processing_time", 1000)
            _el(playback, "duration", duration_ms)
            (folder / "metadata.xml").write_bytes(ET.tostring(rec, encoding="utf-8"))
        return record_id

    def recording_meta(self, record_id: str) -> dict[str, str]:
        """The metadata.xml `<meta>` of a recording (first format found)."""
        for _, _, folder in self._all_recordings():
            if folder.name == record_id:
                meta = ET.fromstring((folder / "metadata.xml").read_bytes()).find("meta")
                return {child.tag: child.text or "" for child in (meta if meta is not None
                                                                   else [])}
        return {}

    def recording_state(self, record_id: str) -> str | None:
        for state in STATES:
            if any((d / record_id).exists() for d in (self.root / state).iterdir()):
                return state
        return None

    def _all_recordings(self) -> list[tuple[str, str, Path]]:
        """(state, format, folder) for every recording format folder."""
        out: list[tuple[str, str, Path]] = []
        for state in STATES:
            for fmt_dir in sorted((self.root / state).iterdir()):
                with contextlib.suppress(FileNotFoundError):  # a purge removing it now
                    out.extend((state, fmt_dir.name, f) for f in sorted(fmt_dir.iterdir()))
        return out

    async def _call_getRecordings(self, p: dict[str, str], body: bytes,
                                  request: web.Request) -> web.Response:
        meeting_ids = {m for m in p.get("meetingID", "").split(",") if m}
        record_ids = [r for r in p.get("recordID", "").split(",") if r]
        states = {s for s in p.get("state", "published,unpublished").split(",") if s}
        meta_filter = {k[5:].lower(): v for k, v in p.items() if k.startswith("meta_")}
        grouped: dict[str, list[tuple[str, str, Path]]] = {}
        for state, fmt, folder in self._all_recordings():
            grouped.setdefault(folder.name, []).append((state, fmt, folder))
        selected = []
        for record_id, entries in grouped.items():
            state, _, folder = entries[0]
            try:
                meta = self._meta(folder)
            except FileNotFoundError:  # removed by bbb-record meanwhile: bbb-web skips it
                continue
            if "any" not in states and state not in states:
                continue
            if meeting_ids and meta.get("meetingId") not in meeting_ids:
                continue
            if record_ids and not any(record_id.startswith(r) for r in record_ids):
                continue
            if any(meta.get(k) != v for k, v in meta_filter.items()):
                continue
            selected.append((record_id, entries))
        offset, limit = int(p.get("offset", "0") or 0), int(p.get("limit", "0") or 0)
        page = selected[offset:offset + limit] if limit else selected[offset:]
        root = _ok()
        box = ET.SubElement(root, "recordings")
        for record_id, entries in page:
            node = ET.SubElement(box, "recording")
            try:
                self._recording_xml(node, record_id, entries)
            except FileNotFoundError:
                box.remove(node)
        if not page:
            _el(root, "messageKey", "noRecordings")
            _el(root, "message", "There are no recordings for the meeting(s).")
        return _xml(root)

    @staticmethod
    def _meta(folder: Path) -> dict[str, str]:
        rec = ET.fromstring((folder / "metadata.xml").read_bytes())
        meta = rec.find("meta")
        return {c.tag: c.text or "" for c in (meta if meta is not None else [])}

    def _recording_xml(self, node: ET.Element, record_id: str,
                       entries: list[tuple[str, str, Path]]) -> None:
        state, _, folder = entries[0]
        rec = ET.fromstring((folder / "metadata.xml").read_bytes())
        meta = self._meta(folder)
        for tag, value in (("recordID", record_id), ("meetingID", meta.get("meetingId", "")),
                           ("internalMeetingID", record_id),
                           ("name", meta.get("meetingName", "")), ("isBreakout", "false"),
                           ("published", str(state == "published").lower()), ("state", state),
                           ("startTime", rec.findtext("start_time", "")),
                           ("endTime", rec.findtext("end_time", "")),
                           ("participants", rec.findtext("participants", ""))):
            _el(node, tag, value)
        meta_el = ET.SubElement(node, "metadata")
        for key, value in meta.items():
            _el(meta_el, key, value)
        playback = ET.SubElement(node, "playback")
        for _, fmt, fmt_folder in entries:
            fmt_rec = ET.fromstring((fmt_folder / "metadata.xml").read_bytes())
            f = ET.SubElement(playback, "format")
            _el(f, "type", fmt)
            _el(f, "url", fmt_rec.findtext("playback/link", ""))
            _el(f, "processingTime", fmt_rec.findtext("playback/processing_time", ""))
            _el(f, "length", int(fmt_rec.findtext("playback/duration", "0")) // 60000)

    def _move(self, record_id: str, target: str, sources: tuple[str, ...]) -> bool:
        moved = False
        for state, fmt, folder in self._all_recordings():
            if folder.name == record_id and state in sources:
                dest = self.root / target / fmt / record_id
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(folder), dest)
                self._set_state(dest, target)
                moved = True
        return moved

    @staticmethod
    def _set_state(folder: Path, state: str) -> None:
        path = folder / "metadata.xml"
        rec = ET.fromstring(path.read_bytes())
        rec.find("state").text = state  # type: ignore[union-attr]
        rec.find("published").text = str(state == "published").lower()  # type: ignore[union-attr]
        path.write_bytes(ET.tostring(rec, encoding="utf-8"))

    def _record_ids(self, p: dict[str, str]) -> list[str] | None:
        ids = [r for r in p.get("recordID", "").split(",") if r]
        return ids or None

    async def _call_deleteRecordings(self, p: dict[str, str], body: bytes,
                                     request: web.Request) -> web.Response:
        ids = self._record_ids(p)
        if ids is None:
            return _failed("missingParamRecordID", "You must specify one or more a record IDs.")
        found = [self._move(r, "deleted", ("published", "unpublished")) for r in ids]
        if not any(found):
            return _failed("notFound", "We could not find recordings")
        return _xml(_ok(("deleted", "true")))

    async def _call_publishRecordings(self, p: dict[str, str], body: bytes,
                                      request: web.Request) -> web.Response:
        ids = self._record_ids(p)
        if ids is None or "publish" not in p:
            return _failed("missingParamRecordID", "You must specify a recordID and publish.")
        publish = p["publish"].lower() == "true"
        target, source = ("published", "unpublished") if publish else ("unpublished",
                                                                        "published")
        found = [self._move(r, target, (source,)) or self.recording_state(r) == target
                 for r in ids]
        if not any(found):
            return _failed("notFound", "We could not find recordings")
        return _xml(_ok(("published", str(publish).lower())))

    async def _call_updateRecordings(self, p: dict[str, str], body: bytes,
                                     request: web.Request) -> web.Response:
        ids = self._record_ids(p)
        if ids is None:
            return _failed("missingParamRecordID", "You must specify one or more a record IDs.")
        updates = {k[5:].lower(): v for k, v in p.items() if _META.match(k)}
        updated = False
        for _, _, folder in self._all_recordings():
            if folder.name in ids:
                path = folder / "metadata.xml"
                rec = ET.fromstring(path.read_bytes())
                meta = rec.find("meta")
                assert meta is not None
                for key, value in updates.items():
                    node = meta.find(key)
                    if node is None:
                        node = ET.SubElement(meta, key)
                    node.text = value
                path.write_bytes(ET.tostring(rec, encoding="utf-8"))
                updated = True
        if not updated:
            return _failed("notFound", "We could not find recordings")
        return _xml(_ok(("updated", "true")))

    async def _call_hooks_create(self, p: dict[str, str], body: bytes,
                                 request: web.Request) -> web.Response:
        return _xml(_ok(("hookID", "1"), ("permanentHook", "false"), ("rawData", "false")))


def snapshot(emulator: BBBEmulator) -> dict[str, Any]:
    """A compact view for assertions and debugging."""
    return {"meetings": list(emulator.meetings), "requests": len(emulator.requests)}
