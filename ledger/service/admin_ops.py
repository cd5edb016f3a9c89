"""Administration of the ledger contract by its operators (``mileage admin``): roles, pauses,
program limits, budgets and conversion routes.

Writes go through :func:`ledger.service.admin_tx.transact` (simulated first, reverts explained,
or only encoded for a multisig with ``calldata=True``). Writes that would change nothing (granting
a role the address already holds, pausing a paused program) send nothing: the commands can be
re-run safely from a runbook.

Keys: admin calls (roles, limits, budgets, routes) need ``DEFAULT_ADMIN_ROLE`` and pausing needs
``PAUSER_ROLE``; ``mileage deploy`` grants the latter to the admin key, so all of them are signed
with the ``admin`` keystore (or ``MILEAGE_PRIVATE_KEY``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import Web3

from bridge.client import hex32
from bridge.signer import available_roles, load_signer
from ledger.domain.codes import Program
from ledger.service.admin_tx import (
    ADMIN_ROLE_NAME,
    AdminError,
    Outcome,
    default_admin,
    deployment_block,
    normalize_role,
    role_id,
    role_names,
    scan_logs,
    transact,
)
from ledger.service.runtime import Runtime

ROLE_GRANTED_TOPIC = HexBytes(keccak(b"RoleGranted(bytes32,address,address)"))
ROLE_REVOKED_TOPIC = HexBytes(keccak(b"RoleRevoked(bytes32,address,address)"))


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
# roles
# --------------------------------------------------------------------------------------------


def _address(value: str) -> str:
    try:
        return str(Web3.to_checksum_address(value))
    except ValueError:
        raise AdminError(f"not an address: {value!r} (expected 0x and 40 hex digits)") from None


def grant_role(rt: Runtime, role: str, address: str, *, calldata: bool = False) -> Outcome:
    """``grantRole(role, address)`` (admin); nothing is sent if ``address`` holds it already."""
    return _change_role(rt, role, address, grant=True, calldata=calldata)


def _change_role(rt: Runtime, role: str, address: str, *, grant: bool, calldata: bool) -> Outcome:
    client = rt.client
    name, addr = normalize_role(role), _address(address)
    rid = role_id(client, name)
    action = f"grant {name} to {addr}" if grant else f"revoke {name} from {addr}"
    if client.has_role(rid, addr) == grant:
        return Outcome(action, unchanged=True)
    return transact(
        rt,
        ("grantRole" if grant else "revokeRole", (rid, addr)),
        action,
        calldata=calldata,
        simulate_from=default_admin(client),
    )


def revoke_role(rt: Runtime, role: str, address: str, *, calldata: bool = False) -> Outcome:
    """``revokeRole(role, address)`` (admin); nothing is sent if ``address`` does not hold it."""
    return _change_role(rt, role, address, grant=False, calldata=calldata)


@dataclass(frozen=True)
class RoleHolder:
    role: str
    address: str
    keys: tuple[str, ...] = ()  # this host's key names for the address


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
        start = deployment_block(rt) if from_block is None else from_block
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
    return default_admin(rt.client), (None if new.lower() == zero else str(new)), int(schedule)


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
    return transact(rt, call, action, calldata=calldata)


def set_limits(
    rt: Runtime, program: Program, max_award: int, annual_budget: int, *, calldata: bool = False
) -> Outcome:
    """``setProgramLimits`` (admin): largest single award and default annual budget."""
    call = ("setProgramLimits", (int(program), max_award, annual_budget))
    action = f"set {program.name} limits: max award {max_award:,}, annual budget {annual_budget:,}"
    return transact(rt, call, action, calldata=calldata, simulate_from=default_admin(rt.client))


def set_budget(
    rt: Runtime, program: Program, year: int, budget: int, *, calldata: bool = False
) -> Outcome:
    """``setBudget`` (admin): the issuance budget of one fiscal year (calendar year, KST)."""
    if not 2000 <= year <= 2100:
        raise AdminError(f"fiscal year {year} is out of range (2000..2100)")
    call = ("setBudget", (int(program), year, budget))
    action = f"set {program.name} budget of {year}: {budget:,}"
    return transact(rt, call, action, calldata=calldata, simulate_from=default_admin(rt.client))


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
    return transact(rt, call, action, calldata=calldata, simulate_from=default_admin(rt.client))


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
