"""Every third-party package the code imports is declared in pyproject.toml (a transitive
dependency can vanish with the next release of the package that brings it)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"api", "bridge", "ledger", "scripts", "tests"}
#: Folders of Python code; tests and scripts import their sibling modules by bare name.
CODE = ("api", "bridge", "ledger", "scripts", "tests")


def top_level_imports(source: str) -> set[str]:
    """The top-level package of every absolute import in a source, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """Distribution names of the runtime and dev dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    return {normalized(re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0]) for spec in specs}


def undeclared(modules: set[str], local: set[str], known: set[str]) -> list[str]:
    """Imported modules whose distribution is not declared (stdlib and local ones excluded)."""
    dists = packages_distributions()
    missing = []
    for module in sorted(modules - FIRST_PARTY - local - set(sys.stdlib_module_names)):
        names = {normalized(d) for d in dists.get(module, [module])}
        if not names & known:
            missing.append(f"{module} ({', '.join(sorted(names))})")
    return missing


def test_the_check_reports_an_undeclared_import() -> None:
    assert undeclared({"rlp", "json", "ledger"}, set(), {"web3"}) == ["rlp (rlp)"]
    assert undeclared({"rlp"}, set(), {"rlp"}) == []
    assert undeclared({"bench_common"}, {"bench_common"}, set()) == []


@pytest.mark.parametrize("folder", CODE)
def test_every_third_party_import_is_declared(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    local = {p.stem for p in files}
    modules: set[str] = set()
    for path in files:
        modules |= top_level_imports(path.read_text())
    assert undeclared(modules, local, declared()) == []
