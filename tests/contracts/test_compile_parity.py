"""Hardhat (hardhat.config.js) and bridge/compile.py (py-solc-x + solc-js) compile contracts/
with the same compiler and settings (contracts/compiler.json): their runtime bytecode must be
identical."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from bridge.compile import compile_contracts

ROOT = Path(__file__).resolve().parents[2]


def test_hardhat_and_solcx_produce_identical_runtime_bytecode() -> None:
    npx = shutil.which("npx")
    assert npx, "npx (Node.js) is required to compile with Hardhat"
    build = subprocess.run(
        [npx, "hardhat", "compile"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, build.stdout + build.stderr
    arts = compile_contracts()
    checked = 0
    for name in ("MileageLedger",):
        art = ROOT / "build" / "hardhat" / "artifacts" / arts[name].source / f"{name}.json"
        hh = json.loads(art.read_text())
        assert hh["deployedBytecode"].lower() == arts[name].runtime_bytecode.lower()
        assert hh["bytecode"].lower() == arts[name].bytecode.lower()
        checked += 1
    assert checked
