"""Deploy and configure MileageLedger: register the programs with their limits, grant roles.

Program limits: the largest single award of each program is the top of its award table, and the
annual budgets are the 2021 plan's incentive lines, each cited in ``docs/rules.md`` §4 (BIKE: the
pilot's 400 M KRW). Override them with a JSON file (``mileage deploy --programs FILE``) shaped like
:data:`DEFAULT_PROGRAMS`, or per fiscal year with ``mileage admin set-budget``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from bridge.compile import main_artifact
from bridge.txs import call_contract, send_and_wait

FIVE_YEARS = 1826 * 24 * 3600  # 5 years counted in days, leap days included

# program code -> (largest single award, annual budget); validity is FIVE_YEARS for all.
DEFAULT_PROGRAMS: dict[int, dict[str, int]] = {
    # 2021 plan 4-1, 사업비 "개인회원 3,800백만원"
    1: {"max_award": 50_000, "annual_budget": 3_800_000_000},  # ECO_HOUSEHOLD
    # 2021 plan 4-1, 사업비 "단체 499백만원"
    2: {"max_award": 10_000_000, "annual_budget": 499_000_000},  # ECO_ORG
    # 2021 plan 4-2, 사업비 "기타보상금 2,485백만원" (the incentive line, not the program's total)
    3: {"max_award": 70_000, "annual_budget": 2_485_000_000},  # CAR
    # 2021 plan 4-4, "시범운영 4억원" (1,200 M at full scale); max award: the monthly cap
    4: {"max_award": 2_000, "annual_budget": 400_000_000},  # BIKE
    # 2021 plan 4-6, "소요예산 550백만원(에코 250백만원, 승용차 300백만원)"
    5: {"max_award": 12_000, "annual_budget": 250_000_000},  # ECO_SEASON
    6: {"max_award": 10_000, "annual_budget": 300_000_000},  # CAR_SEASON
    7: {"max_award": 0, "annual_budget": 0},  # SEOUL: only by conversion
}


@dataclass(frozen=True)
class DeployedLedger:
    """Where the ledger was deployed."""

    address: str
    block_number: int
    block_hash: str
    abi_hash: str
    deployer: str
    chain_id: int


@dataclass(frozen=True)
class RoleHolders:
    """Addresses to receive the operational roles (the admin keeps the admin role)."""

    issuers: Mapping[int, str]  # program code -> issuer address
    converter: str
    spender: str
    expirer: str
    corrector: str
    registrar: str
    pauser: str


def load_program_limits(path: Path | None) -> dict[int, dict[str, int]]:
    if path is None:
        return DEFAULT_PROGRAMS
    raw: dict[str, dict[str, int]] = json.loads(path.read_text())
    return {int(k): v for k, v in raw.items()}


def deploy_ledger(
    w3: Web3,
    deployer_key: str,
    roles: RoleHolders,
    *,
    programs: Mapping[int, Mapping[str, int]] | None = None,
    admin_delay: int = 0,
    validity: int = FIVE_YEARS,
    gas_price: int = 0,
) -> DeployedLedger:
    """Deploy MileageLedger with the deployer as admin, register every program (each opens its
    1:1 route into SEOUL) and grant the operational roles. ``admin_delay`` is the two-step admin
    transfer delay in seconds (production: days; the admin should be a multisig). ``gas_price``
    is 0 on free-gas chains (anvil here, Besu with ``min-gas-price=0``)."""
    art = main_artifact()
    admin: LocalAccount = Account.from_key(deployer_key)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    tx = factory.constructor(admin.address, admin_delay).build_transaction(
        {
            "from": admin.address,
            "gasPrice": gas_price,
            "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
        }
    )
    receipt = send_and_wait(w3, admin, dict(tx), gas_price=gas_price)
    address = receipt["contractAddress"]
    ledger = w3.eth.contract(address=address, abi=art.abi)

    def call(fn: Any) -> None:
        call_contract(w3, admin, fn, gas_price=gas_price)

    for code, limits in sorted((programs or DEFAULT_PROGRAMS).items()):
        call(
            ledger.functions.registerProgram(
                code, validity, limits["max_award"], limits["annual_budget"]
            )
        )
    grants: list[tuple[bytes, str]] = [
        (ledger.functions.issuerRole(code).call(), addr) for code, addr in roles.issuers.items()
    ]
    for const, addr in (
        ("CONVERTER_ROLE", roles.converter),
        ("SPENDER_ROLE", roles.spender),
        ("EXPIRER_ROLE", roles.expirer),
        ("CORRECTOR_ROLE", roles.corrector),
        ("REGISTRAR_ROLE", roles.registrar),
        ("PAUSER_ROLE", roles.pauser),
    ):
        grants.append((getattr(ledger.functions, const)().call(), addr))
    for role, addr in grants:
        call(ledger.functions.grantRole(role, Web3.to_checksum_address(addr)))
    return DeployedLedger(
        address=address,
        block_number=receipt["blockNumber"],
        block_hash="0x" + bytes(receipt["blockHash"]).hex(),
        abi_hash=art.abi_hash,
        deployer=admin.address,
        chain_id=w3.eth.chain_id,
    )


def has_code(w3: Web3, address: str) -> bool:
    """True if a contract is deployed at ``address`` (a reset chain has none)."""
    return len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
