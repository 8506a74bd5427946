"""The demo's policy: `config/example.toml` at the address the demo listens on.

The example names `http://localhost:8080`; `privacy-gateway demo --host H --port P`
must work at any address, so every URL the policy derives from the listening
address (the public URL and the development IdP's issuer) is rewritten here,
and Jitsi is switched on with throw-away secrets so its pages can be seen
(no Jitsi server is attached). BigBlueButton is switched on against the
demo's stand-in (gateway/demo/app.py). Secrets stay files beside the example, as the
example names them (paths relative to the policy file).
"""

from __future__ import annotations

import os
import secrets
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config.loading import Settings
from gateway.config.secret_files import resolve_secrets
from gateway.demo.lms import LMS_NAME
from gateway.login.devidp import PREFIX
from gateway.policy.model import ConfigError, parse_policy

# Variables the demo sets for itself; a real deployment names its own.
_JITSI_APP_VAR = "PRIVACY_GATEWAY_DEMO_JITSI_APP_SECRET"
_JITSI_HOOK_VAR = "PRIVACY_GATEWAY_DEMO_JITSI_HOOK_SECRET"
_BBB_SECRET_VAR = "PRIVACY_GATEWAY_DEMO_BBB_SECRET"  # noqa: S105 (a variable's name)
_LMS_SECRET_VAR = "PRIVACY_GATEWAY_DEMO_LMS_SECRET"  # noqa: S105 (a variable's name)
_BUS_VAR = "PRIVACY_GATEWAY_DEMO_BBB_REDIS_URL"
STAND_IN = "demo-bbb"  # bbb.servers[0].name: the demo's BBB stand-in
# Listening on every address or on 127.0.0.1: the browser on this machine uses localhost,
# as the example and the README say (cookies are per host name).
_ANY_ADDRESS = ("0.0.0.0", "::", "", "127.0.0.1")  # noqa: S104 (compared, not bound)


def public_url(host: str, port: int) -> str:
    """The address a browser on this machine uses for the demo."""
    name = "localhost" if host in _ANY_ADDRESS else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def wildcard(host: str) -> bool:
    """Listening on every address: other devices need `--public-url` to follow the links."""
    return host in _ANY_ADDRESS[:3]


def stand_in_url(url: str, port: int) -> str:
    """The BBB stand-in beside the demo at `url`: the same host name, its own port."""
    name = urlsplit(url).hostname or "localhost"
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def demo_settings(example: Path, host: str, port: int, *, bbb_port: int | None = None,
                  bus_port: int | None = None, bbb_root: Path | None = None,
                  public: str | None = None) -> Settings:
    """The example policy, moved to host:port, with Jitsi's pages switched on.

    With `bbb_port` and `bus_port` (gateway/demo/app.py), BigBlueButton is on
    too: one server, the demo's stand-in at host:bbb_port, its bus the demo's
    broker at 127.0.0.1:bus_port, and one LMS (the demo LMS page). Its secrets
    are made for this run, like Jitsi's. With `bbb_root` (the stand-in's recordings
    folder), the sweeper's purge agent is this Python's `bbb-purge` on that folder, so an
    upheld objection ends in a verified deletion (G12, G16).
    """
    try:
        data: dict[str, Any] = tomllib.loads(example.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{example}: cannot read the demo policy: {exc}") from None
    if not data.get("gateway", {}).get("development"):
        raise ConfigError(f"{example}: the demo runs only with gateway.development = true")
    url = public.rstrip("/") if public else public_url(host, port)
    old_issuer = data["gateway"]["public_url"].rstrip("/") + PREFIX
    data["gateway"]["public_url"] = url
    for provider in data.get("identity", {}).get("providers", []):
        if provider.get("issuer", "").rstrip("/") == old_issuer:
            provider["issuer"] = url + PREFIX
    jitsi = data.setdefault("jitsi", {})
    jitsi.update({"enabled": True, "app_secret_env": _JITSI_APP_VAR,
                  "hook_secret_env": _JITSI_HOOK_VAR})
    env = dict(os.environ)
    if bbb_port is not None and bus_port is not None:
        bbb = data.setdefault("bbb", {})
        bbb.update({
            "enabled": True,
            "servers": [{"name": STAND_IN, "url": stand_in_url(url, bbb_port) + "/bigbluebutton",
                         "secret_env": _BBB_SECRET_VAR, "checksum_algorithm": "sha256"}],
            "frontends": [{"name": LMS_NAME, "secret_env": _LMS_SECRET_VAR}],
            "redis_url_env": _BUS_VAR})
        env[_BUS_VAR] = f"redis://127.0.0.1:{bus_port}/0"  # the demo's own broker
        if bbb_root is not None:
            data.setdefault("retention", {})["bbb_purge_command"] = [
                sys.executable, "-m", "gateway.cli", "bbb-purge", "--root", str(bbb_root)]
        env.setdefault(_BBB_SECRET_VAR, secrets.token_urlsafe(48))
        env.setdefault(_LMS_SECRET_VAR, secrets.token_urlsafe(48))
    policy = parse_policy(data, str(example))
    env.setdefault(_JITSI_APP_VAR, secrets.token_urlsafe(48))
    env.setdefault(_JITSI_HOOK_VAR, secrets.token_urlsafe(48))
    found = resolve_secrets(policy, str(example), example.resolve().parent, env)
    return Settings(policy, found, f"{example} (demo at {url})")

