"""Composition points one way: ``bridge/`` (the chain side) imports neither the ledger's
services, nor its CLI, nor the API; what it needs from them is passed in by the caller (e.g. the
live checkpoint lists, ``ledger.service.witness.live_list_source``). ``ledger/`` does not import
the API (``mileage run`` calls ``api.embedded_server`` by name)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What each package may not import, at any depth.
FORBIDDEN = {
    "bridge": ("ledger.service", "ledger.cli", "api"),
    "ledger": ("api",),
}


def imported_modules(source: str) -> set[str]:
    """Every module a Python source imports, at any depth (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def forbidden(modules: set[str], layers: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in layers))


def test_the_check_sees_an_import_inside_a_function() -> None:
    src = "def f():\n    from ledger.service.witness import live_lists\n    import api.main\n"
    bridge = FORBIDDEN["bridge"]
    assert forbidden(imported_modules(src), bridge) == ["api.main", "ledger.service.witness"]
    assert forbidden(imported_modules(src), FORBIDDEN["ledger"]) == ["api.main"]
    assert (
        forbidden(imported_modules("import apispec\nfrom ledger.domain import codes\n"), bridge)
        == []
    )


@pytest.mark.parametrize(
    "path",
    sorted(p for package in FORBIDDEN for p in (ROOT / package).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_a_package_does_not_import_the_layers_above_it(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    assert forbidden(imported_modules(path.read_text()), FORBIDDEN[package]) == []
