"""Helpers of the contract tests: deploy MileageLedger, register the 7 programs, grant every role
to anvil's dev accounts; transact, decode custom errors, replay hash chains, and build the live
checkpoint lists that expire, correct, merge and late spends take (`live_checkpoints`, the way
production builds them: a replay of the account's entries with ledger.domain.checkpoints).

`deploy_ledger` is the reference for what a production deploy does (bridge/deploy.py mirrors it;
contracts/README.md lists the calls).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD

from bridge.compile import main_artifact
from ledger.domain.checkpoints import (
    EntryView,
    PositionModel,
    PositionState,
    chain_root,
    replay_positions,
)

# Program codes (docs/DESIGN.md)
ECO_HOUSEHOLD, ECO_ORG, CAR, BIKE, ECO_SEASON, CAR_SEASON, SEOUL = range(1, 8)
PROGRAMS = (ECO_HOUSEHOLD, ECO_ORG, CAR, BIKE, ECO_SEASON, CAR_SEASON, SEOUL)
# Entry kinds
(
    GRANT,
    CONVERSION_OUT,
    CONVERSION_IN,
    DEDUCTION,
    EXPIRY,
    CORRECTION,
    MERGE_OUT,
    MERGE_IN,
    REFUND,
) = range(1, 10)
# Reasons
(
    NONE,
    R_CONVERSION,
    TAX_PAYMENT,
    CASH,
    GIFT_CERTIFICATE,
    APARTMENT_FEE,
    TRANSIT_CARD,
    ECO_PRODUCT,
    BIKE_PASS,
    DONATION,
    R_EXPIRY,
    R_EXPIRY_DONATION,
    R_CORRECTION,
    R_MERGE,
    CARD_POINTS,
) = range(15)

VALIDITY = 1826 * 86400  # 5 years = 1,826 days (the project's choice, contracts/README.md)
MAX_AWARD = {
    ECO_HOUSEHOLD: 50_000,
    ECO_ORG: 10_000_000,
    CAR: 70_000,
    BIKE: 16_000,
    ECO_SEASON: 12_000,
    CAR_SEASON: 10_000,
    SEOUL: 0,
}
BUDGET = 10**12
ADMIN_DELAY = 3 * 86400


@dataclass
class Roles:
    admin: str
    issuer: str  # issuer of every program but CAR
    car_issuer: str  # issuer of CAR only
    converter: str
    spender: str
    expirer: str
    corrector: str
    registrar: str
    pauser: str
    outsider: str

    def issuer_of(self, program: int) -> str:
        return self.car_issuer if program == CAR else self.issuer


def acct(label: str | int) -> bytes:
    """A pseudonymous account id for tests."""
    return keccak(text=f"test-account|{label}")


def award_id(n: int) -> bytes:
    return keccak(text=f"mileage-award|TEST|{n}")


def hex32(b: bytes) -> str:
    """A bytes32 as the model keys it (lower-case 0x-hex)."""
    return "0x" + bytes(b).hex()


def issuer_role(program: int) -> bytes:
    return keccak(b"MILEAGE_ISSUER" + bytes([program]))


ZERO_HEAD = b"\x00" * 24


def pack_entry(seq: int, kind: int, program: int, reason: int, timestamp: int, amount: int) -> int:
    """The EntryRecorded entry word (IMileageLedger.sol), packed independently of the contract."""
    assert seq < 1 << 48 and kind < 256 and program < 256 and reason < 256
    assert timestamp < 1 << 40 and amount < 1 << 96
    return seq | kind << 48 | program << 56 | reason << 64 | timestamp << 72 | amount << 112


def next_head(
    head: bytes,
    account: bytes,
    seq: int,
    kind: int,
    program: int,
    amount: int,
    reason: int,
    ref: bytes,
    timestamp: int,
) -> bytes:
    """docs/DESIGN.md's hash-chain step, computed independently of the contract:
    bytes24(keccak256(abi.encodePacked(bytes24 head, account, uint256 entry, ref)))."""
    assert len(head) == 24 and len(account) == 32 and len(ref) == 32
    entry = pack_entry(seq, kind, program, reason, timestamp, amount)
    return keccak(head + account + entry.to_bytes(32, "big") + ref)[:24]


@dataclass(frozen=True)
class EntryArgs:
    """The arguments of an EntryRecorded log, with the packed entry word unpacked."""

    account: bytes
    entry: int
    ref: bytes
    seq: int
    kind: int
    program: int
    reason: int
    timestamp: int
    amount: int


@dataclass(frozen=True)
class EntryLog:
    args: EntryArgs
    blockNumber: int
    logIndex: int


def unpack_log(log: Any) -> EntryLog:
    """An EntryRecorded log (as web3 decodes it) with its entry word unpacked."""
    w = int(log.args.entry)
    assert w >> 208 == 0, "bits above the entry layout are set"
    args = EntryArgs(
        account=bytes(log.args.account),
        entry=w,
        ref=bytes(log.args.ref),
        seq=w & ((1 << 48) - 1),
        kind=(w >> 48) & 0xFF,
        program=(w >> 56) & 0xFF,
        reason=(w >> 64) & 0xFF,
        timestamp=(w >> 72) & ((1 << 40) - 1),
        amount=w >> 112,
    )
    return EntryLog(args, int(log.blockNumber), int(log.logIndex))


def entry_logs(ledger: Ledger, from_block: int = 0) -> list[EntryLog]:
    """Every EntryRecorded log since `from_block`, unpacked, in chain order."""
    if from_block > ledger.w3.eth.block_number:
        return []  # nothing mined since (the node refuses a range past its head)
    logs = ledger.contract.events.EntryRecorded().get_logs(from_block=from_block)
    return sorted((unpack_log(lg) for lg in logs), key=lambda x: (x.blockNumber, x.logIndex))


@dataclass
class Ledger:
    """A deployed MileageLedger plus helpers to transact and to decode custom errors."""

    w3: Web3
    contract: Any
    roles: Roles
    errors: dict[bytes, tuple[str, list[str]]] = field(default_factory=dict)

    @property
    def fn(self) -> Any:
        return self.contract.functions

    def tx(self, name: str, *args: Any, sender: str, gas: int = 30_000_000) -> Any:
        """Send a transaction (no gas estimation) and return its receipt; fails on revert."""
        h = getattr(self.fn, name)(*args).transact({"from": sender, "gas": gas})
        rcpt = self.w3.eth.wait_for_transaction_receipt(h)
        if rcpt.status != 1:
            raise AssertionError(f"{name} reverted: {self.revert_of(name, *args, sender=sender)}")
        return rcpt

    def call(self, name: str, *args: Any, sender: str | None = None) -> Any:
        opts = {"from": sender} if sender else {}
        return getattr(self.fn, name)(*args).call(opts)

    def revert_of(self, name: str, *args: Any, sender: str) -> tuple[str, tuple[Any, ...]]:
        """The custom error (name, args) that `name(*args)` from `sender` reverts with."""
        try:
            getattr(self.fn, name)(*args).call({"from": sender})
        except ContractCustomError as exc:
            return self.decode_error(exc.data if isinstance(exc.data, str) else exc.args[0])
        except ContractLogicError as exc:
            return ("ContractLogicError", (str(exc),))
        raise AssertionError(f"{name}{args} did not revert")

    def decode_error(self, data: str) -> tuple[str, tuple[Any, ...]]:
        raw = bytes.fromhex(data.removeprefix("0x"))
        name, types = self.errors[raw[:4]]
        values = decode(types, raw[4:])
        return name, tuple(
            Web3.to_checksum_address(v) if t == "address" else v
            for t, v in zip(types, values, strict=True)
        )

    def expect(self, error: str, *expected: Any, call: tuple[Any, ...], sender: str) -> None:
        got = self.revert_of(*call, sender=sender)
        assert got[0] == error, got
        if expected:
            assert got[1] == tuple(expected), got

    def events(self, rcpt: Any, event: str) -> list[Any]:
        logs = list(getattr(self.contract.events, event)().process_receipt(rcpt, errors=DISCARD))
        return [unpack_log(lg) for lg in logs] if event == "EntryRecorded" else logs

    def grant(
        self, program: int, grants: list[tuple[bytes, int, int, bytes]], sender: str | None = None
    ) -> Any:
        return self.tx(
            "grantBatch", program, grants, sender=sender or self.roles.issuer_of(program)
        )

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def position(self, account: bytes, program: int) -> Position:
        """`positionOf`, named."""
        return Position(*(int(v) for v in self.call("positionOf", account, program)))

    def live(self, account: bytes, program: int) -> list[int]:
        """The live checkpoint list of (account, program), rebuilt from the entries and checked
        against the chain (see `live_checkpoints`)."""
        return live_checkpoints(self, account, program)

    def lives(self, account: bytes) -> list[list[int]]:
        """The 7 live lists of `account` (index program - 1), as mergeAccounts takes them."""
        logs = entry_logs(self)
        return [live_checkpoints(self, account, p, logs=logs) for p in PROGRAMS]

    def expirable_at(self, account: bytes, program: int, timestamp: int) -> int:
        """`expirableAt` with the live list built from the entries."""
        return int(
            self.call("expirableAt", account, program, timestamp, self.live(account, program))
        )

    def set_next_time(self, ts: int) -> None:
        self.w3.provider.make_request("anvil_setNextBlockTimestamp", [ts])

    def mine_at(self, ts: int) -> None:
        self.set_next_time(ts)
        self.w3.provider.make_request("evm_mine", [])


def _error_table(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            table[keccak(text=sig)[:4]] = (item["name"], types)
    return table


def deploy_ledger(w3: Web3) -> Ledger:
    """Deploy, register all programs, grant roles to anvil dev accounts."""
    art = main_artifact()
    a = w3.eth.accounts
    roles = Roles(
        admin=a[0],
        issuer=a[1],
        car_issuer=a[2],
        converter=a[3],
        spender=a[4],
        expirer=a[5],
        corrector=a[6],
        registrar=a[7],
        pauser=a[8],
        outsider=a[9],
    )
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    h = factory.constructor(roles.admin, ADMIN_DELAY).transact(
        {"from": roles.admin, "gas": 10_000_000}
    )
    rcpt = w3.eth.wait_for_transaction_receipt(h)
    assert rcpt.status == 1
    ledger = Ledger(
        w3, w3.eth.contract(address=rcpt.contractAddress, abi=art.abi), roles, _error_table(art.abi)
    )
    for p in PROGRAMS:
        ledger.tx("registerProgram", p, VALIDITY, MAX_AWARD[p], BUDGET, sender=roles.admin)
        ledger.tx("grantRole", issuer_role(p), roles.issuer_of(p), sender=roles.admin)
    for role, who in (
        ("CONVERTER_ROLE", roles.converter),
        ("SPENDER_ROLE", roles.spender),
        ("EXPIRER_ROLE", roles.expirer),
        ("CORRECTOR_ROLE", roles.corrector),
        ("REGISTRAR_ROLE", roles.registrar),
        ("PAUSER_ROLE", roles.pauser),
    ):
        ledger.tx("grantRole", ledger.call(role), who, sender=roles.admin)
    return ledger


def replay_heads(ledger: Ledger, from_block: int = 0) -> dict[bytes, tuple[int, bytes]]:
    """Recompute (count, head) of every account from EntryRecorded logs."""
    state: dict[bytes, tuple[int, bytes]] = {}
    for log in entry_logs(ledger, from_block):
        e = log.args
        count, head = state.get(e.account, (0, ZERO_HEAD))
        assert e.seq == count + 1
        head = next_head(
            head, e.account, e.seq, e.kind, e.program, e.amount, e.reason, e.ref, e.timestamp
        )
        state[e.account] = (e.seq, head)
    return state


# ---------------------------------------------------------------------------------------------
# Live checkpoint lists, built the way production builds them (ledger/service/witness.py):
# replay the account's EntryRecorded entries with ledger.domain.checkpoints, cut the list to the
# count the chain holds, and check it against the chain's root.
# ---------------------------------------------------------------------------------------------

M32 = (1 << 32) - 1
M40 = (1 << 40) - 1


#: `positionOf` (account, program), field by field.
Position = PositionState


def checkpoint(time: int, cumulative: int) -> int:
    """One live-list element, packed independently of the model: time | cumulative << 32."""
    assert 0 <= time <= M32 and 0 <= cumulative <= M40
    return time | cumulative << 32


def replayed_positions(
    ledger: Ledger, account: bytes, logs: list[EntryLog] | None = None
) -> Mapping[int, PositionModel]:
    """Every program's position of `account` replayed from the chain's EntryRecorded logs:
    grant times from every GRANT entry (any account, for corrections of merged-in awards),
    merge sources replayed likewise (recursively, for chains of merges)."""
    logs = entry_logs(ledger) if logs is None else logs
    by_account: dict[str, list[EntryView]] = defaultdict(list)
    grant_times: dict[str, int] = {}
    for log in logs:
        e = log.args
        by_account[hex32(e.account)].append(
            EntryView(e.seq, e.kind, e.program, e.amount, hex32(e.ref), e.timestamp)
        )
        if e.kind == GRANT:
            grant_times[hex32(e.ref)] = e.timestamp

    @cache
    def replay(acc: str) -> Mapping[int, PositionModel]:
        return replay_positions(by_account.get(acc, []), grant_times=grant_times, source=replay)

    return replay(hex32(account))


def position_model(
    ledger: Ledger, account: bytes, program: int, logs: list[EntryLog] | None = None
) -> tuple[PositionModel, list[int]]:
    """The replayed position of (account, program) and its live list, after checking them
    against the chain: the list's chain root is the stored root and, for an account not merged
    away, the model's amounts and newest time are the stored ones and the stored `oldest` is at
    or before the oldest unspent credit (nextExpiry is never later than the truth)."""
    model = replayed_positions(ledger, account, logs).get(program, PositionModel())
    chain = ledger.position(account, program)
    live = model.live(chain.live)
    assert chain_root(account, program, live) == chain.root, (
        f"the replayed live list of {account.hex()[:8]}/{program} does not give the chain's root",
        live,
        chain,
    )
    merged = ledger.call("accountState", account)[2] != b"\x00" * 32
    if not merged:
        assert (model.granted, model.debited, model.balance) == (
            chain.granted,
            chain.debited,
            chain.balance,
        ), (model, chain)
        if model.granted:
            assert model.last_time == chain.last_time, (model, chain)
        segments = model.segments()
        if segments:
            assert chain.oldest <= segments[0][0], (model, chain)
    return model, live


def live_checkpoints(
    ledger: Ledger, account: bytes, program: int, *, logs: list[EntryLog] | None = None
) -> list[int]:
    """The live list of (account, program) as production builds it: replay the account's
    entries (`replay_positions`), take the last `positionOf(...).live` checkpoints, and assert
    that their chain root is the stored root."""
    return position_model(ledger, account, program, logs)[1]
