"""NatSpec completeness of the specification (contracts/interfaces/IMileageLedger.sol): every
error, event and function has a `@notice` and a `@param` for each named parameter (and no
`@param` for a name it does not have; solc checks that only for functions), every function a
`@return` for each named return value. Read from the source text: solc keeps no devdoc for an
error's missing parameters, and this is what an auditor reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "contracts" / "interfaces" / "IMileageLedger.sol"

DECL = re.compile(r"^\s*(error|event|function)\s+(\w+)\s*\(", re.M)


def _params(text: str) -> list[str]:
    """Names of a comma-separated Solidity parameter list (unnamed ones are skipped)."""
    names = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = [w for w in part.split() if w not in ("indexed", "memory", "calldata", "storage")]
        if len(words) >= 2:
            names.append(words[-1])
    return names


def _declarations(source: str) -> list[tuple[str, str, str, list[str], list[str]]]:
    """(kind, name, doc, params, returns) of every declaration, with its `///` comment block."""
    out = []
    lines = source.splitlines()
    for m in DECL.finditer(source):
        start = source.count("\n", 0, m.start())
        doc = []
        i = start - 1
        while i >= 0 and lines[i].strip().startswith("///"):
            doc.insert(0, lines[i].strip()[3:].strip())
            i -= 1
        # The declaration up to its terminating ';' (multi-line signatures included).
        decl = source[m.start() : source.index(";", m.end())]
        depth, j = 1, m.end() - m.start()
        while depth:
            depth += {"(": 1, ")": -1}.get(decl[j], 0)
            j += 1
        params = _params(decl[m.end() - m.start() : j - 1])
        rest = decl[j:]
        returns = []
        if "returns" in rest:
            r = rest[rest.index("returns") :]
            returns = _params(r[r.index("(") + 1 : r.rindex(")")])
        out.append((m.group(1), m.group(2), "\n".join(doc), params, returns))
    return out


def test_every_error_event_and_function_of_the_spec_is_documented() -> None:
    decls = _declarations(SPEC.read_text())
    assert sum(1 for d in decls if d[0] == "error") >= 24
    problems = []
    for kind, name, doc, params, returns in decls:
        if "@notice" not in doc:
            problems.append(f"{kind} {name}: no @notice")
        documented = re.findall(r"@param (\w+)", doc)
        if documented != params:
            problems.append(f"{kind} {name}: @param {documented}, parameters {params}")
        if kind == "function":
            documented_returns = re.findall(r"@return (\w+)", doc)
            if documented_returns != returns:
                problems.append(f"{kind} {name}: @return {documented_returns}, returns {returns}")
    assert problems == [], "\n".join(problems)


def test_the_check_sees_a_missing_param() -> None:
    src = (
        "    /// @notice Bad.\n    /// @param a the a\n    error Bad(uint8 a, bytes32 b);\n"
        "    /// @notice Fine.\n    function f(uint8 x) external returns (uint256 y);\n"
    )
    got = [(k, n, p, r) for k, n, _, p, r in _declarations(src)]
    assert got == [("error", "Bad", ["a", "b"], []), ("function", "f", ["x"], ["y"])]
