"""`privacy-gateway init DIR`: a production starter policy and its secret files.

The starter (gateway/starter/policy.toml) has development off, https URLs and
no development login, with every place a school must fill in marked CHANGE.
The secret files it names are generated here with mode 0600, in the folder the
policy's relative paths point to (relative paths are relative to the policy
file). Nothing that exists is overwritten.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

POLICY_NAME = "policy.toml"
# The secret files the starter names, each with the bytes of randomness it gets.
SECRET_FILES = {"secrets/pseudonym.key": 48, "secrets/idp-client.secret": 48}
STARTER_URL = "https://gateway.school.example"


def add_commands(sub: Any) -> None:
    p = sub.add_parser("init", help="write a production starter policy and its secret files",
                       description="Write DIR/policy.toml (development off, https, no "
                                   "development login) and generate the secret files it "
                                   "names, readable by their owner only.")
    p.add_argument("directory", help="folder to write into (created if missing)")
    p.add_argument("--public-url", default=STARTER_URL,
                   help="the https:// address people will use to reach the gateway")
    p.set_defaults(func=_init)


def starter_text(public_url: str) -> str:
    text = resources.files("gateway").joinpath("starter/policy.toml").read_text("utf-8")
    return text.replace(f'public_url = "{STARTER_URL}"', f'public_url = "{public_url}"')


def _init(args: argparse.Namespace) -> int:
    url = str(args.public_url).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        print(f"privacy-gateway: --public-url must be an https:// address, got {url!r}",
              file=sys.stderr)
        return 2
    folder = Path(args.directory)
    policy = folder / POLICY_NAME
    targets = [policy, *(folder / name for name in SECRET_FILES)]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        print(f"privacy-gateway: {', '.join(existing)} already exists; init never overwrites "
              "(choose an empty folder)", file=sys.stderr)
        return 2
    for name, size in SECRET_FILES.items():
        _write_secret(folder / name, secrets.token_urlsafe(size))
    policy.write_text(starter_text(url), encoding="utf-8")
    print(f"Wrote {policy} and its secret files ({', '.join(SECRET_FILES)}, mode 0600).\n"
          f"Next: edit the places marked CHANGE, then run\n"
          f"  privacy-gateway check-config {policy}")
    return 0


def _write_secret(path: Path, value: str) -> None:
    """Created 0600 from the start: never readable by others, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
