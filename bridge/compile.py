"""Compile ``contracts/`` with py-solc-x driving solc-js (the npm ``solc``), offline.

Hardhat compiles the same sources with the same settings (``contracts/compiler.json`` is the one
source of both); ``tests/contracts/test_compile_parity.py`` asserts identical runtime bytecode.
Artifacts are build outputs: cached in ``build/solcx/`` keyed by a hash of sources and settings,
never committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import CompileError

ROOT = Path(__file__).resolve().parent.parent
MAIN_CONTRACT = "MileageLedger"


@dataclass(frozen=True)
class ContractArtifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_bytecode: str

    @property
    def abi_hash(self) -> str:
        """keccak-free, stable fingerprint of the ABI (sha256 of its canonical JSON)."""
        return hashlib.sha256(json.dumps(self.abi, sort_keys=True).encode()).hexdigest()


def _sources(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted((root / "contracts").rglob("*.sol"))}


def compiler_config(root: Path = ROOT) -> dict[str, Any]:
    """The compiler version and settings shared with hardhat.config.js."""
    cfg: dict[str, Any] = json.loads((root / "contracts" / "compiler.json").read_text())
    return cfg


def standard_input(root: Path = ROOT) -> dict[str, Any]:
    """The solc standard-JSON input for every source under contracts/."""
    cfg = compiler_config(root)
    sources = _sources(root)
    if not sources:
        raise CompileError(f"no Solidity sources (*.sol) under {root / 'contracts'}")
    settings = dict(cfg["settings"])
    settings["outputSelection"] = {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
    }
    return {
        "language": "Solidity",
        "sources": {name: {"content": p.read_text()} for name, p in sources.items()},
        "settings": settings,
    }


def _digest(inp: dict[str, Any], version: str) -> str:
    blob = json.dumps({"v": version, "in": inp}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def compile_contracts(
    root: Path | None = None, *, force: bool = False
) -> dict[str, ContractArtifact]:
    """Compile every contract under ``contracts/``; returns artifacts by contract name.

    Cached: a second call with unchanged sources reads ``build/solcx/<digest>.json``.
    """
    root = root or ROOT
    inp = standard_input(root)
    version = compiler_config(root)["version"]
    cache_dir = root / "build" / "solcx"
    cache = cache_dir / f"{_digest(inp, version)}.json"
    if cache.exists() and not force:
        out = json.loads(cache.read_text())
    else:
        out = _run_solc(root, inp)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(cache)
    arts: dict[str, ContractArtifact] = {}
    for source, contracts in out.get("contracts", {}).items():
        for name, c in contracts.items():
            arts[name] = ContractArtifact(
                name=name,
                source=source,
                abi=c["abi"],
                bytecode="0x" + c["evm"]["bytecode"]["object"],
                runtime_bytecode="0x" + c["evm"]["deployedBytecode"]["object"],
            )
    return arts


def _run_solc(root: Path, inp: dict[str, Any]) -> dict[str, Any]:
    import solcx  # imported lazily: only compilation needs it

    shim = root / "scripts" / "solcjs"
    if not (root / "node_modules" / "solc" / "solc.js").exists():
        raise CompileError("solc-js is not installed: run `npm ci` (or `make install`) first")
    out: dict[str, Any] = {}
    for attempt in range(3):
        try:
            out = solcx.compile_standard(inp, solc_binary=str(shim), base_path=str(root))
            break
        except Exception as exc:  # solcx raises its own SolcError with the compiler's message
            # solc-js (node) sometimes fails reading its input under heavy load (EAGAIN).
            if "EAGAIN" in str(exc) and attempt < 2:
                continue
            raise CompileError(f"solidity compilation failed: {exc}") from exc
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        msg = "\n".join(e.get("formattedMessage", str(e)) for e in errors)
        raise CompileError(f"solidity compilation failed:\n{msg}")
    return out


def main_artifact(root: Path | None = None) -> ContractArtifact:
    """The MileageLedger artifact."""
    arts = compile_contracts(root)
    if MAIN_CONTRACT not in arts:
        raise CompileError(f"contracts/ has no contract named {MAIN_CONTRACT}")
    return arts[MAIN_CONTRACT]


if __name__ == "__main__":  # `python -m bridge.compile`: compile and list contracts
    for n, a in sorted(compile_contracts().items()):
        print(f"{n:32s} {len(a.runtime_bytecode) // 2 - 1:6d} bytes  ({a.source})")
