"""Independent, chain-only verification of the ledger: no database, only JSON-RPC.

``verify_ledger`` reads every ``EntryRecorded`` log of the contract (or of chosen accounts) up to
one block, replays each account's hash chain and balances from the logs alone, and checks the
result against the contract's own state *at that same block*: ``accountState`` (count, head),
``balancesOf`` and, for a whole-ledger run, ``programTotals``. A missing, altered, duplicated or
reordered entry cannot reproduce the contract's head (docs/DESIGN.md, "Entries and the hash
chain"), so every such defect surfaces as a :class:`Mismatch`.

Speed (the goal is >= 50,000 events/s over millions of entries) comes from skipping web3's event
machinery: logs are fetched with plain ``eth_getLogs`` over ``httpx`` (the next block range is
prefetched on a thread while the current one is checked), contract state is read with batched
JSON-RPC ``eth_call`` requests, and the logs are never decoded as JSON objects: one regular
expression scan per field pulls the hex out of the node's answer text into fixed-width binary
records (:func:`pack_answer`), which the replay slices. ``EntryRecorded`` has one indexed topic
(``account``) and two static data words: the packed ``entry`` word (seq, kind, program, reason,
timestamp, amount; ``ledger.domain.hashchain.ENTRY_LAYOUT``) and ``ref``. The log carries no
head: the hash-chain preimage ``abi.encodePacked(bytes24 head, account, entry, ref)`` (120 bytes)
is ``prev_head ‖ topics[1] ‖ data``, so the replay computes every head itself (one keccak per
log) and the contract's ``accountState`` head at the verified block is the one comparison that
proves the whole trail. :func:`preimage_tail` builds the 96 bytes after the head from a raw log,
and ``tests/integration/test_verify.py`` proves it equal to
``ledger.domain.hashchain.encode_entry`` (the reference mirror) for arbitrary entries.

:class:`RawLedgerReader` (the fast read side) is also used by the indexer and by reconciliation.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import threading
import time
from binascii import unhexlify
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import httpx
from eth_hash.auto import keccak
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from bridge.audit_refunds import log_mismatches
from bridge.audit_rules import AwardRules
from bridge.errors import BridgeError
from ledger.domain.codes import PROGRAM_CODES, EntryKind, Program
from ledger.domain.hashchain import HEAD_BYTES, PREIMAGE_BYTES, ZERO_HEAD

ENTRY_RECORDED_SIGNATURE = "EntryRecorded(bytes32,uint256,bytes32)"
ENTRY_TOPIC = "0x" + keccak(ENTRY_RECORDED_SIGNATURE.encode()).hex()
PROGRAMS = PROGRAM_CODES  # 1..7
CREDIT_KINDS = frozenset(int(k) for k in EntryKind if k.is_credit)
KNOWN_KINDS = frozenset(int(k) for k in EntryKind)

_SEL_ACCOUNT_STATE = "0x" + function_signature_to_4byte_selector("accountState(bytes32)").hex()
_SEL_BALANCES_OF = "0x" + function_signature_to_4byte_selector("balancesOf(bytes32)").hex()
_SEL_PROGRAM_TOTALS = "0x" + function_signature_to_4byte_selector("programTotals(uint8)").hex()
_SEL_READ = function_signature_to_4byte_selector("read(address,bytes32[])").hex()

#: Source of the state reader: ``accountState`` + ``balancesOf`` of many accounts in one
#: ``eth_call``. It is never deployed: the call places its runtime code (below, compiled by solc
#: 0.8.28 with the settings of contracts/compiler.json; tests/integration/test_verify.py
#: recompiles and compares) at an unused address with a state override. Nodes without state
#: overrides get one plain ``eth_call`` per view and account instead.
READER_SOURCE = """\
// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface ILedgerViews {
    function accountState(bytes32 account) external view returns (uint64, bytes24, bytes32, bool);
    function balancesOf(bytes32 account) external view returns (uint256[8] memory);
}

/// @notice Reads `accountState` and `balancesOf` of many accounts in one `eth_call`. Never
/// deployed: the verifier places its runtime code at an unused address with a state override.
/// @dev Output: 12 words per account (count, head, successor, donation, balances[0..7]); the
/// bytes24 head is left-aligned in its word, as the ABI encodes it.
contract LedgerStateReader {
    function read(ILedgerViews ledger, bytes32[] calldata accounts)
        external
        view
        returns (uint256[] memory out)
    {
        out = new uint256[](accounts.length * 12);
        for (uint256 i = 0; i < accounts.length; ++i) {
            (uint64 count, bytes24 head, bytes32 successor, bool donation) =
                ledger.accountState(accounts[i]);
            uint256[8] memory balances = ledger.balancesOf(accounts[i]);
            uint256 o = i * 12;
            out[o] = count;
            out[o + 1] = uint256(bytes32(head));
            out[o + 2] = uint256(successor);
            out[o + 3] = donation ? 1 : 0;
            for (uint256 p = 0; p < 8; ++p) {
                out[o + 4 + p] = balances[p];
            }
        }
    }
}
"""
READER_RUNTIME = (
    "60806040526004361015610011575f80fd5b5f3560e01c63de6f9a5214610024575f80fd5b346103c5576040"
    "7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc3601126103c55760043573"
    "ffffffffffffffffffffffffffffffffffffffff81168091036103c55760243567ffffffffffffffff811161"
    "03c557366023820112156103c55780600401359167ffffffffffffffff83116103c557602482019160243691"
    "8560051b0101116103c557600c830292808404600c14811517156102fb5783916100f16100db846104d6565b"
    "936100e96040519586610495565b8085526104d6565b937fffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffe06020850195013686375f915b83831061016a5785856040519182916020830190"
    "60208452518091526040830191905f5b818110610151575050500390f35b8251845285945060209384019390"
    "920191600101610143565b61017b8385849698949795976104ee565b3590604051917f57a1d9c00000000000"
    "000000000000000000000000000000000000000000000083526004830152608082602481845afa9283156103"
    "fd575f935f935f905f92610408575b506101d2898b8a6104ee565b3594604051957feda8a132000000000000"
    "000000000000000000000000000000000000000000008752600487015261010086602481885afa9586156103"
    "fd575f96610345575b50600c8a02968a8804600c148b1517156102fb5767ffffffffffffffff16610240888a"
    "61052b565b5260018701908188116102fb577fffffffffffffffffffffffffffffffffffffffffffffffff00"
    "0000000000000061027a9116918961052b565b52600286018087116102fb57610290908861052b565b521561"
    "033f5760015b60038501908186116102fb5760ff6102b69198949816918761052b565b525f95600485019889"
    "8611975b60088110156103285788908060051b870151916102fb5760048189010191828d116102fb576102f4"
    "6001938b61052b565b52016102c3565b7f4e487b710000000000000000000000000000000000000000000000"
    "00000000005f52601160045260245ffd5b50919850949690955060010193909250905061011f565b5f610299"
    "565b9095506101003d81116103f6575b61035d8183610495565b8101610100828203126103c55780601f8301"
    "12156103c55760405191610100830183811067ffffffffffffffff8211176103c95760405282906101008101"
    "9283116103c557905b8282106103b557505050948b610218565b81518152602091820191016103a4565b5f80"
    "fd5b7f4e487b71000000000000000000000000000000000000000000000000000000005f5260416004526024"
    "5ffd5b503d610353565b6040513d5f823e3d90fd5b9450505092506080823d821161048d575b816104266080"
    "9383610495565b810103126103c55781519267ffffffffffffffff841684036103c5576020830151937fffff"
    "ffffffffffffffffffffffffffffffffffffffffffff0000000000000000851685036103c557606060408501"
    "519401519081151582036103c55794938a6101c6565b3d9150610419565b90601f7fffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffe0910116810190811067ffffffffffffffff8211176103"
    "c957604052565b67ffffffffffffffff81116103c95760051b60200190565b91908110156104fe5760051b01"
    "90565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52603260045260"
    "245ffd5b80518210156104fe5760209160051b01019056fea164736f6c634300081c000a"
)
READER_ADDRESS = "0x000000000000000000000000000000005ea1e500"
_READER_WORDS = 12  # per account: count, head, successor, donation, balances[0..7]

# Hex-string offsets in a log's ``data`` ("0x" + the entry word + ref, 64 hex digits each).
_W = 64
_ENTRY = slice(2, 2 + _W)
_REF = slice(2 + _W, 2 + 2 * _W)
_DATA_LEN = 2 + 2 * _W
_M48 = (1 << 48) - 1
_M96 = (1 << 96) - 1


class RpcError(BridgeError):
    """A JSON-RPC request failed (transport error or an error object in the answer).

    ``method`` is the RPC method and ``detail`` the node's message; check that the node at the
    URL is up and serves the block asked for (historical state needs an archive node).
    """

    def __init__(self, method: str, detail: str) -> None:
        self.method = method
        self.detail = detail
        super().__init__(f"JSON-RPC {method} failed: {detail}")


class VerificationError(BridgeError):
    """The verifier could not run (bad arguments or an unusable node); nothing was checked."""


# ------------------------------------------------------------------------------------------------
# the fast read side
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainAccount:
    """An account's state read from the contract at one block."""

    count: int
    head: bytes  # 24 bytes (bytes24)
    successor: bytes
    donation: bool
    balances: tuple[int, ...]  # indexed by program code, index 0 unused (always 0)


@dataclass(frozen=True)
class ProgramTotals:
    """``programTotals(program)`` at one block."""

    granted: int
    credited: int
    debited: int


def _hex(n: int) -> str:
    return hex(n)


def _word_int(result: str, index: int) -> int:
    start = 2 + index * _W
    return int(result[start : start + _W], 16)


def _word_bytes(result: str, index: int) -> bytes:
    start = 2 + index * _W
    return bytes.fromhex(result[start : start + _W])


def norm_account(account: str | bytes) -> str:
    """An account id as lowercase ``0x`` + 64 hex digits (the form logs carry in topics)."""
    raw = bytes(account) if isinstance(account, bytes | bytearray) else None
    if raw is None:
        text = str(account).lower()
        text = text[2:] if text.startswith("0x") else text
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise VerificationError(f"account {account!r} is not hex") from exc
    if len(raw) != 32:
        raise VerificationError(f"account {account!r} is not 32 bytes (got {len(raw)})")
    return "0x" + raw.hex()


class RawLedgerReader:
    """Plain JSON-RPC reads of the ledger contract at ``address`` (no web3 formatting layer).

    ``batch_size`` bounds the requests per JSON-RPC batch (Besu's default limit is 1,024).
    """

    def __init__(
        self,
        rpc_url: str,
        address: str,
        *,
        timeout: float = 120.0,
        batch_size: int = 500,
        http: httpx.Client | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self.address = to_checksum_address(address)
        self.batch_size = batch_size
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._lock = threading.Lock()
        self._next_id = 0
        #: whether the node accepts eth_call state overrides (None: not tried yet)
        self.state_override: bool | None = None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RawLedgerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------------
    def _ids(self, n: int) -> int:
        with self._lock:
            first = self._next_id
            self._next_id += n
            return first

    def _post(self, method: str, payload: Any) -> Any:
        try:
            resp = self._http.post(self.rpc_url, json=payload)
            resp.raise_for_status()
            return resp.json()
        except httpx.HTTPError as exc:
            raise RpcError(method, f"{type(exc).__name__}: {exc} ({self.rpc_url})") from exc
        except ValueError as exc:
            raise RpcError(method, f"answer is not JSON ({self.rpc_url})") from exc

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One JSON-RPC call; raises :class:`RpcError` on an error answer."""
        answer = self._post(
            method, {"jsonrpc": "2.0", "id": self._ids(1), "method": method, "params": params}
        )
        if "error" in answer:
            raise RpcError(method, str(answer["error"].get("message", answer["error"])))
        return answer.get("result")

    def batch(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        """Many calls of one method, ``batch_size`` per HTTP request; results in input order."""
        out: list[Any] = []
        for start in range(0, len(params_list), self.batch_size):
            part = params_list[start : start + self.batch_size]
            first = self._ids(len(part))
            payload = [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": p}
                for i, p in enumerate(part)
            ]
            answer = self._post(method, payload)
            if isinstance(answer, dict):  # a node that refuses batches answers with one error
                raise RpcError(method, str(answer.get("error", answer)))
            by_id = {a.get("id"): a for a in answer}
            for i in range(len(part)):
                a = by_id.get(first + i)
                if a is None:
                    raise RpcError(method, f"no answer for request {i} of a batch")
                if "error" in a:
                    raise RpcError(method, str(a["error"].get("message", a["error"])))
                out.append(a["result"])
        return out

    # --- blocks ----------------------------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def header(self, number: int | str) -> dict[str, Any]:
        """Block header (``number``, ``hash``, ``parentHash`` ...) without transactions."""
        tag = _hex(number) if isinstance(number, int) else number
        result = self.call("eth_getBlockByNumber", [tag, False])
        if result is None:
            raise RpcError("eth_getBlockByNumber", f"block {number} does not exist")
        header: dict[str, Any] = result
        return header

    def headers(self, numbers: Iterable[int]) -> dict[int, dict[str, Any]]:
        nums = sorted(set(numbers))
        results = self.batch("eth_getBlockByNumber", [[_hex(n), False] for n in nums])
        out: dict[int, dict[str, Any]] = {}
        for n, r in zip(nums, results, strict=True):
            if r is None:
                raise RpcError("eth_getBlockByNumber", f"block {n} does not exist")
            out[n] = r
        return out

    def code_size(self, block: int | str = "latest") -> int:
        tag = _hex(block) if isinstance(block, int) else block
        code: str = self.call("eth_getCode", [self.address, tag])
        return (len(code) - 2) // 2

    def find_deployment_block(self, latest: int | None = None) -> int:
        """The first block at which the contract has code (binary search over eth_getCode).

        Needs historical state; a node that prunes it makes this fall back to block 0.
        """
        hi = self.block_number() if latest is None else latest
        if self.code_size(hi) == 0:
            raise VerificationError(f"no contract code at {self.address} in block {hi}")
        lo = 0
        try:
            while lo < hi:
                mid = (lo + hi) // 2
                if self.code_size(mid) > 0:
                    hi = mid
                else:
                    lo = mid + 1
        except RpcError:
            return 0
        return lo

    # --- logs ------------------------------------------------------------------------------------
    def entry_logs(
        self, from_block: int, to_block: int, accounts: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw ``EntryRecorded`` logs in [from_block, to_block], in chain order.

        A node that refuses the range (too many results, timeout) gets it in halves.
        """
        if from_block > to_block:
            return []
        flt = self._entry_filter(from_block, to_block, accounts)
        try:
            logs: list[dict[str, Any]] = self.call("eth_getLogs", [flt])
        except RpcError:
            if from_block == to_block:
                raise
            mid = (from_block + to_block) // 2
            return self.entry_logs(from_block, mid, accounts) + self.entry_logs(
                mid + 1, to_block, accounts
            )
        return logs

    def _entry_filter(
        self, from_block: int, to_block: int, accounts: Sequence[str] | None
    ) -> dict[str, Any]:
        """The ``eth_getLogs`` filter of this contract's ``EntryRecorded`` logs in a range."""
        topics: list[Any] = [ENTRY_TOPIC]
        if accounts is not None:
            topics.append([norm_account(a) for a in accounts])
        return {
            "address": self.address,
            "fromBlock": _hex(from_block),
            "toBlock": _hex(to_block),
            "topics": topics,
        }

    def entry_logs_text(
        self, from_block: int, to_block: int, accounts: Sequence[str] | None = None
    ) -> bytes | list[dict[str, Any]]:
        """Like :meth:`entry_logs`, but the node's answer as undecoded JSON bytes (decoding is
        left to the caller); an error answer is retried through :meth:`entry_logs`."""
        flt = self._entry_filter(from_block, to_block, accounts)
        payload = {"jsonrpc": "2.0", "id": self._ids(1), "method": "eth_getLogs", "params": [flt]}
        try:
            resp = self._http.post(self.rpc_url, json=payload)
            resp.raise_for_status()
            body = resp.content
        except httpx.HTTPError:
            return self.entry_logs(from_block, to_block, accounts)
        if b'"result"' not in body[:64]:
            return self.entry_logs(from_block, to_block, accounts)
        return body

    # --- contract state ---------------------------------------------------------------------------
    def _eth_call_params(self, data: Iterable[str], block: int) -> list[list[Any]]:
        tag = _hex(block)
        return [[{"to": self.address, "data": d}, tag] for d in data]

    def account_states(
        self, accounts: Sequence[str], block: int, *, per_call: int = 200
    ) -> dict[str, ChainAccount]:
        """``accountState`` and ``balancesOf`` of every account at ``block``.

        ``per_call`` accounts per ``eth_call`` of the state reader (see :data:`READER_SOURCE`);
        a node that refuses state overrides is asked per view and account (batched) instead.
        """
        accts = [norm_account(a) for a in accounts]
        if self.state_override is not False:
            try:
                out = self._account_states_reader(accts, block, per_call)
                self.state_override = True
                return out
            except RpcError:
                if self.state_override:  # it worked before: a real failure
                    raise
                self.state_override = False
        return self._account_states_plain(accts, block)

    def _account_states_reader(
        self, accts: list[str], block: int, per_call: int
    ) -> dict[str, ChainAccount]:
        tag = _hex(block)
        ledger_word = self.address[2:].lower().rjust(64, "0")
        override = {READER_ADDRESS: {"code": "0x" + READER_RUNTIME}}
        params: list[list[Any]] = []
        groups = [accts[i : i + per_call] for i in range(0, len(accts), per_call)]
        for group in groups:
            data = (
                "0x"
                + _SEL_READ
                + ledger_word
                + f"{64:064x}"
                + f"{len(group):064x}"
                + "".join(a[2:] for a in group)
            )
            gas = 100_000 + 60_000 * len(group)
            params.append([{"to": READER_ADDRESS, "data": data, "gas": _hex(gas)}, tag, override])
        results: list[str] = []
        step = max(1, 4_000 // per_call)  # about 4,000 accounts (1.5 MB of answer) per request
        for i in range(0, len(params), step):
            results.extend(self.batch("eth_call", params[i : i + step]))
        out: dict[str, ChainAccount] = {}
        for group, result in zip(groups, results, strict=True):
            if len(result) != 2 + (2 + _READER_WORDS * len(group)) * _W:
                raise RpcError("eth_call", f"unexpected state reader answer at block {block}")
            for k, a in enumerate(group):
                base = 2 + _READER_WORDS * k
                out[a] = ChainAccount(
                    count=_word_int(result, base),
                    head=_word_bytes(result, base + 1)[:HEAD_BYTES],
                    successor=_word_bytes(result, base + 2),
                    donation=_word_int(result, base + 3) != 0,
                    balances=tuple(_word_int(result, base + 4 + p) for p in range(8)),
                )
        return out

    def _account_states_plain(self, accts: list[str], block: int) -> dict[str, ChainAccount]:
        calls: list[str] = []
        for a in accts:
            calls.append(_SEL_ACCOUNT_STATE + a[2:])
            calls.append(_SEL_BALANCES_OF + a[2:])
        results = self.batch("eth_call", self._eth_call_params(calls, block))
        out: dict[str, ChainAccount] = {}
        for i, a in enumerate(accts):
            st, bal = results[2 * i], results[2 * i + 1]
            if len(st) < 2 + 4 * _W or len(bal) < 2 + 8 * _W:
                raise RpcError(
                    "eth_call",
                    f"short answer from {self.address} at block {block}: is it the ledger?",
                )
            out[a] = ChainAccount(
                count=_word_int(st, 0),
                head=_word_bytes(st, 1)[:HEAD_BYTES],
                successor=_word_bytes(st, 2),
                donation=_word_int(st, 3) != 0,
                balances=tuple(_word_int(bal, p) for p in range(8)),
            )
        return out

    def program_totals(self, block: int) -> dict[int, ProgramTotals]:
        """``programTotals(p)`` for every program at ``block``."""
        calls = [_SEL_PROGRAM_TOTALS + f"{p:064x}" for p in PROGRAMS]
        results = self.batch("eth_call", self._eth_call_params(calls, block))
        return {
            p: ProgramTotals(_word_int(r, 0), _word_int(r, 1), _word_int(r, 2))
            for p, r in zip(PROGRAMS, results, strict=True)
        }


# ------------------------------------------------------------------------------------------------
# fixed-width records: what the replay reads (cheap to slice, cheap to pass between processes)
# ------------------------------------------------------------------------------------------------

#: One record per log, 108 bytes: account(32) entry word(32) ref(32) block number(8) log
#: index(4), big-endian. The first 96 bytes are the hash-chain preimage after the previous head;
#: the last 12 (the chain position) compare as bytes in chain order.
REC = 108
_R_ENTRY = 32
_R_REF = 64
_R_POS = 96  # also the end of the preimage tail (account, entry, ref)

Records = tuple[bytes, int, list[Mapping[str, Any]]]
"""(records, how many, the logs that are not well-formed EntryRecorded logs)"""


def pack_records(logs: Iterable[Mapping[str, Any]]) -> Records:
    """Fixed-width :data:`REC` records of the well-formed ``EntryRecorded`` logs, in order."""
    parts: list[str] = []
    kept: list[Mapping[str, Any]] = []
    odd: list[Mapping[str, Any]] = []
    topic = ENTRY_TOPIC
    data_len = _DATA_LEN
    for log in logs:
        t = log["topics"]
        d = log["data"]
        if len(t) != 2 or t[0] != topic or len(d) != data_len or len(t[1]) != 66:
            odd.append(log)
            continue
        parts.append(
            f"{t[1][2:]}{d[2:]}{int(log['blockNumber'], 16):016x}{int(log['logIndex'], 16):08x}"
        )
        kept.append(log)
    try:
        return unhexlify("".join(parts)), len(parts), odd
    except ValueError:  # some log's words are not hex: find which
        good: list[bytes] = []
        for part, log in zip(parts, kept, strict=True):
            try:
                good.append(unhexlify(part))
            except ValueError:
                odd.append(log)
        return b"".join(good), len(good), odd


def decode_logs_text(text: str | bytes) -> list[dict[str, Any]]:
    """The logs of an ``eth_getLogs`` answer given as JSON text."""
    answer = json.loads(text)
    if "error" in answer:
        raise RpcError("eth_getLogs", str(answer["error"]))
    logs: list[dict[str, Any]] = answer["result"]
    return logs


# One pattern per field of the answer's logs, each matched all over the text in one C scan; the
# nth match of each is the nth log's (JSON-RPC logs are flat objects with one of each key).
_RE_ACCOUNT = re.compile(
    rb'"topics"\s*:\s*\[\s*"' + ENTRY_TOPIC.encode() + rb'"\s*,\s*"0x([0-9a-f]{64})"\s*\]'
)
_RE_DATA = re.compile(rb'"data"\s*:\s*"0x([0-9a-f]{128})"')
_RE_BLOCK = re.compile(rb'"blockNumber"\s*:\s*"0x([0-9a-f]{1,16})"')
_RE_INDEX = re.compile(rb'"logIndex"\s*:\s*"0x([0-9a-f]{1,8})"')


def pack_answer(text: bytes) -> Records:
    """:func:`pack_records` of an ``eth_getLogs`` answer given as JSON bytes, the same records
    without decoding the JSON when every log is a well-formed ``EntryRecorded`` log.

    The fast route finds each field of every log with one regular-expression scan and joins them
    into records without a Python loop. It is taken only if each field matched once per log
    (a match can only start at a key: the values are hex strings, booleans and the ``topics``
    array). Anything else (no logs, an error, other or malformed logs, escapes, upper-case hex)
    goes the reference route, ``json.loads`` and :func:`pack_records`, which also reports the
    logs that are not well-formed ``EntryRecorded`` logs.
    """
    n = text.count(b'"topics"')
    if n and b"\\" not in text:
        accounts = _RE_ACCOUNT.findall(text)
        if len(accounts) == n:
            datas = _RE_DATA.findall(text)
            blocks = _RE_BLOCK.findall(text)
            indexes = _RE_INDEX.findall(text)
            if len(datas) == len(blocks) == len(indexes) == n:
                zero = b"0"
                parts = zip(
                    accounts,
                    datas,
                    map(bytes.rjust, blocks, repeat(16, n), repeat(zero, n)),
                    map(bytes.rjust, indexes, repeat(8, n), repeat(zero, n)),
                    strict=True,
                )
                return unhexlify(b"".join(itertools.chain.from_iterable(parts))), n, []
    return pack_records(decode_logs_text(text))


def produce_records(
    rpc_url: str,
    address: str,
    from_block: int,
    to_block: int,
    chunk: int,
    accounts: Sequence[str] | None,
    target_logs: int,
    out: Any,
    pack: bool = True,
) -> None:
    """Fetch ``EntryRecorded`` logs range by range and put ``(first, last, payload)`` on ``out``
    (a thread or process queue), then ``None``; an error is put as ``("error", message)``.
    ``payload`` is the packed :data:`Records` (``pack``), else the answer's JSON text (or the
    decoded logs) for the consumer to decode on its own thread.

    Ranges hold at most ``chunk`` blocks; they start at 64 and adapt so one answer holds about
    ``target_logs`` logs (a dense chain packs thousands of entries into one block).
    """
    try:
        with RawLedgerReader(rpc_url, address) as rd:
            span = min(chunk, 64)
            a = from_block
            while a <= to_block:
                b = min(a + span - 1, to_block)
                got = rd.entry_logs_text(a, b, accounts)
                if pack:
                    packed = pack_answer(got) if isinstance(got, bytes) else pack_records(got)
                    n = packed[1] + len(packed[2])
                    out.put((a, b, packed))
                else:
                    n = got.count(b'"logIndex"') if isinstance(got, bytes) else len(got)
                    out.put((a, b, got))
                a = b + 1
                if n > target_logs:
                    span = max(1, span * target_logs // n)
                elif n < target_logs // 2:
                    span = min(chunk, span * 2)
        out.put(None)
    except Exception as exc:  # reported to the consumer, which raises it there
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def iter_records(
    rpc_url: str,
    address: str,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2_000,
    accounts: Sequence[str] | None = None,
    target_logs: int = 20_000,
    prefetch: int = 3,
    process: bool = False,
    pack: bool = False,
) -> Iterator[tuple[int, int, Records]]:
    """``(first, last, records)`` per block range, in order, fetched ahead of the consumer by
    :func:`produce_records` on a thread, or with ``process`` in a child process (it then reads
    the node's answers without competing for this process's GIL, so the node never waits).
    JSON decoding and packing happen here, unless ``pack`` moves them to the child process
    (worth it with cores to spare besides the node's and the replay's)."""
    if from_block > to_block:
        return
    args = (rpc_url, address, from_block, to_block, chunk, accounts, target_logs)
    worker: Any
    if process:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        q: Any = ctx.Queue(maxsize=max(1, prefetch))
        worker = ctx.Process(target=produce_records, args=(*args, q, pack), daemon=True)
    else:
        q = queue.Queue(maxsize=max(1, prefetch))
        worker = threading.Thread(target=produce_records, args=(*args, q, False), daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = q.get(timeout=1.0)
            except queue.Empty:
                if not worker.is_alive():  # died without a word (e.g. a failed spawn)
                    raise RpcError("eth_getLogs", "the log reader stopped unexpectedly") from None
                continue
            if item is None:
                return
            if item[0] == "error":
                raise RpcError("eth_getLogs", item[1])
            first, last, payload = item
            if isinstance(payload, bytes):
                payload = pack_answer(payload)
            elif isinstance(payload, list):
                payload = pack_records(payload)
            yield first, last, payload
    finally:
        if process and worker.is_alive():
            worker.terminate()
        elif not process:
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    worker.join(0.05)
        worker.join(5)


# ------------------------------------------------------------------------------------------------
# the pure check
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """One discrepancy: ``account`` (or ``program:<code>`` / ``trail``), what, and the values."""

    account: str
    field: str
    expected: str
    actual: str
    detail: str = ""

    def __str__(self) -> str:
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.account} {self.field}: expected {self.expected}, found {self.actual}{tail}"


@dataclass(slots=True)
class _Replay:
    """Running state of one account while its logs stream by."""

    seq: int = 0
    seen: int = 0
    head: bytes = ZERO_HEAD
    balances: list[int] = field(default_factory=lambda: [0] * 8)
    broken: bool = False


def make_keccak256(length: int, size: int = 32) -> Callable[[bytes], bytes]:
    """The first ``size`` bytes of keccak256 of inputs of exactly ``length`` bytes, with the
    least per-call overhead available (``size=HEAD_BYTES`` gives hash-chain heads).

    The replay hashes millions of 120-byte preimages, and the generic wrappers cost more than the
    hashing itself; this drives pycryptodome's C core (eth_hash's backend here) directly with one
    reusable state, loaded as a :class:`ctypes.PyDLL` so the three short C calls per hash keep the
    GIL (releasing it three times per event would let the log-reader thread in every time). The
    function is not thread-safe: make one per thread. Input of another length raises
    ``ValueError`` (the C code would read ``length`` bytes whatever it is given). Anything
    unexpected (another backend, changed internals, a wrong self-check) falls back to
    ``eth_hash``.
    """
    if not 0 < size <= 32 or length < 0:
        raise ValueError(f"bad keccak256 input length {length} or output size {size}")

    def portable(data: bytes) -> bytes:
        return keccak(data)[:size]

    probe = (bytes(range(256)) * (length // 256 + 1))[:length]
    for loader in (_keccak_pydll, _keccak_raw_api):
        try:
            fast = loader(length, size)
            if fast(probe) == portable(probe) and fast(probe[::-1]) == portable(probe[::-1]):
                return fast
        except Exception:  # this route is unusable here: try the next one
            continue
    return portable if size < 32 else keccak


def _keccak_pydll(length: int, size: int) -> Callable[[bytes], bytes]:
    """pycryptodome's keccak library loaded again with ``ctypes.PyDLL`` (GIL kept)."""
    import ctypes
    import importlib
    import weakref

    core: Any = importlib.import_module("Crypto.Hash.keccak")
    path = getattr(core._raw_keccak_lib, "_name", None)  # a ctypes CDLL (ctypes backend)
    if path is None:  # the cffi backend (cffi is installed, e.g. with `cryptography`)
        raw: Any = importlib.import_module("Crypto.Util._raw_api")
        files = [raw.pycryptodome_filename(["Crypto", "Hash"], f"_keccak{ext}")
                 for ext in raw.extension_suffixes]  # fmt: skip
        path = next(f for f in files if os.path.isfile(f))
    lib = ctypes.PyDLL(path)
    state = ctypes.c_void_p()
    if lib.keccak_init(ctypes.byref(state), ctypes.c_size_t(64), ctypes.c_ubyte(24)) or not state:
        raise RuntimeError("keccak_init failed")
    out = ctypes.create_string_buffer(32)

    fast = _keccak_call(lib, state, out, length, size)
    weakref.finalize(fast, lib.keccak_destroy, state)  # frees the C state with the function
    return fast


def _keccak_call(
    lib: Any, state: Any, out: Any, length: int, size: int
) -> Callable[[bytes], bytes]:
    """The hash function over an initialised keccak state of pycryptodome's library (either
    binding): exactly ``length`` input bytes, the first ``size`` bytes of the digest."""
    import ctypes

    n_in, n_out, pad = ctypes.c_size_t(length), ctypes.c_size_t(32), ctypes.c_ubyte(0x01)
    reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest

    def fast(data: bytes) -> bytes:
        if len(data) != length:
            raise ValueError(f"keccak input of {len(data)} bytes, not {length}")
        reset(state)
        absorb(state, data, n_in)
        digest(state, out, n_out, pad)
        return bytes(out.raw[:size])

    return fast


def _keccak_raw_api(length: int, size: int) -> Callable[[bytes], bytes]:
    """pycryptodome's keccak library through its own raw API (either backend)."""
    import importlib

    raw: Any = importlib.import_module("Crypto.Util._raw_api")
    core: Any = importlib.import_module("Crypto.Hash.keccak")
    lib = core._raw_keccak_lib
    c_size_t, c_ubyte = raw.c_size_t, raw.c_ubyte
    ptr = raw.VoidPointer()
    if lib.keccak_init(ptr.address_of(), c_size_t(64), c_ubyte(24)):
        raise RuntimeError("keccak_init failed")
    owner = raw.SmartPointer(ptr.get(), lib.keccak_destroy)
    state = owner.get()
    out = raw.create_string_buffer(32)

    fast = _keccak_call(lib, state, out, length, size)
    fast.owner = owner  # type: ignore[attr-defined]  # keeps the C state alive
    return fast


def preimage_tail(log: Mapping[str, Any]) -> bytes:
    """``abi.encodePacked(account, entry, ref)`` of a raw log (``topics[1]`` and ``data``): the
    hash-chain preimage without the previous head (see the module docstring)."""
    return bytes.fromhex(log["topics"][1][2:] + log["data"][2:])


class TrailChecker:
    """Replays raw ``EntryRecorded`` logs (JSON-RPC dicts, in chain order) per account.

    Feed logs with :meth:`feed` (any number of times, in chain order), then :meth:`finish` with
    the contract state to get every :class:`Mismatch`. Checks per log: it is a well-formed
    ``EntryRecorded`` log, it comes after the previous one (block, log index), its ``seq`` is the
    account's next, its entry word sets no bit outside the layout, its codes are known, and no
    balance goes below zero. Every head is computed (``bytes24(keccak256(previous head ‖ entry))``;
    the log carries none), so a missing, altered or reordered entry shows in :meth:`finish`, where
    the replayed head differs from the contract's. GRANT, CORRECTION and MERGE entries also go to
    :attr:`awards` (``bridge.audit_rules``): a correction not bound to its award is a mismatch.
    """

    def __init__(self, accounts: Iterable[str] | None = None) -> None:
        #: replay state per account (key: the 32-byte account id)
        self.accounts: dict[bytes, _Replay] = {}
        self.only = (
            None if accounts is None else {bytes.fromhex(norm_account(a)[2:]) for a in accounts}
        )
        self.mismatches: list[Mismatch] = []
        self.events = 0
        self.credited = [0] * 8
        self.debited = [0] * 8
        self.granted = [0] * 8
        self._last_pos = b""  # the last record's position bytes (block 8, log index 4)
        self._keccak = make_keccak256(PREIMAGE_BYTES, HEAD_BYTES)
        self._new: list[bytes] = []
        #: awards and the corrections bound to them (bridge/audit_rules.py)
        self.awards = AwardRules(complete=accounts is None)

    def take_new_accounts(self) -> list[str]:
        """Accounts first seen since the last call, as ``0x`` ids."""
        new, self._new = self._new, []
        return ["0x" + a.hex() for a in new]

    def account_ids(self) -> list[str]:
        """The replayed accounts, as ``0x`` ids."""
        return ["0x" + a.hex() for a in self.accounts]

    def _bad(self, account: str, fld: str, expected: object, actual: object, detail: str) -> None:
        self.mismatches.append(Mismatch(account, fld, str(expected), str(actual), detail))

    @staticmethod
    def _where(pos: bytes) -> str:
        return f"block {int.from_bytes(pos[:8])} log {int.from_bytes(pos[8:])}"

    def feed(self, logs: Iterable[Mapping[str, Any]]) -> None:
        """Check and replay raw JSON-RPC logs (in chain order)."""
        self.feed_records(pack_records(logs))

    def feed_records(self, packed: Records) -> None:
        """Check and replay packed logs (the hot loop: slices of one bytes, one keccak each)."""
        rec, count, odd = packed
        for log in odd:
            topics = log.get("topics") or ["-"]
            where = f"block {int(log['blockNumber'], 16)} log {int(log['logIndex'], 16)}"
            self._bad("trail", "log", "EntryRecorded", topics[0], where)
        accounts = self.accounts
        only = self.only
        credited, debited, granted = self.credited, self.debited, self.granted
        credit_kinds = CREDIT_KINDS
        known = KNOWN_KINDS
        grant = int(EntryKind.GRANT)
        correction = int(EntryKind.CORRECTION)
        merge_out, merge_in = int(EntryKind.MERGE_OUT), int(EntryKind.MERGE_IN)
        awards = self.awards
        keep_grant = awards.grants.setdefault
        m48, m96 = _M48, _M96
        last_pos = self._last_pos
        head_of = self._keccak
        from_bytes = int.from_bytes
        new = self._new
        n = 0
        for base in range(0, count * REC, REC):
            end = base + _R_POS
            pos = rec[end : base + REC]
            if pos <= last_pos:
                self._bad(
                    "trail",
                    "order",
                    f"after {self._where(last_pos)}" if last_pos else "the first log",
                    self._where(pos),
                    "logs are not in chain order (reordered or duplicated)",
                )
            last_pos = pos
            account = rec[base : base + _R_ENTRY]
            if only is not None and account not in only:
                continue
            st = accounts.get(account)
            if st is None:
                st = accounts[account] = _Replay()
                new.append(account)
            n += 1
            word = from_bytes(rec[base + _R_ENTRY : base + _R_REF])
            seq = word & m48
            if seq != st.seq + 1:
                self._bad(
                    "0x" + account.hex(),
                    "seq",
                    st.seq + 1,
                    seq,
                    f"{self._where(pos)}: entry missing, repeated or out of order",
                )
            st.head = head_of(st.head + rec[base:end])
            st.seq = seq
            st.seen += 1
            kind = word >> 48 & 255
            program = word >> 56 & 255
            amount = word >> 112
            if kind not in known or not 0 < program < 8 or amount > m96:
                self._bad(
                    "0x" + account.hex(),
                    "codes",
                    "known kind/program, no bit above 208",
                    f"{kind}/{program}" + ("" if amount <= m96 else f"/0x{word:064x}"),
                    f"{self._where(pos)} seq {seq}",
                )
                continue
            bal = st.balances
            if kind in credit_kinds:
                bal[program] += amount
                credited[program] += amount
                if kind == grant:
                    granted[program] += amount
                    # inline: one dict entry of two slices (bytes: nothing for the GC to track)
                    ref = rec[base + _R_REF : end]
                    kept = rec[base : base + _R_REF]
                    if keep_grant(ref, kept) is not kept:  # the award id was granted before
                        awards.grant(account, program, amount, ref, pos, seq)
                elif kind == merge_in:
                    awards.merge(account, rec[base + _R_REF : end], False)
            else:
                if kind == correction:
                    awards.correction(account, program, amount, rec[base + _R_REF : end], pos, seq)
                elif kind == merge_out:
                    awards.merge(account, rec[base + _R_REF : end], True)
                bal[program] -= amount
                debited[program] += amount
                if bal[program] < 0 and not st.broken:
                    st.broken = True
                    self._bad(
                        "0x" + account.hex(),
                        f"balance[{Program(program).name}]",
                        ">= 0",
                        bal[program],
                        f"{self._where(pos)} seq {seq}: debit exceeds the replayed balance",
                    )
        self._last_pos = last_pos
        self.events += n

    def finish(
        self,
        states: Mapping[str, ChainAccount],
        totals: Mapping[int, ProgramTotals] | None = None,
    ) -> list[Mismatch]:
        """Compare the replay with the contract state; returns every mismatch found so far.

        ``states`` must hold every replayed account (and may hold more, e.g. accounts asked for
        that have no log: their contract count must then be 0). ``totals`` (whole-ledger runs
        only) also catches accounts whose logs are missing altogether.
        """
        for account in sorted(set(self.account_ids()) | set(states)):
            st = self.accounts.get(bytes.fromhex(account[2:])) or _Replay()
            chain = states.get(account)
            if chain is None:
                self._bad(account, "state", "read", "missing", "no contract state was read")
                continue
            if chain.count != st.seen:
                self._bad(account, "count", chain.count, st.seen, "entries missing or extra")
            if chain.head != st.head:
                self._bad(
                    account,
                    "head",
                    "0x" + chain.head.hex(),
                    "0x" + st.head.hex(),
                    f"the {st.seen} logs do not hash to the contract's head: "
                    "an entry is missing, altered, extra or out of order",
                )
            for p in PROGRAMS:
                if chain.balances[p] != st.balances[p]:
                    self._bad(
                        account,
                        f"balance[{Program(p).name}]",
                        chain.balances[p],
                        st.balances[p],
                        "",
                    )
        self.mismatches.extend(
            Mismatch(f.account, f.field, f.expected, f.actual, f.detail)
            for f in self.awards.take_findings()
        )
        if totals is not None:
            for p, tot in totals.items():
                name = Program(p).name
                for fld, chain_v, mine in (
                    ("credited", tot.credited, self.credited[p]),
                    ("debited", tot.debited, self.debited[p]),
                    ("granted", tot.granted, self.granted[p]),
                ):
                    if chain_v != mine:
                        self._bad(f"program:{name}", fld, chain_v, mine, "programTotals")
        return self.mismatches


def verify_trail(
    logs: Iterable[Mapping[str, Any]],
    states: Mapping[str, ChainAccount],
    totals: Mapping[int, ProgramTotals] | None = None,
    accounts: Iterable[str] | None = None,
) -> list[Mismatch]:
    """Pure check of an event list against contract state (see :class:`TrailChecker`)."""
    checker = TrailChecker(accounts)
    checker.feed(logs)
    return checker.finish(states, totals)


# ------------------------------------------------------------------------------------------------
# the run against a node
# ------------------------------------------------------------------------------------------------


def _covers_all(rd: RawLedgerReader, from_block: int | None) -> bool:
    """Whether logs from ``from_block`` are all the contract ever emitted (no code before it)."""
    if from_block is None or from_block == 0:
        return True
    try:
        return rd.code_size(from_block - 1) == 0
    except RpcError:  # a node without that historical state: do not claim completeness
        return False


class _StateFetcher:
    """Reads the contract state of accounts at one block on a thread, while the logs are still
    being replayed (an account's final state does not depend on the replay)."""

    def __init__(self, rpc_url: str, address: str, block: int, group: int = 2_000) -> None:
        self.rpc_url, self.address, self.block, self.group = rpc_url, address, block, group
        self.results: dict[str, ChainAccount] = {}
        self.error: BaseException | None = None
        self._pending: list[str] = []
        self._q: queue.Queue[list[str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="state-reader", daemon=True)
        self._thread.start()

    def submit(self, accounts: list[str], flush: bool = False) -> None:
        self._pending.extend(accounts)
        if len(self._pending) >= self.group or (flush and self._pending):
            self._q.put(self._pending)
            self._pending = []

    def _run(self) -> None:
        with RawLedgerReader(self.rpc_url, self.address) as rd:
            while (item := self._q.get()) is not None:
                if self.error is None:
                    try:
                        self.results.update(rd.account_states(item, self.block))
                    except BaseException as exc:  # raised again by finish()
                        self.error = exc

    def abort(self) -> None:
        self.error = self.error or VerificationError("aborted")
        self._q.put(None)

    def finish(self) -> dict[str, ChainAccount]:
        self.submit([], flush=True)
        self._q.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.results


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_ledger`."""

    address: str
    block: int
    from_block: int
    accounts: int
    entries: int
    seconds: float
    fetch_seconds: float
    state_seconds: float
    mismatches: list[Mismatch]
    #: the GRANT entries replayed (``grant_of``; ``bridge.award_audit.unmatched_in_grants``)
    awards: AwardRules = field(default_factory=AwardRules)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def events_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.mismatches)} MISMATCH(ES)"
        return (
            f"ledger {self.address} at block {self.block} (events from block {self.from_block}): "
            f"{self.accounts} accounts, {self.entries} entries in {self.seconds:.2f}s "
            f"({self.events_per_second:,.0f} events/s; logs {self.fetch_seconds:.2f}s, "
            f"state tail {self.state_seconds:.2f}s): {verdict}"
        )


def verify_ledger(
    rpc_url: str,
    address: str,
    *,
    accounts: Sequence[str] | None = None,
    block: int | None = None,
    from_block: int | None = None,
    confirmations: int = 0,
    chunk: int = 2_000,
    progress: Callable[[int, int, int], None] | None = None,
    reader: RawLedgerReader | None = None,
    parallel: bool | None = None,
) -> VerifyReport:
    """Verify the ledger at ``address`` from chain data alone.

    ``accounts``: only these (else every account that has a log). ``block``: the block to check
    at (default: the head minus ``confirmations``). ``from_block``: where the logs start (default:
    the contract's deployment block, found by binary search over ``eth_getCode``).
    ``progress(block, last_block, entries)`` is called after each block range. ``parallel``:
    read the node's answers in a child process (default: with more than two cores and a range
    over 256 blocks; on two cores a thread does better, as the node needs the other core).
    """
    own = reader is None
    rd = reader or RawLedgerReader(rpc_url, address)
    try:
        t0 = time.perf_counter()
        head = rd.block_number()
        at = head - confirmations if block is None else block
        if at < 0 or at > head:
            raise VerificationError(f"block {at} is not between 0 and the head {head}")
        if rd.code_size(at) == 0:
            raise VerificationError(
                f"no contract code at {rd.address} in block {at}: wrong --contract or --rpc?"
            )
        start = rd.find_deployment_block(at) if from_block is None else from_block
        checker = TrailChecker(accounts)
        states_reader = _StateFetcher(rd.rpc_url, rd.address, at)
        fetch = 0.0
        t_wait = time.perf_counter()
        if parallel is None:
            parallel = (os.cpu_count() or 1) > 2 and at - start > 256
        try:
            for _a, b, packed in iter_records(
                rd.rpc_url,
                rd.address,
                start,
                at,
                chunk=chunk,
                accounts=accounts,
                process=parallel,
            ):
                fetch += time.perf_counter() - t_wait
                checker.feed_records(packed)
                states_reader.submit(checker.take_new_accounts())
                if progress is not None:
                    progress(b, at, checker.events)
                t_wait = time.perf_counter()
        except BaseException:
            states_reader.abort()
            raise
        t_state = time.perf_counter()
        wanted = set(checker.account_ids())
        if accounts is not None:
            extra = {norm_account(a) for a in accounts} - wanted
            states_reader.submit(sorted(extra), flush=True)
            wanted |= extra
        states = states_reader.finish()
        totals = rd.program_totals(at) if accounts is None and _covers_all(rd, from_block) else None
        state_seconds = time.perf_counter() - t_state
        mismatches = checker.finish(states, totals)
        # expiry reasons vs consent, refunds vs deductions (bridge.audit_refunds)
        complete = _covers_all(rd, from_block)
        mismatches += log_mismatches(rd, start, at, accounts, chunk, complete=complete)
        return VerifyReport(
            address=rd.address,
            block=at,
            from_block=start,
            accounts=len(wanted),
            entries=checker.events,
            seconds=time.perf_counter() - t0,
            fetch_seconds=fetch,
            state_seconds=state_seconds,
            mismatches=mismatches,
            awards=checker.awards,
        )
    finally:
        if own:
            rd.close()
