"""Loading the one policy file (G19): TOML from disk, secrets from the environment
or files, into `Settings`. The model it validates against is gateway.policy.model."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from gateway.config.secret_files import Secrets, resolve_secrets
from gateway.policy.model import ConfigError, Policy, parse_policy


class Settings:
    """The loaded policy plus its resolved secrets and where it came from."""

    def __init__(self, policy: Policy, secrets: Secrets, source: str) -> None:
        self.policy = policy
        self.secrets = secrets
        self.source = source



def load_settings(path: str | os.PathLike[str],
                  env: Mapping[str, str] | None = None) -> Settings:
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the policy file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: the policy file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    policy = parse_policy(data, source)
    secrets = resolve_secrets(policy, source, Path(path).resolve().parent,
                              os.environ if env is None else env)
    return Settings(policy, secrets, source)
