"""py-solc-x (bridge/compile.py) and Hardhat compile contracts/ to identical runtime bytecode."""

from __future__ import annotations

import json
import subprocess

from bridge.compile import ROOT, compile_contracts


def test_hardhat_and_solcx_produce_identical_runtime_bytecode() -> None:
    subprocess.run(
        ["npx", "--no-install", "hardhat", "compile", "--quiet"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    ours = compile_contracts()
    assert "MileageLedger" in ours
    artifacts = ROOT / "build" / "hardhat" / "artifacts"
    compared = 0
    for name, art in ours.items():
        if len(art.runtime_bytecode) <= 2:  # interfaces and libraries without code
            continue
        hh = json.loads((artifacts / art.source / f"{name}.json").read_text())
        assert hh["deployedBytecode"] == art.runtime_bytecode, name
        assert hh["abi"] == art.abi, name
        compared += 1
    assert compared >= 1
