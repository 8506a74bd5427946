"""The gateway's own static files (CSS, scripts, icons), served from memory.

They are a few kilobytes, read once when the app is built. Serving them from
memory, not through aiohttp's file sender, means a browser that drops a
request half way (a page navigated away, a test closing its tab) leaves no open
file behind, and each request costs no thread-pool trip. Each answer carries an
ETag, so a browser revalidates with a 304 instead of a download. The demo's
BigBlueButton stand-in serves its meeting page's files the same way.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
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


def _load(files: Mapping[str, Path]) -> dict[str, _File]:
    loaded = {}
    for name, path in sorted(files.items()):
        body = path.read_bytes()
        content_type = (_TYPES.get(path.suffix)
                        or mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        loaded[name] = _File(body, content_type, etag)
    return loaded


def _folder(folder: Path) -> dict[str, Path]:
    return {path.name: path for path in folder.iterdir()
            if path.is_file() and not path.name.startswith(".")}


def add_static(router: web.UrlDispatcher, prefix: str, files: Path | Mapping[str, Path], *,
               name: str | None = None, icon: str | None = None) -> None:
    """GET/HEAD `prefix/<file>` for every file directly in a folder, or for the files of a
    name -> path mapping; no other path matches. With `icon`, `/favicon.ico` (which
    browsers ask whatever a page links) leads to that file, so no page load ends in a 404.
    """
    loaded = _load(_folder(files) if isinstance(files, Path) else files)
    prefix = prefix.rstrip("/")

    async def handler(request: web.Request) -> web.Response:
        found = loaded[request.match_info["filename"]]
        headers = {"ETag": found.etag, "Cache-Control": _CACHE,
                   "X-Content-Type-Options": "nosniff"}
        if found.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, content_type=found.content_type,
                            headers=headers)

    names = "|".join(re.escape(n) for n in loaded)
    router.add_get(prefix + "/{filename:(" + names + ")}", handler, name=name)
    if icon is not None:
        async def favicon(request: web.Request) -> web.Response:
            return web.Response(status=301, headers={"Location": f"{prefix}/{icon}",
                                                     "Cache-Control": "public, max-age=86400"})

        router.add_get("/favicon.ico", favicon)
