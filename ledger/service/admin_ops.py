"""Administration of the ledger contract by its operators: roles, pauses, program limits, budgets,
conversion routes (``mileage admin``) and corrections of erroneous awards (``mileage correct``).

Every write is one transaction sent with :func:`bridge.txs.call_contract` after simulating it, so
a call the contract would reject fails *before* anything is sent, with the contract's custom error
explained (e.g. which role the signing key lacks). Writes that would change nothing (granting a
role the address already holds, pausing a paused program) send nothing: the commands can be
re-run safely from a runbook.

Keys: admin calls (roles, limits, budgets, routes) need ``DEFAULT_ADMIN_ROLE``, pausing needs
``PAUSER_ROLE`` and corrections ``CORRECTOR_ROLE``; ``mileage deploy`` grants the last two to the
admin key, so all of them are signed with the ``admin`` keystore (or ``MILEAGE_PRIVATE_KEY``).
Once the admin role belongs to a multisig, ``calldata=True`` returns the transaction (target and
data) for the multisig to propose instead of sending it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from bridge.client import EntryEvent, LedgerClient, hex32, to_bytes32
from bridge.errors import ContractRevert
from bridge.signer import available_roles, load_signer
from bridge.txs import call_contract
from ledger.adapters.orm import Award, ChainTx, Entry
from ledger.domain.codes import AWARDED_PROGRAMS, EntryKind, Program
from ledger.domain.errors import LedgerError
from ledger.service.corrections import keep_reason
from ledger.service.runtime import Runtime
from ledger.service.witness import live_lists

ZERO32 = b"\x00" * 32
ADMIN_ROLE_NAME = "admin"
#: CLI role name -> the contract's constant naming its role id.
ROLE_CONSTANTS: dict[str, str] = {
    "converter": "CONVERTER_ROLE",
    "spender": "SPENDER_ROLE",
    "expirer": "EXPIRER_ROLE",
    "corrector": "CORRECTOR_ROLE",
    "registrar": "REGISTRAR_ROLE",
    "pauser": "PAUSER_ROLE",
}
ROLE_HELP = "issuer-<PROGRAM> (e.g. issuer-CAR), " + ", ".join(ROLE_CONSTANTS)
ROLE_GRANTED_TOPIC = HexBytes(keccak(b"RoleGranted(bytes32,address,address)"))
ROLE_REVOKED_TOPIC = HexBytes(keccak(b"RoleRevoked(bytes32,address,address)"))
AWARD_CORRECTED_TOPIC = HexBytes(keccak(b"AwardCorrected(uint64,bytes32,uint8,uint96)"))
#: Largest block range asked of the node at once (shrunk when the node refuses a range).
LOG_SPAN = 50_000
#: Award states in which the award's grant is on chain.
ON_CHAIN_STATES = ("mined", "final")


class AdminError(LedgerError):
    """An administrative request is invalid, or the chain is not in the state it needs."""


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


def parse_program(value: str) -> Program:
    """A program from its name (``CAR``, any case) or code (``3``)."""
    text = value.strip()
    try:
        return Program(int(text)) if text.isdigit() else Program[text.upper()]
    except (KeyError, ValueError):
        names = ", ".join(p.name for p in Program)
        raise AdminError(f"unknown program {value!r}: one of {names} (or its code 1..7)") from None


def normalize_role(name: str) -> str:
    """The canonical role name: ``issuer-<PROGRAM NAME>`` or one of :data:`ROLE_CONSTANTS`."""
    text = name.strip()
    if text.lower().startswith("issuer-"):
        program = parse_program(text[len("issuer-") :])
        if program not in AWARDED_PROGRAMS:
            raise AdminError(f"{program.name} is never granted (only credited by conversion)")
        return f"issuer-{program.name}"
    if text.lower() in ROLE_CONSTANTS:
        return text.lower()
    raise AdminError(f"unknown role {name!r}: use {ROLE_HELP}")


def role_id(client: LedgerClient, name: str) -> bytes:
    """The contract's ``bytes32`` id of the role ``name`` (read from the contract)."""
    role = normalize_role(name)
    if role.startswith("issuer-"):
        return client.issuer_role(int(Program[role.removeprefix("issuer-")]))
    return client.role_id(ROLE_CONSTANTS[role])


def role_names(client: LedgerClient) -> dict[bytes, str]:
    """Every role id of the ledger -> its name (``admin`` for ``DEFAULT_ADMIN_ROLE``)."""
    names = {ZERO32: ADMIN_ROLE_NAME}
    for p in AWARDED_PROGRAMS:
        names[role_id(client, f"issuer-{p.name}")] = f"issuer-{p.name}"
    for role in ROLE_CONSTANTS:
        names[role_id(client, role)] = role
    return names


def local_keys(rt: Runtime) -> dict[str, list[str]]:
    """Addresses of the keys this host has (keystore files, read without decrypting, and
    ``MILEAGE_PRIVATE_KEY``) -> their key names, for annotating role holders."""
    found: dict[str, list[str]] = {}
    directory = rt.settings.effective_keystore_dir
    for role in available_roles(rt.settings):
        try:
            address = json.loads((directory / f"{role}.json").read_text()).get("address")
        except (OSError, ValueError):
            continue
        if address:
            found.setdefault("0x" + str(address).lower().removeprefix("0x"), []).append(role)
    if rt.settings.private_key is not None:
        dev = load_signer(rt.settings, ADMIN_ROLE_NAME).address.lower()
        found.setdefault(dev, []).append("MILEAGE_PRIVATE_KEY")
    return found


# --------------------------------------------------------------------------------------------
# sending
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What an administrative command did: sent a transaction, changed nothing, or (``--calldata``)
    produced the transaction for a multisig to propose."""

    action: str
    tx_hash: str | None = None
    block_number: int | None = None
    to: str | None = None
    calldata: str | None = None
    unchanged: bool = False


def describe(err: ContractRevert) -> str:
    """``ProgramPaused(program=3)``."""
    return f"{err.error}({', '.join(f'{k}={v}' for k, v in err.args_.items())})"


def explain(client: LedgerClient, err: ContractRevert, action: str) -> ContractRevert:
    """The same revert with a message an operator can act on."""
    detail = describe(err)
    if err.error == "AccessControlUnauthorizedAccount":
        account = Web3.to_checksum_address(str(err.args_.get("account")))
        needed = to_bytes32(str(err.args_.get("neededRole", "0x" + "00" * 32)))
        role = role_names(client).get(needed, hex32(needed))
        if role == ADMIN_ROLE_NAME:
            hint = (
                "sign with the DEFAULT_ADMIN_ROLE holder's key (`admin` keystore or "
                "MILEAGE_PRIVATE_KEY), or, if a multisig holds it, pass --calldata and propose "
                "the transaction there"
            )
        else:
            hint = f"grant it first: `mileage admin grant-role --role {role} --address {account}`"
        message = f"{action}: the signing key {account} lacks the {role} role ({detail}); {hint}"
    elif err.error == "CorrectionExceedsRemaining":
        message = (
            f"{action}: only {int(str(err.args_['remaining'])):,} of the award remains unspent "
            f"on chain ({detail}); the rest was spent, converted or expired"
        )
    else:
        message = f"{action}: the contract rejects it: {detail}"
    return ContractRevert(err.error, err.args_, message)


def _transact(
    rt: Runtime,
    call: tuple[str, Sequence[Any]],
    action: str,
    *,
    calldata: bool = False,
    simulate_from: str | None = None,
) -> Outcome:
    """Send the contract call ``(function name, args)`` with the admin key, or only encode it
    (``calldata``), simulated first from ``simulate_from`` (the multisig) when given."""
    client = rt.client
    name, args = call
    fn = client.function(name, *args)
    if calldata:
        if simulate_from is not None:
            try:
                fn.call({"from": simulate_from})
            except ContractCustomError as exc:
                raise explain(client, client.decode_revert(str(exc.data)), action) from exc
        data = client.call_data(name, *args)
        return Outcome(action, to=client.address, calldata="0x" + data.hex())
    signer = load_signer(rt.settings, ADMIN_ROLE_NAME)
    try:
        receipt = call_contract(
            rt.w3,
            signer.account,
            fn,
            gas_price=rt.settings.gas_price,
            decode=client.decode_revert,
        )
    except ContractRevert as err:
        raise explain(client, err, action) from err
    except ContractLogicError as exc:
        raise AdminError(f"{action}: the contract rejects it: {exc}") from exc
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    return Outcome(action, tx_hash=tx_hash, block_number=int(receipt["blockNumber"]))


def _default_admin(client: LedgerClient) -> str:
    return client.default_admin()


# --------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------


def _address(value: str) -> str:
    try:
        return str(Web3.to_checksum_address(value))
    except ValueError:
        raise AdminError(f"not an address: {value!r} (expected 0x and 40 hex digits)") from None


def grant_role(rt: Runtime, role: str, address: str, *, calldata: bool = False) -> Outcome:
    """``grantRole(role, address)`` (admin); nothing is sent if ``address`` holds it already."""
    client = rt.client
    name, addr = normalize_role(role), _address(address)
    rid = role_id(client, name)
    action = f"grant {name} to {addr}"
    if client.has_role(rid, addr):
        return Outcome(action, unchanged=True)
    return _transact(
        rt,
        ("grantRole", (rid, addr)),
        action,
        calldata=calldata,
        simulate_from=_default_admin(client),
    )


def revoke_role(rt: Runtime, role: str, address: str, *, calldata: bool = False) -> Outcome:
    """``revokeRole(role, address)`` (admin); nothing is sent if ``address`` does not hold it."""
    client = rt.client
    name, addr = normalize_role(role), _address(address)
    rid = role_id(client, name)
    action = f"revoke {name} from {addr}"
    if not client.has_role(rid, addr):
        return Outcome(action, unchanged=True)
    return _transact(
        rt,
        ("revokeRole", (rid, addr)),
        action,
        calldata=calldata,
        simulate_from=_default_admin(client),
    )


@dataclass(frozen=True)
class RoleHolder:
    role: str
    address: str
    keys: tuple[str, ...] = ()  # this host's key names for the address


def _deployment_block(rt: Runtime) -> int:
    dep = rt.deployment()
    if dep is not None and dep.address.lower() == rt.client.address.lower():
        return int(dep.block_number)
    return 0


def scan_logs(
    rt: Runtime, topics: Sequence[Any], from_block: int, to_block: int | None = None
) -> list[Any]:
    """Logs of the ledger contract matching ``topics`` in [from_block, to_block] (default: the
    head), asked in ranges the node accepts (Besu limits a range to 5,000 blocks by default)."""
    client = rt.client
    end = int(rt.w3.eth.block_number) if to_block is None else to_block
    out: list[Any] = []
    span, start = LOG_SPAN, from_block
    while start <= end:
        stop = min(end, start + span - 1)
        try:
            out.extend(
                rt.w3.eth.get_logs(
                    {
                        "address": client.address,
                        "fromBlock": start,
                        "toBlock": stop,
                        "topics": list(topics),
                    }
                )
            )
        except (Web3RPCError, ValueError):
            if span == 1:
                raise
            span = max(1, span // 4)
            continue
        start = stop + 1
    return out


def role_holders(
    rt: Runtime, addresses: Iterable[str] | None = None, *, from_block: int | None = None
) -> list[RoleHolder]:
    """Who holds which role now. With ``addresses``: ``hasRole`` of every role for each. Without:
    every (role, account) seen in ``RoleGranted``/``RoleRevoked`` events since the deployment
    (or ``from_block``), kept if ``hasRole`` still holds."""
    client = rt.client
    names = role_names(client)
    keys = local_keys(rt)
    pairs: list[tuple[bytes, str]] = []
    if addresses is not None:
        pairs = [(rid, _address(a)) for a in addresses for rid in names]
    else:
        start = _deployment_block(rt) if from_block is None else from_block
        seen: set[tuple[bytes, str]] = set()
        for lg in scan_logs(rt, [[ROLE_GRANTED_TOPIC, ROLE_REVOKED_TOPIC]], start):
            t = lg["topics"]
            pair = (bytes(t[1]), str(Web3.to_checksum_address(bytes(t[2])[12:])))
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    holders = [
        RoleHolder(names.get(rid, hex32(rid)), addr, tuple(keys.get(addr.lower(), [])))
        for rid, addr in pairs
        if client.has_role(rid, addr)
    ]
    order = {name: i for i, name in enumerate(names.values())}
    return sorted(holders, key=lambda h: (order.get(h.role, len(order)), h.role, h.address))


def pending_admin(rt: Runtime) -> tuple[str, str | None, int]:
    """(default admin, pending new admin or None, its earliest acceptance time)."""
    new, schedule = rt.client.pending_default_admin()
    zero = "0x" + "00" * 20
    return _default_admin(rt.client), (None if new.lower() == zero else str(new)), int(schedule)


# --------------------------------------------------------------------------------------------
# pause, limits, budgets, routes
# --------------------------------------------------------------------------------------------


def set_paused(
    rt: Runtime, program: Program | None, state: bool, *, calldata: bool = False
) -> Outcome:
    """Pause (``state``) or unpause everything (``program`` None) or one program (pauser)."""
    client = rt.client
    verb = "pause" if state else "unpause"
    if program is None:
        action, current = f"{verb} the ledger", client.paused()
        call: tuple[str, Sequence[Any]] = ("setPaused", (state,))
    else:
        action, current = f"{verb} {program.name}", client.program_config(int(program)).paused
        call = ("setProgramPaused", (int(program), state))
    if current == state and not calldata:
        return Outcome(action, unchanged=True)
    return _transact(rt, call, action, calldata=calldata)


def set_limits(
    rt: Runtime, program: Program, max_award: int, annual_budget: int, *, calldata: bool = False
) -> Outcome:
    """``setProgramLimits`` (admin): largest single award and default annual budget."""
    call = ("setProgramLimits", (int(program), max_award, annual_budget))
    action = f"set {program.name} limits: max award {max_award:,}, annual budget {annual_budget:,}"
    return _transact(rt, call, action, calldata=calldata, simulate_from=_default_admin(rt.client))


def set_budget(
    rt: Runtime, program: Program, year: int, budget: int, *, calldata: bool = False
) -> Outcome:
    """``setBudget`` (admin): the issuance budget of one fiscal year (calendar year, KST)."""
    if not 2000 <= year <= 2100:
        raise AdminError(f"fiscal year {year} is out of range (2000..2100)")
    call = ("setBudget", (int(program), year, budget))
    action = f"set {program.name} budget of {year}: {budget:,}"
    return _transact(rt, call, action, calldata=calldata, simulate_from=_default_admin(rt.client))


def set_route(
    rt: Runtime,
    source: Program,
    target: Program,
    numerator: int,
    denominator: int,
    *,
    calldata: bool = False,
) -> Outcome:
    """``setRoute`` (admin): open, change or (numerator 0) close a conversion route."""
    call = ("setRoute", (int(source), int(target), numerator, denominator))
    rate = "closed" if numerator == 0 else f"{numerator}:{denominator}"
    action = f"set route {source.name} -> {target.name} to {rate}"
    return _transact(rt, call, action, calldata=calldata, simulate_from=_default_admin(rt.client))


@dataclass(frozen=True)
class ProgramInfo:
    """One program as the contract sees it."""

    program: Program
    registered: bool
    paused: bool
    validity: int
    max_award: int
    annual_budget: int
    granted: int
    credited: int
    debited: int
    fiscal_year: int
    budget: int
    used: int
    to_seoul: tuple[int, int]

    @property
    def balance(self) -> int:
        """Sum of every account's balance (including lapsed, not yet expired mileage)."""
        return self.credited - self.debited


def programs(rt: Runtime, year: int | None = None) -> tuple[bool, list[ProgramInfo]]:
    """(ledger paused, every program's configuration, totals, budget of ``year`` (default: the
    current fiscal year) and route into SEOUL)."""
    client = rt.client
    out = []
    for p in Program:
        cfg = client.program_config(int(p))
        totals = client.program_totals(int(p))
        if year is None:
            fy, budget, used = client.current_budget(int(p))
        else:
            fy = year
            budget, used = client.budget_of(int(p), year)
        route = (0, 0) if p is Program.SEOUL else client.route_of(int(p), int(Program.SEOUL))
        out.append(
            ProgramInfo(
                p,
                cfg.registered,
                cfg.paused,
                cfg.validity,
                cfg.max_award,
                cfg.annual_budget,
                totals.granted,
                totals.credited,
                totals.debited,
                fy,
                budget,
                used,
                route,
            )
        )
    return client.paused(), out


# --------------------------------------------------------------------------------------------
# corrections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectionResult:
    """A correction sent: ``amount`` of award ``award_no`` reversed on ``account``."""

    award_no: int
    award_id: str
    program: Program
    award_account: str  # the account the award was granted to
    account: str  # the account debited: the award's, or its merge successor
    award_amount: int
    corrected_before: int
    amount: int
    granted_at: int
    tx_hash: str


def _find_award(rt: Runtime, award: str) -> Award:
    text = award.strip()
    with rt.sessions() as s:
        if text.isdigit():
            row = s.get(Award, int(text))
        else:
            try:
                key = hex32(to_bytes32(text)).lower()
            except ValueError:
                raise AdminError(
                    f"{award!r} is neither an award number nor a 0x award id (32 bytes)"
                ) from None
            row = s.scalars(sa.select(Award).where(Award.award_id == key)).first()
        if row is None:
            raise AdminError(f"unknown award {award!r}: no such award in the database")
        s.expunge(row)
        return row


def _grant_entry(rt: Runtime, award: Award) -> tuple[int, int]:
    """(timestamp, block) of the award's GRANT entry: from the entry index, else from the chain
    (the block of the award's transaction, else every block since the deployment)."""
    with rt.sessions() as s:
        hit = s.execute(
            sa.select(Entry.timestamp, Entry.block_number).where(
                Entry.account_id == award.account_id,
                Entry.kind == int(EntryKind.GRANT),
                Entry.ref == award.award_id,
            )
        ).first()
        tx_block = (
            s.scalar(sa.select(ChainTx.block_number).where(ChainTx.id == award.tx_id))
            if award.tx_id is not None
            else None
        )
    if hit is not None:
        return int(hit[0]), int(hit[1])
    client = rt.client
    account = to_bytes32(award.account_id)
    ref = to_bytes32(award.award_id)

    def grant(events: Iterable[EntryEvent]) -> EntryEvent | None:
        return next((e for e in events if e.kind == EntryKind.GRANT and e.ref == ref), None)

    found = grant(client.entry_logs(tx_block, tx_block, [account])) if tx_block else None
    if found is None:
        topics = [client.entry_topic, hex32(account)]
        logs = scan_logs(rt, topics, _deployment_block(rt))
        found = grant(client.decode_entry_log(lg) for lg in logs)
    if found is None:
        raise AdminError(
            f"award {award.award_no} is recorded on chain but its GRANT entry (ref "
            f"{award.award_id}) was not found on account {award.account_id}"
        )
    return found.timestamp, found.block_number


def _corrected_before(rt: Runtime, program: int, award_no: int, from_block: int) -> int:
    """The amount of ``program``'s award ``award_no`` already reversed (its ``AwardCorrected``
    events; numbers are per program, so another program's corrections of the number are not)."""
    topics = [AWARD_CORRECTED_TOPIC, "0x" + award_no.to_bytes(32, "big").hex()]
    total = 0
    for lg in scan_logs(rt, topics, from_block):
        corrected_program, amount = abi_decode(["uint8", "uint96"], bytes(lg["data"]))
        if int(corrected_program) == program:
            total += int(amount)
    return total


def _live_account(client: LedgerClient, account: bytes) -> bytes:
    """``account``, or the account it was (transitively) merged into."""
    for _ in range(256):
        successor = client.account_state(account).successor
        if successor == ZERO32:
            return account
        account = successor
    raise AdminError(f"merge chain of {hex32(account)} does not end")


def correct_award(
    rt: Runtime,
    award: str,
    amount: int | None = None,
    reason: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> CorrectionResult:
    """Reverse ``amount`` (default: all that is left of it) of an erroneous award by its number
    or id: ``correct(account or successor, program, awardNo, awardId, grantedAt, amount, live)``
    with the admin key (it holds ``CORRECTOR_ROLE`` after ``mileage deploy``); ``live`` is the
    position's live checkpoint list, built from the indexed entries (`IndexBehind` while the
    index is behind the chain). The contract records the award id as the CORRECTION entry's
    ref; it has no field for ``reason``, which is kept by the transaction's hash
    (ledger.service.corrections) and shown with the entry in the audit trail."""
    row = _find_award(rt, award)
    label = f"award {row.award_no} ({row.award_id})"
    if row.status == "failed":
        raise AdminError(f"{label} failed and was never granted ({row.error}): nothing to correct")
    if row.status not in ON_CHAIN_STATES:
        raise AdminError(
            f"{label} is not on chain yet (status {row.status}): let the bridge mine it "
            "(`mileage bridge run`), or fix it in the outbox instead"
        )
    client = rt.client
    program = Program[row.program]
    if not client.is_award_recorded(int(program), row.award_no):
        raise AdminError(f"{label} is {row.status} in the database but not recorded on chain")
    granted_at, block = _grant_entry(rt, row)
    before = _corrected_before(rt, int(program), row.award_no, block)
    left = row.amount - before
    if left <= 0:
        raise AdminError(f"{label} was already corrected in full ({before:,} reversed)")
    amount = left if amount is None else amount
    if amount <= 0:
        raise AdminError("the amount to reverse must be positive")
    if amount > left:
        raise AdminError(
            f"{label}: {amount:,} is more than what is left of it to correct: {left:,} "
            f"(awarded {row.amount:,}, corrected before {before:,})"
        )
    target = _live_account(client, to_bytes32(row.account_id))
    if progress is not None and hex32(target) != row.account_id:
        progress(f"account {row.account_id} was merged into {hex32(target)}: correcting there")
    # the target position's live checkpoints, from the index (IndexBehind: nothing is sent)
    live = live_lists(client, rt.sessions, hex32(target), [int(program)])[int(program)]
    args = (target, int(program), row.award_no, to_bytes32(row.award_id), granted_at, amount, live)
    try:
        outcome = _transact(rt, ("correct", args), f"correct {label} by {amount:,}")
    except ContractRevert as err:
        if err.error != "CorrectionExceedsRemaining":
            raise
        remaining = min(int(str(err.args_["remaining"])), left)
        hint = (
            f"; pass --amount {remaining} to reverse what remains"
            if remaining
            else "; nothing of it is left to reverse"
        )
        raise ContractRevert(err.error, err.args_, f"{err}{hint}") from err
    if reason and outcome.tx_hash:
        keep_reason(
            rt.sessions,
            tx_hash=outcome.tx_hash,
            award_no=row.award_no,
            award_id=row.award_id,
            amount=amount,
            reason=reason,
        )
    return CorrectionResult(
        award_no=row.award_no,
        award_id=row.award_id,
        program=program,
        award_account=row.account_id,
        account=hex32(target),
        award_amount=row.amount,
        corrected_before=before,
        amount=amount,
        granted_at=granted_at,
        tx_hash=outcome.tx_hash or "",
    )
