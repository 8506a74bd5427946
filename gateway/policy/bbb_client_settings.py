"""Pure decision on a create's `clientSettingsOverride` module (BBB 3.0, bbb.md §2).

The module is JSON that overrides the html5 client's settings.yml for one
meeting. An LMS could use it to switch virtual backgrounds off, share cameras
on join, skip the camera preview, or point the client at outside URLs. What
reaches BBB: only settings on CLIENT_SETTINGS_ALLOWED, never a value that names
an outside address (G21), and the privacy settings of CLIENT_SETTINGS_FORCED
(G4, G5). The list is documented in config/bbb/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Dotted settings.yml paths an LMS may set; a path ending in "." admits its subtree.
CLIENT_SETTINGS_ALLOWED = (
    "public.app.appName",
    "public.app.defaultSettings.application.",  # language, dark theme, font size, alerts
    "public.whiteboard.",
    "public.presentation.",
    "public.layout.hidePresentationOnJoin",
)
# Set whatever the LMS sent (keys as in settings.yml; bbb.md §3 names virtualBackgrounds).
CLIENT_SETTINGS_FORCED: dict[str, object] = {
    "public.app.virtualBackgrounds.enabled": True,  # G5: blur/backgrounds always offered
    "public.virtualBackgrounds.enabled": True,  # G5: where 3.0 keeps the same switch
    "public.kurento.autoShareWebcam": False,  # G4: cameras start off
    "public.kurento.skipVideoPreview": False,  # G5: the preview offers a background
}
MAX_DEPTH = 12


class BadClientSettings(ValueError):
    """The module is not a JSON object the gateway can read (refused, never passed)."""


@dataclass(frozen=True, slots=True)
class ClientSettingsDecision:
    settings: dict[str, Any]  # what BBB receives, nested as settings.yml
    dropped: int  # LMS settings not passed on (not allowed, or naming an outside address)


def _leaves(node: object, path: str, depth: int = 0) -> Iterator[tuple[str, object]]:
    if depth > MAX_DEPTH:
        raise BadClientSettings("too deep")
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key), depth + 1)
    else:
        yield path, node


def _outside_address(value: object) -> bool:
    """G21: any text that could make the browser fetch from elsewhere."""
    if isinstance(value, str):
        text = value.strip().lower()
        return "://" in text or text.startswith("//") or "url(" in text
    if isinstance(value, list):
        return any(_outside_address(v) for v in value)
    return False


def _allowed(path: str) -> bool:
    return any(path.startswith(a) if a.endswith(".") else path == a
               for a in CLIENT_SETTINGS_ALLOWED)


def _nest(flat: dict[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return out


def decide_client_settings(text: str) -> ClientSettingsDecision:
    """The settings BBB receives for the LMS's module text (BadClientSettings if unreadable)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):
        raise BadClientSettings("not JSON") from None
    if not isinstance(data, dict):
        raise BadClientSettings("not an object")
    kept: dict[str, object] = {}
    dropped = 0
    for path, value in _leaves(data, ""):
        if path in CLIENT_SETTINGS_FORCED:
            dropped += value != CLIENT_SETTINGS_FORCED[path]
            continue
        if _allowed(path) and not _outside_address(value):
            kept[path] = value
        else:
            dropped += 1
    return ClientSettingsDecision(_nest({**kept, **CLIENT_SETTINGS_FORCED}), dropped)
