"""Shared test helpers: policies built from the example file, secrets, ports."""

from __future__ import annotations

import copy
import secrets
import socket
import tomllib
from pathlib import Path
from typing import Any

from gateway.config.loading import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric_value(metric: Any) -> float:
    """A counter or gauge (or one labelled child of one) read through the public
    `collect()` API, not prometheus_client's private `_value`."""
    for family in metric.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                return float(sample.value)
    raise AssertionError(f"{metric!r} has no sample")


def example_policy() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for test policies (tables of scalars, arrays, inline tables)."""
    lines: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items()
                   if v is not None and not isinstance(v, dict) and not _is_table_array(v)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f'"{k}" = {_toml_value(v)}' for k, v in scalars.items())
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"[[{prefix}.{k}]]" if prefix else f"[[{k}]]")
                    lines.extend(f'"{ik}" = {_toml_value(iv)}' for ik, iv in item.items()
                                 if iv is not None)

    table("", data)
    return "\n".join(lines) + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def write_secret(directory: Path, name: str, length: int = 48) -> str:
    path = directory / name
    path.write_text(secrets.token_urlsafe(length))
    return str(path)


def make_settings(tmp_path: Path, changes: dict[str, Any] | None = None,
                  env: dict[str, str] | None = None) -> Settings:
    """A valid policy: the example file with `changes` merged in, written to tmp_path.

    Secret file paths in the example are replaced by fresh files in tmp_path.
    """
    data = example_policy()
    data["gateway"]["pseudonym_key_file"] = write_secret(tmp_path, "pseudonym.key")
    for idp in data["identity"]["providers"]:
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    data = deep_merge(data, changes or {})
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    return load_settings(path, env=env or {})


def demo_settings(tmp_path: Path, port: int, changes: dict[str, Any] | None = None) -> Settings:
    """The example policy (development IdP, memory store) served on 127.0.0.1:port."""
    base = f"http://127.0.0.1:{port}"
    provider = example_policy()["identity"]["providers"][0]
    provider["issuer"] = base + "/dev-idp"
    provider["client_secret_file"] = write_secret(tmp_path, "demo.secret")
    merged = deep_merge({"gateway": {"public_url": base},
                         "identity": {"providers": [provider]}}, changes or {})
    return make_settings(tmp_path, merged)
