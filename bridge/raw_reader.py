"""Plain JSON-RPC reads of the ledger contract (no web3 formatting layer): the fast read side of
the indexer, reconciliation and the verifier.

:class:`RawLedgerReader` reads blocks, the raw ``EntryRecorded`` logs of the contract (as the
node serves them: ``topics`` and ``data`` hex strings) and the contract state of many accounts at
one block, in batched ``eth_call`` requests. The state of a whole group of accounts comes from
one call of the state reader contract (``contracts/audit/LedgerStateReader.sol``, compiled with
the rest; never deployed: its runtime code is placed at an unused address with a state override).

``EntryRecorded(bytes32 indexed account, uint256 entry, bytes32 ref)`` has one indexed topic and
two static data words: the packed entry word (``ledger.domain.hashchain.decode_entry``) and
``ref``. :data:`ENTRY_HEX` and :data:`REF_HEX` slice them out of a raw log's ``data``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from bridge.errors import VerificationError
from bridge.rpc import JsonRpc, NodeUnreachable, RpcError
from ledger.domain.codes import PROGRAM_CODES
from ledger.domain.hashchain import HEAD_BYTES

ENTRY_RECORDED_SIGNATURE = "EntryRecorded(bytes32,uint256,bytes32)"
ENTRY_TOPIC = "0x" + keccak(text=ENTRY_RECORDED_SIGNATURE).hex()
CONSENT_SIGNATURE = "DonationConsentSet(bytes32,bool)"
CONSENT_TOPIC = "0x" + keccak(text=CONSENT_SIGNATURE).hex()
PROGRAMS = PROGRAM_CODES  # 1..7

# Hex-string offsets in a raw log's ``data`` ("0x" + the entry word + ref, 64 hex digits each).
_W = 64
ENTRY_HEX = slice(2, 2 + _W)
REF_HEX = slice(2 + _W, 2 + 2 * _W)
DATA_HEX_LEN = 2 + 2 * _W

_SEL_ACCOUNT_STATE = "0x" + function_signature_to_4byte_selector("accountState(bytes32)").hex()
_SEL_BALANCES_OF = "0x" + function_signature_to_4byte_selector("balancesOf(bytes32)").hex()
_SEL_PROGRAM_TOTALS = "0x" + function_signature_to_4byte_selector("programTotals(uint8)").hex()
_SEL_READ = function_signature_to_4byte_selector("read(address,bytes32[])").hex()

READER_CONTRACT = "LedgerStateReader"
READER_ADDRESS = "0x000000000000000000000000000000005ea1e500"
_READER_WORDS = 12  # per account: count, head, successor, donation, balances[0..7]


@functools.cache
def reader_runtime() -> str:
    """Runtime code of the state reader (hex, ``0x``-prefixed), from the compiled contracts."""
    from bridge.compile import compile_contracts

    return compile_contracts()[READER_CONTRACT].runtime_bytecode


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


class RawLedgerReader(JsonRpc):
    """Plain JSON-RPC reads of the ledger contract at ``address`` on the node at ``rpc_url``
    (:class:`bridge.rpc.JsonRpc` for the transport and its options)."""

    def __init__(
        self,
        rpc_url: str,
        address: str,
        *,
        timeout: float = 120.0,
        batch_size: int = 500,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(rpc_url, timeout=timeout, batch_size=batch_size, http=http)
        self.address = to_checksum_address(address)
        #: whether the node accepts eth_call state overrides (None: not tried yet)
        self.state_override: bool | None = None

    def __enter__(self) -> RawLedgerReader:
        return self

    # --- blocks ----------------------------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def header(self, number: int | str) -> dict[str, Any]:
        """Block header (``number``, ``hash``, ``parentHash`` ...) without transactions."""
        tag = hex(number) if isinstance(number, int) else number
        result = self.call("eth_getBlockByNumber", [tag, False])
        if result is None:
            raise RpcError("eth_getBlockByNumber", f"block {number} does not exist")
        header: dict[str, Any] = result
        return header

    def headers(self, numbers: Iterable[int]) -> dict[int, dict[str, Any]]:
        nums = sorted(set(numbers))
        results = self.batch("eth_getBlockByNumber", [[hex(n), False] for n in nums])
        out: dict[int, dict[str, Any]] = {}
        for n, r in zip(nums, results, strict=True):
            if r is None:
                raise RpcError("eth_getBlockByNumber", f"block {n} does not exist")
            out[n] = r
        return out

    def code_size(self, block: int | str = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
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
        self,
        from_block: int,
        to_block: int,
        accounts: Sequence[str] | None = None,
        *,
        consent: bool = False,
    ) -> list[dict[str, Any]]:
        """Raw ``EntryRecorded`` logs in [from_block, to_block], in chain order; with
        ``consent`` the ``DonationConsentSet`` logs too, in the same order.

        A node that refuses the range (too many results, timeout) gets it in halves.
        """
        if from_block > to_block:
            return []
        flt = self._entry_filter(from_block, to_block, accounts, consent)
        try:
            logs: list[dict[str, Any]] = self.call("eth_getLogs", [flt])
        except RpcError:
            if from_block == to_block:
                raise
            mid = (from_block + to_block) // 2
            return self.entry_logs(from_block, mid, accounts, consent=consent) + self.entry_logs(
                mid + 1, to_block, accounts, consent=consent
            )
        return logs

    def _entry_filter(
        self,
        from_block: int,
        to_block: int,
        accounts: Sequence[str] | None,
        consent: bool = False,
    ) -> dict[str, Any]:
        """The ``eth_getLogs`` filter of this contract's ``EntryRecorded`` logs in a range (and
        its ``DonationConsentSet`` logs with ``consent``)."""
        topics: list[Any] = [[ENTRY_TOPIC, CONSENT_TOPIC] if consent else ENTRY_TOPIC]
        if accounts is not None:
            topics.append([norm_account(a) for a in accounts])
        return {
            "address": self.address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": topics,
        }

    def entry_logs_text(
        self,
        from_block: int,
        to_block: int,
        accounts: Sequence[str] | None = None,
        *,
        consent: bool = False,
    ) -> bytes | list[dict[str, Any]]:
        """Like :meth:`entry_logs`, but the node's answer as undecoded JSON bytes (decoding is
        left to the caller); an error answer is retried through :meth:`entry_logs`."""
        flt = self._entry_filter(from_block, to_block, accounts, consent)
        payload = {"jsonrpc": "2.0", "id": self.ids(1), "method": "eth_getLogs", "params": [flt]}
        try:
            body = self.post_raw("eth_getLogs", payload)
        except NodeUnreachable:
            return self.entry_logs(from_block, to_block, accounts, consent=consent)
        if b'"result"' not in body[:64]:
            return self.entry_logs(from_block, to_block, accounts, consent=consent)
        return body

    # --- contract state ---------------------------------------------------------------------------
    def _eth_call_params(self, data: Iterable[str], block: int) -> list[list[Any]]:
        tag = hex(block)
        return [[{"to": self.address, "data": d}, tag] for d in data]

    def account_states(
        self, accounts: Sequence[str], block: int, *, per_call: int = 200
    ) -> dict[str, ChainAccount]:
        """``accountState`` and ``balancesOf`` of every account at ``block``.

        ``per_call`` accounts per ``eth_call`` of the state reader (see the module docstring);
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
        tag = hex(block)
        ledger_word = self.address[2:].lower().rjust(64, "0")
        override = {READER_ADDRESS: {"code": reader_runtime()}}
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
            params.append([{"to": READER_ADDRESS, "data": data, "gas": hex(gas)}, tag, override])
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
