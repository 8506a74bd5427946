"""Which recording a BBB playback or media path belongs to (pure, no I/O).

The paths BBB 2.6 to 3.0 serve recordings under (BBB's record-and-playback
nginx snippets; reference/bbb.md "Recording playback paths", config/bbb/README.md):

| path | what |
|---|---|
| `/playback/presentation/2.3/<id>` | the presentation player (SPA) for one recording |
| `/playback/presentation/2.3/<asset>` | the player's own code (no recording data) |
| `/playback/presentation/<old>/playback.html?meetingId=<id>` | pre-2.3 players |
| `/presentation/<id>/...` | slides, shapes, events, audio/video, captions, notes |
| `/playback/video/<id>/...` | the video format |
| `/podcast/<id>/...`, `/notes/<id>/...` | podcast audio, shared-notes export |
| `/recording/screenshare/<id>/...` | 2.x screenshare format |

The check sees nginx's `$request_uri`, the path exactly as the browser sent it.
nginx itself resolves `..` and `%2e%2e` before it opens a file, so a path that
could mean something else after normalising (dot segments, encoded slashes or
backslashes, NUL, doubled slashes) is refused rather than interpreted.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import parse_qs, unquote

# BBB's record id: the internal meeting id, sha1 of the meeting id + createTime (ms).
RECORD_ID = r"[0-9a-f]{40}-[0-9]{10,16}"
RECORD_ID_RE = re.compile(rf"^{RECORD_ID}$")
PLAYER = "player"
MAX_URI = 4096

_BY_PATH = re.compile(
    rf"^/(?:playback/presentation/2\.3|presentation|playback/video|podcast|notes"
    rf"|recording/screenshare)/({RECORD_ID})(?:/[^?#]*)?$")
_PLAYER_ASSET = re.compile(r"^/playback/presentation/2\.3/[A-Za-z0-9._/-]{0,200}$")
_OLD_PLAYER = re.compile(r"^/playback/presentation/[0-9.]{1,8}/playback\.html$")
_SUSPICIOUS = re.compile(r"(?:%2e|%2f|%5c|%00|\\|\x00|//)", re.IGNORECASE)

PathProblem = Literal["bad_path", "not_a_recording"]


class BadPath(Exception):
    def __init__(self, problem: PathProblem) -> None:
        super().__init__(problem)
        self.problem = problem


def recording_of(request_uri: str) -> str:
    """The record id a request is for, `PLAYER` for the player's own code, or BadPath."""
    if not request_uri.startswith("/") or len(request_uri) > MAX_URI:
        raise BadPath("bad_path")
    path, _, query = request_uri.partition("?")
    path = path.partition("#")[0]
    if _SUSPICIOUS.search(path) or any(seg in (".", "..") for seg in path.split("/")):
        raise BadPath("bad_path")  # path traversal: refused, never interpreted
    path = unquote(path)
    match = _BY_PATH.fullmatch(path)
    if match:
        return match.group(1)
    if _OLD_PLAYER.fullmatch(path):
        ids = parse_qs(query).get("meetingId", [])
        if len(ids) == 1 and RECORD_ID_RE.fullmatch(ids[0]):
            return ids[0]
        raise BadPath("not_a_recording")
    if _PLAYER_ASSET.fullmatch(path) and not re.search(RECORD_ID, path):
        return PLAYER
    raise BadPath("not_a_recording")
