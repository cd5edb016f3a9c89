"""Administrative transactions on the ledger contract: role names, sending, explaining reverts.

What `mileage admin` (ledger.service.admin_ops) and `mileage correct` (ledger.service.corrections)
share. Every write is one transaction sent with :func:`bridge.txs.call_contract` after simulating
it, so a call the contract would reject fails *before* anything is sent, with the contract's
custom error explained (e.g. which role the signing key lacks). Once the admin role belongs to a
multisig, ``calldata=True`` returns the transaction (target and data) for the multisig to propose
instead of sending it. Event scans go in block ranges the node accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from bridge.client import LedgerClient, hex32, to_bytes32
from bridge.errors import ContractRevert
from bridge.signer import load_signer
from bridge.steps import describe
from bridge.txs import call_contract
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.errors import LedgerError, UnknownProgramName
from ledger.service.runtime import Runtime

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
#: Largest block range asked of the node at once (shrunk when the node refuses a range).
LOG_SPAN = 50_000


class AdminError(LedgerError):
    """An administrative request is invalid, or the chain is not in the state it needs."""


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


def parse_program(value: str) -> Program:
    """A program from its name (``CAR``, any case) or code (``3``)."""
    text = value.strip()
    try:
        return Program(int(text)) if text.isdigit() else Program.parse(text)
    except (UnknownProgramName, ValueError):
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
        return client.issuer_role(int(Program.parse(role.removeprefix("issuer-"))))
    return client.role_id(ROLE_CONSTANTS[role])


def role_names(client: LedgerClient) -> dict[bytes, str]:
    """Every role id of the ledger -> its name (``admin`` for ``DEFAULT_ADMIN_ROLE``)."""
    names = {ZERO32: ADMIN_ROLE_NAME}
    for p in AWARDED_PROGRAMS:
        names[role_id(client, f"issuer-{p.name}")] = f"issuer-{p.name}"
    for role in ROLE_CONSTANTS:
        names[role_id(client, role)] = role
    return names


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


def transact(
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


def default_admin(client: LedgerClient) -> str:
    return client.default_admin()


def deployment_block(rt: Runtime) -> int:
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
