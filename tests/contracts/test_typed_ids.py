"""Typed ids (contracts/types/Ids.sol): handing a program where an entry kind or reason goes, or
an account where a ref goes, does not compile; the same calls in the right order do. The
external ABI is not affected (`test_abi_keeps_bare_types`)."""

from __future__ import annotations

import re

from bridge.compile import ROOT, _run_solc, compiler_config, main_artifact
from bridge.errors import CompileError

CALLER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;
import {{HashChain}} from "./libraries/HashChain.sol";
import {{AccountId, ProgramId}} from "./types/Ids.sol";
contract Caller {{
    function f(uint8 kind, ProgramId program, uint8 reason, AccountId account, bytes32 ref)
        external pure returns (uint256 entry, bytes24 head)
    {{
        entry = {entry};
        head = {head};
    }}
}}
"""
RIGHT = {
    "entry": "HashChain.entryWord(1, kind, program, reason, 0, 1)",
    "head": "HashChain.next(bytes24(0), account, entry, ref)",
}


WRONG = {
    "program-as-kind": {"entry": "HashChain.entryWord(1, program, kind, reason, 0, 1)"},
    "reason-as-program": {"entry": "HashChain.entryWord(1, kind, reason, program, 0, 1)"},
    "kind-as-program": {"entry": "HashChain.entryWord(1, kind, kind, reason, 0, 1)"},
    "swap-account-ref": {"head": "HashChain.next(bytes24(0), ref, entry, account)"},
    "ref-as-account": {"head": "HashChain.next(bytes24(0), ref, entry, ref)"},
}


def _errors_by_file(callers: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Compile every caller in one solc run (type checking only); the error types per file."""
    sources = {
        f"contracts/{rel}": {"content": (ROOT / "contracts" / rel).read_text()}
        for rel in ("libraries/HashChain.sol", "types/Ids.sol")
    }
    for i, calls in enumerate(callers.values()):
        text = CALLER.format(**(RIGHT | calls)).replace("contract Caller", f"contract Caller{i}")
        sources[f"contracts/Caller{i}.sol"] = {"content": text}
    settings = dict(compiler_config()["settings"])
    settings.update(viaIR=False, optimizer={"enabled": False}, outputSelection={"*": {"*": []}})
    found: dict[str, list[str]] = {name: [] for name in callers}
    try:
        _run_solc(ROOT, {"language": "Solidity", "sources": sources, "settings": settings})
    except CompileError as exc:
        for kind, i in re.findall(
            r"(\w+Error):[^\n]*\n\s*--> contracts/Caller(\d+)\.sol", str(exc)
        ):
            found[list(callers)[int(i)]].append(kind)
    return found


def test_swapped_ids_do_not_compile_and_the_right_order_does() -> None:
    found = _errors_by_file({"right": {}} | WRONG)
    assert {name: sorted(set(kinds)) for name, kinds in found.items()} == {"right": []} | {
        name: ["TypeError"] for name in WRONG
    }


def test_abi_keeps_bare_types() -> None:
    """The ABI JSON names no user-defined type: web3.py, the indexer and the verifier see the
    same `bytes32`/`uint8`, and a deployment's ABI hash stays valid."""
    for item in main_artifact().abi:
        for arg in [*item.get("inputs", []), *item.get("outputs", [])]:
            assert "AccountId" not in arg.get("internalType", ""), item["name"]
            assert "ProgramId" not in arg.get("internalType", ""), item["name"]
