"""`privacy-gateway`: the command line (main.py) and its sub-commands.

`gateway.cli:main` and `python -m gateway.cli` run the whole gateway as
installed: the entry point privacy_gateway, which names the platform adapters.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from privacy_gateway import main as entry  # the entry point names the adapters

    return entry(argv)
