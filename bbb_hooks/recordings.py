"""The BBB side of retention (G16): list, delete and purge recordings.

- Listing: `getRecordings` page by page (`offset`/`limit`, BBB 2.6+), `state=any`
  so processing and soft-deleted recordings are seen too; each recording's
  due date comes from the gateway's meta_ keys (gateway.policy.bbb: purpose and
  meeting type) and its start time. Memory stays flat: one page at a time.
- Deletion: `deleteRecordings` (a soft delete: it only moves the formats to
  `deleted/`, bbb.md §6), then the purge agent (`privacy-gateway bbb-purge`,
  bbb_hooks.purge) removes `deleted/<format>/<id>`, `raw/<id>` and the rest as
  `bbb-record --delete` does, then a `getRecordings?recordID=` check that BBB
  no longer knows the recording.

How the sweeper reaches the agent: `retention.bbb_purge_command` in the policy,
an argv list; `{server}` in any element becomes the BBB server's name and the
recording ids of a batch are appended as the last arguments. The default runs the agent
locally against `/var/bigbluebutton` (the gateway on the BBB host, or the
tree mounted); for a separate host use for example
`["ssh", "-i", "/run/secrets/purge_key", "bbb-purge@{server}.school.example"]`
with a key restricted on the BBB host to a forced command that hands only the
ids to `privacy-gateway bbb-purge` (the agent validates every id before it
removes anything).
If the agent cannot run, deletion fails loudly and is retried and alerted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import xml.etree.ElementTree as ET  # element types only; parsing is defused (bbb_hooks.xml)
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace

import aiohttp

from bbb_hooks import client
from bbb_hooks.client import BBBError
from bbb_hooks.purge import RECORD_ID_RE
from bbb_hooks.servers import Server
from bbb_hooks.xml import succeeded, text
from gateway.policy.bbb import META_MEETING_TYPE, META_PURPOSE
from gateway.policy.retention import (
    HOLDS_META,
    MEETING_REF_RE,
    DeclaredRecording,
    RegistryRow,
    format_holds,
    parse_holds,
    withheld,
)
from gateway.retention.sweeper import DeletionFailed, failure_reason

log = logging.getLogger(__name__)

# The purpose recorded for a meeting (by internal meeting id), or None.
DeclaredPurpose = Callable[[str], Awaitable[str | None]]

PAGE_SIZE = 100
PURGE_TIMEOUT_SECONDS = 120.0
MAX_DETAIL_CHARS = 200  # of the purge agent's last error line, for the operator
_PATH_RE = re.compile(r"(?:/[^\s/:'\"]+)+/?")
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# The client's reasons as the sweeper's failure labels (metrics, audit, alerts).
FAILURE_LABELS = {"unavailable": "bbb_unreachable", "timeout": "bbb_timeout",
                  "http_status": "bbb_http", "too_large": "bbb_too_large",
                  "broken_xml": "bbb_bad_xml"}
# getRecordings lists meta keys lower-cased and without the `meta_` prefix (bbb.md §1.4).
PURPOSE_KEY = META_PURPOSE.removeprefix("meta_").lower()
MEETING_TYPE_KEY = META_MEETING_TYPE.removeprefix("meta_").lower()


class BBBRecordings:
    """getRecordings / deleteRecordings on one BBB server."""

    def __init__(self, server: Server, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http

    async def _call(self, call: str, params: Sequence[tuple[str, str]]) -> ET.Element:
        # The one client: a multi-id `recordID=a,b` is sent exactly as signed (%2C kept).
        try:
            return await client.answer(self.http, self.server, call, tuple(params),
                                       MAX_RESPONSE_BYTES)
        except BBBError as exc:
            # A slow or absent BBB is a failed step, retried and alerted, never a crash.
            raise DeletionFailed(FAILURE_LABELS.get(exc.reason, "bbb_failed")) from None

    async def pages(self, page_size: int = PAGE_SIZE) -> AsyncIterator[list[ET.Element]]:
        """Every recording, one page of `<recording>` elements at a time.

        A BBB before 2.6 ignores offset/limit and answers with every recording
        each time: a page larger than asked for, or one that starts with the
        previous page's first recording, ends the listing (never a loop).
        """
        offset = 0
        first_seen: str | None = None
        while True:
            root = await self._call("getRecordings", [("state", "any"),
                                                      ("offset", str(offset)),
                                                      ("limit", str(page_size))])
            if not succeeded(root):
                raise DeletionFailed("bbb_failed")
            page = root.findall("recordings/recording")
            first = text(page[0], "recordID") if page else None
            if page and offset and first == first_seen:
                return  # offset ignored: this page was listed already
            first_seen = first
            if page:
                yield page
            if len(page) != page_size:
                return  # the last page, or everything at once (offset ignored)
            offset += page_size

    async def exists(self, recording_id: str) -> bool:
        return recording_id in await self.existing([recording_id])

    async def find(self, recording_ids: Sequence[str]) -> list[ET.Element]:
        """The `<recording>` elements of these ids that BBB knows (`recordID=a,b`)."""
        root = await self._call("getRecordings", [("recordID", ",".join(recording_ids)),
                                                  ("state", "any")])
        if not succeeded(root):
            raise DeletionFailed("bbb_failed")
        wanted = set(recording_ids)
        return [r for r in root.findall("recordings/recording")
                if text(r, "recordID") in wanted]

    async def existing(self, recording_ids: Sequence[str]) -> set[str]:
        return {text(r, "recordID") or "" for r in await self.find(recording_ids)}

    async def update_meta(self, recording_id: str, meta: dict[str, str]) -> None:
        root = await self._call("updateRecordings", [("recordID", recording_id),
                                                     *sorted(meta.items())])
        if not succeeded(root):
            raise DeletionFailed("bbb_update_refused")

    async def publish(self, recording_id: str, publish: bool) -> None:
        """Show a recording, or take it out of view (it stays in the archive)."""
        root = await self._call("publishRecordings", [("recordID", recording_id),
                                                      ("publish", str(publish).lower())])
        if not succeeded(root):
            raise DeletionFailed("bbb_publish_refused")

    async def delete(self, recording_id: str) -> None:
        await self.delete_many([recording_id])

    async def delete_many(self, recording_ids: Sequence[str]) -> None:
        """Soft delete (`recordID=a,b`, bbb.md §1.4); an already deleted recording
        (notFound) is fine (idempotent)."""
        root = await self._call("deleteRecordings", [("recordID", ",".join(recording_ids))])
        if not succeeded(root) and text(root, "messageKey") != "notFound":
            raise DeletionFailed("bbb_delete_refused")


def declared_from_xml(node: ET.Element, server: str) -> DeclaredRecording | None:
    """A `<recording>` element as the retention engine sees it (None: not a record id)."""
    recording_id = (text(node, "recordID") or "").strip()
    if not RECORD_ID_RE.fullmatch(recording_id):
        return None
    meta = node.find("metadata")
    values = {child.tag.lower(): (child.text or "").strip()
              for child in (meta if meta is not None else [])}
    try:
        created: float | None = int(text(node, "startTime") or "") / 1000.0
    except ValueError:
        created = None
    return DeclaredRecording(
        platform="bbb", recording_id=recording_id, server=server,
        meeting_ref=(text(node, "internalMeetingID") or recording_id).strip()[:200],
        # The LMS's meetingID: the id a pupil knows the lesson by (G12 objections).
        meeting_alias=_meeting_ref(text(node, "meetingID")),
        meeting_name=" ".join((text(node, "name") or "").split())[:200],
        meeting_type=values.get(MEETING_TYPE_KEY) or None,
        purpose=values.get(PURPOSE_KEY) or None, created=created,
        holds=parse_holds(values.get(HOLDS_META, "")))


def _meeting_ref(value: str | None) -> str:
    value = (value or "").strip()
    return value if MEETING_REF_RE.fullmatch(value) else ""


def purge_argv(template: Sequence[str], server: str, *recording_ids: str) -> list[str]:
    if not recording_ids or not all(RECORD_ID_RE.fullmatch(r) for r in recording_ids):
        raise DeletionFailed("bad_id")
    return [part.replace("{server}", server) for part in template] + list(recording_ids)


async def run_purge(argv: Sequence[str], timeout: float = PURGE_TIMEOUT_SECONDS) -> list[str]:
    """Run the purge agent for one id; its JSON report must list nothing remaining."""
    reports = await run_purge_many(argv, timeout)
    if len(reports) != 1:
        raise DeletionFailed("purge_failed")
    removed, remaining = next(iter(reports.values()))
    if remaining:
        raise DeletionFailed("purge_incomplete")
    return removed


async def run_purge_many(argv: Sequence[str], timeout: float = PURGE_TIMEOUT_SECONDS
                         ) -> dict[str, tuple[list[str], list[str]]]:
    """Run the purge agent for the ids at the end of `argv`: one JSON report line per
    id, {id: (removed, remaining)}."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError:
        raise DeletionFailed("purge_unavailable") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException as exc:  # a timeout, or the sweep cancelled: never leave it running
        if proc.returncode is None:
            proc.kill()
        await asyncio.shield(proc.wait())
        if isinstance(exc, TimeoutError):
            raise DeletionFailed("purge_timeout") from None
        raise
    reports: dict[str, tuple[list[str], list[str]]] = {}
    try:
        for line in out.decode("utf-8").strip().splitlines():
            report = json.loads(line)
            reports[str(report["recording_id"])] = ([str(p) for p in report["removed"]],
                                                     [str(p) for p in report["remaining"]])
    except (ValueError, KeyError, TypeError):
        raise DeletionFailed("purge_failed", agent_detail(proc.returncode, err)) from None
    if not reports:
        raise DeletionFailed("purge_failed" if proc.returncode != 1 else "purge_incomplete",
                             agent_detail(proc.returncode, err))
    return reports


def agent_detail(returncode: int | None, stderr: bytes) -> str:
    """`exit N: <its last error line>` for the operator: printable, at most
    MAX_DETAIL_CHARS, and every path cut to `<path>` unless its last part is a
    recording id (a path elsewhere may name a room or a person)."""
    lines = [line for line in stderr[-4096:].decode("utf-8", "replace").splitlines()
             if line.strip()]
    last = _PATH_RE.sub(_short_path, lines[-1].strip() if lines else "")
    last = "".join(c if c.isprintable() else "?" for c in last)[:MAX_DETAIL_CHARS]
    return f"exit {returncode}" + (f": {last}" if last else "")


def _short_path(match: re.Match[str]) -> str:
    name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
    return name if RECORD_ID_RE.fullmatch(name) else "<path>"


class BBBSource:
    """One BBB server as a retention source for the sweeper."""

    platform = "bbb"

    def __init__(self, server: Server, http: aiohttp.ClientSession,
                 purge_command: Sequence[str], page_size: int = PAGE_SIZE,
                 private_purposes: frozenset[str] = frozenset(),
                 declared_purpose: DeclaredPurpose | None = None) -> None:
        self.server = server
        self.private_purposes = private_purposes
        self.declared_purpose = declared_purpose
        self.name = f"bbb:{server.name}"
        self.api = BBBRecordings(server, http)
        self.purge_command = tuple(purge_command)
        self.page_size = page_size
        self.skipped = 0  # listed recordings whose id is not a BBB record id

    def owns(self, row: RegistryRow) -> bool:
        return row.platform == "bbb" and row.server == self.server.name

    async def listing(self, *, read_only: bool = False
                      ) -> AsyncGenerator[DeclaredRecording, None]:
        """Every recording on the server; afterwards (unless `read_only`, the dry run)
        the declared purposes are written onto them and private ones unpublished."""
        to_unpublish: list[str] = []
        to_label: list[tuple[str, str]] = []
        self.skipped = 0
        async for page in self.api.pages(self.page_size):
            for node in page:
                declared = declared_from_xml(node, self.server.name)
                if declared is None:
                    self.skipped += 1  # reported by the sweep, never silently
                    continue
                declared = await self._with_declared_purpose(declared, to_label)
                if (withheld(declared.purpose, self.private_purposes)
                        and (text(node, "published") or "").strip() == "true"):
                    to_unpublish.append(declared.recording_id)
                yield declared
        if read_only:
            return
        # After the listing, so that changing states does not shift the pages.
        for recording_id, purpose in to_label:
            await self._label(recording_id, purpose)
        for recording_id in to_unpublish:
            await self._unpublish(recording_id)

    async def _with_declared_purpose(self, declared: DeclaredRecording,
                                     to_label: list[tuple[str, str]]) -> DeclaredRecording:
        """The purpose the teacher declared and the guard saw run wins over the meeting
        type's default written at create; it is written onto the recording so it
        survives a lost store (G14, G16)."""
        if self.declared_purpose is None:
            return declared
        # A BBB recordID is the internal meeting id (<sha1>-<createTime>, bbb.md §6),
        # which is what the guard recorded the purpose under.
        purpose = await self.declared_purpose(declared.meeting_ref or declared.recording_id)
        if purpose is None or purpose == declared.purpose:
            return declared
        to_label.append((declared.recording_id, purpose))
        return replace(declared, purpose=purpose)

    async def _label(self, recording_id: str, purpose: str) -> None:
        try:
            await self.api.update_meta(recording_id, {META_PURPOSE: purpose})
        except DeletionFailed as exc:
            log.warning("recording purpose not written", extra={
                "event": "label_failed", "reason": exc.args[0] if exc.args else ""})

    async def _unpublish(self, recording_id: str) -> None:
        """G14: recorded for a purpose that does not include distribution."""
        await self._publish(recording_id, publish=False)

    async def _publish(self, recording_id: str, *, publish: bool) -> None:
        try:
            await self.api.publish(recording_id, publish)
        except DeletionFailed as exc:
            log.warning("publish change failed", extra={"event": "publish_failed",
                                                        "reason": exc.reason})

    async def delete(self, row: RegistryRow) -> list[str]:
        await self.api.delete(row.recording_id)
        return await run_purge(purge_argv(self.purge_command, self.server.name,
                                          row.recording_id))

    async def delete_many(self, rows: Sequence[RegistryRow]) -> dict[str, list[str] | str]:
        """One deleteRecordings, one purge-agent run and one getRecordings check for a
        batch; per recording the paths removed, or the reason it failed."""
        if not rows:
            return {}
        ids = [row.recording_id for row in rows]
        try:
            await self.api.delete_many(ids)
            reports = await run_purge_many(purge_argv(self.purge_command, self.server.name,
                                                      *ids))
            present = await self.api.existing(ids)
        except DeletionFailed as exc:
            return {row.key: failure_reason(exc) for row in rows}
        out: dict[str, list[str] | str] = {}
        for row in rows:
            report = reports.get(row.recording_id)
            out[row.key] = ("purge_failed" if report is None
                            else "purge_incomplete" if report[1]
                            else "still_present" if row.recording_id in present
                            else report[0])
        return out

    async def write_holds(self, row: RegistryRow, holds: frozenset[str]) -> None:
        """The holds onto the recording, beside its due date (G12, G16)."""
        await self.api.update_meta(row.recording_id, {f"meta_{HOLDS_META}":
                                                      format_holds(holds)})

    async def lookup(self, recording_id: str) -> DeclaredRecording | None:
        if not RECORD_ID_RE.fullmatch(recording_id):
            return None
        found = await self.api.find([recording_id])
        return declared_from_xml(found[0], self.server.name) if found else None

    async def withhold(self, row: RegistryRow) -> None:
        """Out of view while an objection is under review (G12); kept until decided."""
        await self._unpublish(row.recording_id)

    async def republish(self, row: RegistryRow) -> None:
        """Shown again after an objection was rejected (its purpose distributes, G14)."""
        await self._publish(row.recording_id, publish=True)

    async def is_gone(self, row: RegistryRow) -> bool:
        return not await self.api.exists(row.recording_id)
