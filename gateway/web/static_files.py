"""The gateway's own static files (CSS, scripts, icons), served from memory.

They are a few kilobytes, read once when the app is built. Serving them from
memory, not through aiohttp's file sender, means a browser that drops a
request half way (a page navigated away, a test closing its tab) leaves no open
file behind, and each request costs no thread-pool trip. Each answer carries an
ETag, so a browser revalidates with a 304 instead of a download.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

# Content types the browser must get right, whatever the host's mime database says.
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
          ".png": "image/png"}
_CACHE = "public, max-age=3600"


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    content_type: str
    etag: str


def _load(folder: Path) -> dict[str, _File]:
    files = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        content_type = (_TYPES.get(path.suffix)
                        or mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        files[path.name] = _File(body, content_type, etag)
    return files


def add_static(router: web.UrlDispatcher, prefix: str, folder: Path, name: str) -> None:
    """GET/HEAD `prefix/<file>` for every file directly in `folder`; 404 for any other."""
    files = _load(folder)

    async def handler(request: web.Request) -> web.Response:
        found = files.get(request.match_info["filename"])
        if found is None:
            raise web.HTTPNotFound()
        headers = {"ETag": found.etag, "Cache-Control": _CACHE}
        if found.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, content_type=found.content_type,
                            headers=headers)

    router.add_get(prefix.rstrip("/") + "/{filename}", handler, name=name)
