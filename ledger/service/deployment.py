"""Deploy the ledger once per chain and record it; later runs reuse the recorded deployment."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.deploy import DeployedLedger, RoleHolders, deploy_ledger, has_code, load_program_limits
from bridge.signer import available_roles, load_signer
from ledger.adapters.orm import Deployment
from ledger.domain.codes import AWARDED_PROGRAMS
from ledger.service.runtime import Runtime


def role_addresses(rt: Runtime, admin_address: str) -> RoleHolders:
    """Holders of each role: the address in that role's keystore, else the admin's."""
    found: dict[str, str] = {}
    keydir = rt.settings.effective_keystore_dir
    for role in available_roles(rt.settings):
        address = json.loads((keydir / f"{role}.json").read_text()).get("address")
        if address:
            found[role] = "0x" + address.removeprefix("0x")
    issuers = {int(p): found.get(f"issuer-{p.name}", admin_address) for p in AWARDED_PROGRAMS}
    return RoleHolders(
        issuers=issuers,
        converter=found.get("converter", admin_address),
        spender=found.get("spender", admin_address),
        expirer=found.get("expirer", admin_address),
        corrector=found.get("admin", admin_address),
        registrar=found.get("registrar", admin_address),
        pauser=found.get("admin", admin_address),
    )


def current_deployment(rt: Runtime) -> Deployment | None:
    """The recorded deployment, if its contract is still on the chain (a reset chain has none)."""
    dep = rt.deployment()
    if dep is not None and has_code(rt.w3, dep.address):
        return dep
    return None


def ensure_deployment(
    rt: Runtime, *, programs_file: Path | None = None, admin_delay: int = 0, force: bool = False
) -> tuple[Deployment, bool]:
    """The deployment to use, deploying (and recording) one if there is none. Returns it and
    whether it was deployed now."""
    if not force and (dep := current_deployment(rt)) is not None:
        return dep, False
    admin = load_signer(rt.settings, "admin")
    deployed: DeployedLedger = deploy_ledger(
        rt.w3,
        admin.account.key.hex(),
        role_addresses(rt, admin.address),
        programs=load_program_limits(programs_file),
        admin_delay=admin_delay,
    )
    row = Deployment(
        chain_id=deployed.chain_id,
        address=deployed.address,
        block_number=deployed.block_number,
        block_hash=deployed.block_hash,
        abi_hash=deployed.abi_hash,
        deployer=deployed.deployer,
    )
    with rt.sessions() as s, s.begin():
        s.add(row)
    return row, True
