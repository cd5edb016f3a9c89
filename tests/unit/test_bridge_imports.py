"""Composition points one way: ``bridge/`` (the chain side) imports neither the ledger's
services, nor its CLI, nor the API; what it needs from them is passed in by the caller (e.g. the
live checkpoint lists, ``ledger.service.witness.live_list_source``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
FORBIDDEN = ("ledger.service", "ledger.cli", "api")


def imported_modules(source: str) -> set[str]:
    """Every module a Python source imports, at any depth (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def test_the_check_sees_an_import_inside_a_function() -> None:
    src = "def f():\n    from ledger.service.witness import live_lists\n    import api.main\n"
    assert forbidden(imported_modules(src)) == ["api.main", "ledger.service.witness"]
    assert forbidden(imported_modules("import apispec\nfrom ledger.domain import codes\n")) == []


@pytest.mark.parametrize(
    "path", sorted(BRIDGE.rglob("*.py")), ids=lambda p: str(p.relative_to(BRIDGE))
)
def test_bridge_does_not_import_the_layers_above_it(path: Path) -> None:
    assert forbidden(imported_modules(path.read_text())) == []
