"""The import boundaries that keep the layout honest (README "Development").

Imports are read with `ast`, including those inside functions and under
`TYPE_CHECKING`: a hidden import is still a dependency.

- gateway/policy/ is pure: no web framework, no Redis, no store, no file or
  network I/O, no adapter, and nothing from the rest of gateway/ but itself.
- gateway/ (the core) never names a platform adapter: adapters plug in through
  gateway.adapter.Adapter, listed by the entry point (privacy_gateway).
- The two adapters, bbb_hooks/ and jitsi_hooks/, never import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

ADAPTERS = ("bbb_hooks", "jitsi_hooks")
# What a pure decision may not reach for (gateway/policy/).
IMPURE = ("aiohttp", "aiohttp_jinja2", "jinja2", "redis", "asyncio", "socket", "subprocess",
          "os", "tomllib", "shutil", "urllib.request", "http", "prometheus_client",
          *ADAPTERS)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    return imports_in(path.read_text(), path.relative_to(ROOT).with_suffix("").parts)


def imports_in(source: str, here: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the source, at any depth; relative ones resolved."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from gateway import store` names a module too
                yield node.lineno, f"{module}.{alias.name}"


def under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def offenders(package: str, forbidden: tuple[str, ...],
              allowed: tuple[str, ...] = ()) -> list[str]:
    found: dict[str, str] = {}  # one line per import statement: its first offending name
    for path in modules(package):
        for line, module in imported(path):
            if under(module, forbidden) and not under(module, allowed):
                found.setdefault(f"{path.relative_to(ROOT)}:{line}", module)
    return [f"{where} imports {module}" for where, module in sorted(found.items())]


def test_policy_is_pure() -> None:
    """gateway/policy: only the standard library's pure parts, pydantic, idna and itself."""
    assert offenders("gateway/policy", IMPURE) == []
    assert offenders("gateway/policy", ("gateway",), allowed=("gateway.policy",)) == []


def test_the_core_never_names_an_adapter() -> None:
    assert offenders("gateway", ADAPTERS) == []


@pytest.mark.parametrize(("adapter", "other"), [ADAPTERS, ADAPTERS[::-1]])
def test_adapters_do_not_import_each_other(adapter: str, other: str) -> None:
    assert offenders(adapter, (other,)) == []


def test_the_checker_sees_hidden_imports() -> None:
    """The check cannot pass by accident: imports in functions and TYPE_CHECKING count."""
    sample = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from gateway.store import base\n"
              "def f() -> None:\n    import redis\n    from . import model\n")
    found = {module for _, module in imports_in(sample, ("gateway", "policy", "probe"))}
    assert {"gateway.store.base", "redis", "gateway.policy.model"} <= found
