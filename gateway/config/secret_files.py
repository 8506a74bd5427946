"""Secrets named by the policy file: read from the environment or a file, checked
for strength, kept apart from the printable policy. Never from the TOML itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from gateway.policy.model import ConfigError

if TYPE_CHECKING:
    from gateway.policy.model import Policy

MIN_SECRET_BYTES = 32  # 256 bits: OWASP JWT cheat sheet, style_security.md B.1 #7


class Secrets:
    """Resolved secret values, kept outside the printable policy."""

    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}

    def put(self, key: str, value: bytes) -> None:
        self._values[key] = value

    def get(self, key: str) -> bytes:
        return self._values[key]

    def has(self, key: str) -> bool:
        return key in self._values


def _read_secret(source: str, where: str, env: str | None, file: str | None,
                 base: Path, env_map: Mapping[str, str]) -> bytes | None:
    if env and file:
        raise ConfigError(f"{source}: {where}: give either _env or _file, not both")
    if env:
        value = env_map.get(env)
        if value is None or value == "":
            raise ConfigError(f"{source}: {where}_env: environment variable {env} is not set")
        return value.encode()
    if file:
        path = Path(file) if Path(file).is_absolute() else base / file
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"{source}: {where}_file: cannot read {path}: {exc.strerror}"
            ) from None
    return None


def _resolve(source: str, where: str, section: BaseModel, stem: str, base: Path,
             env_map: Mapping[str, str], min_bytes: int, required: bool,
             secrets: Secrets) -> None:
    value = _read_secret(
        source, where, getattr(section, f"{stem}_env"), getattr(section, f"{stem}_file"),
        base, env_map,
    )
    if value is None:
        if required:
            raise ConfigError(f"{source}: {where}: a secret is required ({where}_env or _file)")
        return
    if len(value) < min_bytes:
        raise ConfigError(
            f"{source}: {where}: secret too weak: {len(value)} bytes, at least {min_bytes} needed"
        )
    secrets.put(where, value)


def resolve_secrets(policy: Policy, source: str, base: Path,
                    env_map: Mapping[str, str]) -> Secrets:
    secrets = Secrets()
    _resolve(source, "gateway.pseudonym_key", policy.gateway, "pseudonym_key", base, env_map,
             MIN_SECRET_BYTES, True, secrets)
    _resolve(source, "store.redis_url", policy.store, "redis_url", base, env_map, 1, False,
             secrets)
    for i, idp in enumerate(policy.identity.providers):
        _resolve(source, f"identity.providers[{i}].client_secret", idp, "client_secret", base,
                 env_map, 16, True, secrets)
    if policy.bbb.enabled:
        for i, server in enumerate(policy.bbb.servers):
            _resolve(source, f"bbb.servers[{i}].secret", server, "secret", base, env_map,
                     MIN_SECRET_BYTES, True, secrets)
        for i, front in enumerate(policy.bbb.frontends):
            _resolve(source, f"bbb.frontends[{i}].secret", front, "secret", base, env_map,
                     MIN_SECRET_BYTES, True, secrets)
        _resolve(source, "bbb.redis_url", policy.bbb, "redis_url", base, env_map, 1, False,
                 secrets)
    if policy.jitsi.enabled:
        _resolve_jitsi(policy, source, base, env_map, secrets)
    return secrets


def _resolve_jitsi(policy: Policy, source: str, base: Path, env_map: Mapping[str, str],
                   secrets: Secrets) -> None:
    jitsi = policy.jitsi
    if jitsi.signature_algorithm.startswith("HS"):
        # An HMAC key at least as long as the hash output (style_security.md B.1 #7).
        need = int(jitsi.signature_algorithm[2:]) // 8
        _resolve(source, "jitsi.app_secret", jitsi, "app_secret", base, env_map, need, True,
                 secrets)
    else:
        if not jitsi.private_key_file or not jitsi.key_id:
            raise ConfigError(f"{source}: jitsi: RS256 needs private_key_file and key_id")
        path = Path(jitsi.private_key_file)
        path = path if path.is_absolute() else base / path
        try:
            secrets.put("jitsi.private_key", path.read_bytes())
        except OSError as exc:
            raise ConfigError(
                f"{source}: jitsi.private_key_file: cannot read {path}: {exc.strerror}"
            ) from None
    _resolve(source, "jitsi.hook_secret", jitsi, "hook_secret", base, env_map, MIN_SECRET_BYTES,
             True, secrets)
