"""``mileage admin`` and ``mileage correct`` against a real anvil node and a real database (SQLite
and PostgreSQL): roles, multisig calldata, limits, budgets, routes, pausing (the bridge then
holds the grants back), unauthorised keys, and corrections of awards (partial, full, spent,
unknown, not yet on chain, not yet indexed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account
from web3 import Web3

from bridge.anvil import AnvilProcess
from bridge.client import hex32
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from bridge.txs import call_contract
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Award, CorrectionReason, Entry
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.service.corrections import reasons_by_tx
from ledger.service.runtime import Runtime
from ledger.service.witness import live_list_source
from ledger.settings import get_settings
from tests.integration.cli_helpers import acc, cli, cli_env, mirror, write
from tests.integration.conftest import ADMIN_KEY, SPARE_KEY, address_of

SPARE = Web3.to_checksum_address(address_of(SPARE_KEY))
ADMIN = address_of(ADMIN_KEY)


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnvilProcess]:
    with cli_env(db_url, tmp_path, monkeypatch, ADMIN_KEY, deploy=True) as node:
        yield node


def use_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("MILEAGE_PRIVATE_KEY", key)
    get_settings.cache_clear()


def test_admin_commands(env: AnvilProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    roles = cli("admin", "roles")
    assert f"default admin: {ADMIN}" in roles
    assert "issuer-CAR" in roles and "corrector" in roles and "pauser" in roles
    assert "MILEAGE_PRIVATE_KEY" in roles

    # Key rotation: grant the new issuer, (switch the bridge), revoke the old one.
    out = cli("admin", "grant-role", "--role", "issuer-car", "--address", SPARE.lower())
    assert "done: grant issuer-CAR to " + SPARE in out
    assert "unchanged" in cli("admin", "grant-role", "--role", "issuer-CAR", "--address", SPARE)
    assert "issuer-CAR" in cli("admin", "roles", "--address", SPARE)
    assert "done: revoke issuer-CAR from " + ADMIN in cli(
        "admin", "revoke-role", "--role", "issuer-3", "--address", ADMIN
    )
    holders = [ln.split() for ln in cli("admin", "roles").splitlines()]
    assert ["issuer-CAR", SPARE] in holders
    assert not any(h[:2] == ["issuer-CAR", ADMIN] for h in holders)
    assert "unknown role 'minter'" in cli(
        "admin", "grant-role", "--role", "minter", "--address", SPARE, code=1
    )

    # For a multisig: the transaction is printed, not sent (and simulated from the admin).
    out = cli("admin", "revoke-role", "--role", "issuer-CAR", "--address", SPARE, "--calldata")
    rt = Runtime.open(get_settings())
    client = rt.client
    assert f"to:    {client.address}" in out
    data = out.split("data:")[1].strip()
    assert data.startswith("0xd547741f")  # revokeRole(bytes32,address)
    assert "issuer-CAR" in cli("admin", "roles", "--address", SPARE)  # still held

    # Limits, budgets, routes.
    assert "max award 60,000" in cli(
        "admin", "set-limits", "--program", "CAR", "--max-award", "60000", "--annual-budget", "9"
    )
    assert cli("admin", "set-budget", "--program", "3", "--year", "2026", "--budget", "123456")
    assert "closed" in cli(
        "admin", "set-route", "--from", "BIKE", "--to", "SEOUL", "--numerator", "0"
    )
    cli(
        "admin",
        "set-route",
        "--from",
        "CAR",
        "--to",
        "BIKE",
        "--numerator",
        "1",
        "--denominator",
        "2",
    )
    assert client.route_of(3, 4) == (1, 2)
    assert "InvalidRoute" in cli(
        "admin", "set-route", "--from", "CAR", "--to", "CAR", "--numerator", "1", code=1
    )
    cfg = client.program_config(3)
    assert (cfg.max_award, cfg.annual_budget) == (60_000, 9)
    assert client.budget_of(3, 2026) == (123_456, 0)
    table = cli("admin", "programs", "--year", "2026")
    car = next(ln for ln in table.splitlines() if ln.startswith("CAR "))
    assert "60,000" in car and "123,456" in car and car.endswith("1:1")
    bike = next(ln for ln in table.splitlines() if ln.startswith("BIKE "))
    assert bike.endswith("closed")

    # Pausing (idempotent) and unpausing.
    assert "done: pause the ledger" in cli("admin", "pause")
    assert "unchanged" in cli("admin", "pause")
    assert "ledger: PAUSED" in cli("admin", "programs")
    assert "done: unpause the ledger" in cli("admin", "unpause")
    assert "no such" not in cli("admin", "pause", "--program", "BIKE")
    assert "PAUSED" in next(
        ln for ln in cli("admin", "programs").splitlines() if ln.startswith("BIKE ")
    )
    assert "(or its code 1..7)" in cli("admin", "pause", "--program", "boat", code=2)

    # A key without the roles: the contract's reason, decoded, and nothing sent.
    use_key(monkeypatch, SPARE_KEY)
    nonce = rt.w3.eth.get_transaction_count(SPARE)
    out = cli("admin", "grant-role", "--role", "spender", "--address", SPARE, code=1)
    assert "AccessControlUnauthorizedAccount" in out and f"signing key {SPARE}" in out
    assert "lacks the admin role" in out
    out = cli("admin", "unpause", "--program", "BIKE", code=1)
    assert "AccessControlUnauthorizedAccount" in out and "lacks the pauser role" in out
    assert "mileage admin grant-role --role pauser" in out
    assert "AccessControlUnauthorizedAccount" in cli(
        "admin", "set-budget", "--program", "CAR", "--year", "2026", "--budget", "1", code=1
    )
    assert rt.w3.eth.get_transaction_count(SPARE) == nonce
    rt.close()


MEMBERS = """
member_id,program,citizen_id,district,donation_consent,joined_at
V1,CAR,C1,Mapo-gu,false,2020-01-01
V2,CAR,C2,Jung-gu,false,2020-01-01
"""
CAR_2025 = """
member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,seoul_registered,commercial,seats
V1,11GA1111,2025-05,2025-10,6000,4500,true,false,5
V2,22NA2222,2025-05,2025-10,5000,4000,true,false,5
"""
CAR_2024 = """
member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,seoul_registered,commercial,seats
V1,11GA1111,2024-05,2024-10,6000,4500,true,false,5
"""


def awards_of(rt: Runtime, citizen: str) -> list[Award]:
    with rt.sessions() as s:
        rows = list(
            s.scalars(
                sa.select(Award)
                .where(Award.account_id == hex32(acc(citizen)))
                .order_by(Award.award_no)
            )
        )
        for r in rows:
            s.expunge(r)
        return rows


def test_pause_and_corrections(env: AnvilProcess, tmp_path: Path) -> None:
    cli("members", "import", str(write(tmp_path / "members.csv", MEMBERS)))
    cli("feeds", "import", "--program", "CAR", str(write(tmp_path / "car.csv", CAR_2025)))
    rt = Runtime.open(get_settings())
    client = rt.client
    (a1,) = awards_of(rt, "C1")
    (a2,) = awards_of(rt, "C2")
    assert a1.amount == a2.amount == 50_000

    # Not on chain yet: nothing to correct.
    out = cli("correct", str(a1.award_no), code=1)
    assert "is not on chain yet (status pending)" in out
    assert "unknown award '999'" in cli("correct", "999", code=1)

    # Paused program: the bridge holds the grants back (ProgramPaused), nothing is lost.
    cli("admin", "pause", "--program", "CAR")
    rep = Submitter(
        rt.sessions,
        client,
        signer_from_key(ADMIN_KEY),
        rt.settings,
        live_lists=live_list_source(client, rt.sessions),
    ).run_until_idle(timeout=20)
    assert any("ProgramPaused" in why for why in rep.blocked.values()), rep
    assert client.balance_of(acc("C1"), Program.CAR) == 0
    assert awards_of(rt, "C1")[0].status == "pending"
    cli("admin", "unpause", "--program", "CAR")
    mirror(rt, ADMIN_KEY)
    assert client.balance_of(acc("C1"), Program.CAR) == 50_000

    # Partial, then the rest by default (by award id), then nothing is left.
    out = cli("correct", str(a1.award_no), "--amount", "20000", "--reason", "double count")
    assert "reversed 20,000 of 50,000" in out and "30,000 of it left" in out
    assert client.balance_of(acc("C1"), Program.CAR) == 30_000
    assert "reversed 30,000 of 50,000" in cli("correct", a1.award_id)
    assert client.balance_of(acc("C1"), Program.CAR) == 0
    assert "already corrected in full" in cli("correct", str(a1.award_no), code=1)
    # The reason is kept by the correction's transaction and found from its indexed entry
    # (the audit trail's `note`); the correction without --reason has none.
    mirror(rt, ADMIN_KEY)
    with rt.sessions() as s:
        kept = s.execute(
            sa.select(CorrectionReason.award_no, CorrectionReason.amount, CorrectionReason.reason)
        ).all()
        assert kept == [(a1.award_no, 20_000, "double count")]
        entries = s.scalars(
            sa.select(Entry.tx_hash)
            .where(Entry.account_id == hex32(acc("C1")), Entry.kind == int(EntryKind.CORRECTION))
            .order_by(Entry.seq)
        ).all()
        assert len(entries) == 2
        assert reasons_by_tx(s, entries) == {entries[0].lower(): "double count"}

    # A spent award: only what is left unspent can be reversed.
    spender = Account.from_key(ADMIN_KEY)
    call_contract(
        rt.w3,
        spender,
        client.function(
            "deduct", acc("C2"), int(Program.CAR), 45_000, int(Reason.TAX_PAYMENT), b"\x01" * 32, []
        ),
        decode=client.decode_revert,
    )
    out = cli("correct", str(a2.award_no), code=1)
    assert "CorrectionExceedsRemaining" in out and "only 5,000 of the award remains" in out
    assert "pass --amount 5000" in out
    assert "more than what is left" in cli("correct", str(a2.award_no), "--amount", "60000", code=1)
    assert "reversed 5,000" in cli("correct", str(a2.award_no), "--amount", "5000")
    assert client.balance_of(acc("C2"), Program.CAR) == 0

    # An award on chain but not indexed yet: the GRANT's timestamp comes from the chain.
    cli("feeds", "import", "--program", "CAR", str(write(tmp_path / "car24.csv", CAR_2024)))
    Submitter(
        rt.sessions,
        client,
        signer_from_key(ADMIN_KEY),
        rt.settings,
        live_lists=live_list_source(client, rt.sessions),
    ).run_until_idle(timeout=20)
    a3 = awards_of(rt, "C1")[-1]
    with rt.sessions() as s:
        a3_state = s.scalar(sa.select(award_state_of()).where(Award.award_no == a3.award_no))
    assert a3_state in ("mined", "final") and a3.award_no != a1.award_no
    out = cli("correct", str(a3.award_no), "--amount", "1000")
    assert f"reversed 1,000 of {a3.amount:,}" in out
    assert client.balance_of(acc("C1"), Program.CAR) == a3.amount - 1000

    # After a merge, the award is corrected on the account it was merged into.
    cli("members", "merge", "--from-citizen", "C1", "--into-citizen", "C2")
    out = cli("correct", a3.award_id, "--amount", "500")
    assert f"was merged into {hex32(acc('C2'))}" in out and f"on account {hex32(acc('C2'))}" in out
    assert client.balance_of(acc("C2"), Program.CAR) == a3.amount - 1500

    # While paused, a correction is rejected with the contract's reason.
    cli("admin", "pause", "--program", "CAR")
    assert "ProgramPaused(program=3)" in cli("correct", str(a3.award_no), code=1)
    rt.close()


def test_correct_counts_only_its_own_programs_corrections(
    env: AnvilProcess, tmp_path: Path
) -> None:
    """Award numbers are per program: a correction of the same number in another program (here
    a forged ECO_ORG grant, reversed by the corrector) is not a correction of the CAR award."""
    cli("members", "import", str(write(tmp_path / "members.csv", MEMBERS)))
    cli("feeds", "import", "--program", "CAR", str(write(tmp_path / "car.csv", CAR_2025)))
    rt = Runtime.open(get_settings())
    client = rt.client
    mirror(rt, ADMIN_KEY)
    (a1,) = awards_of(rt, "C1")
    admin = Account.from_key(ADMIN_KEY)
    other, forged = acc("forger"), b"\xf0" * 32
    rcpt = call_contract(
        rt.w3,
        admin,
        client.function("grantBatch", int(Program.ECO_ORG), [(other, a1.award_no, 7_000, forged)]),
        decode=client.decode_revert,
    )
    assert client.is_award_recorded(int(Program.ECO_ORG), a1.award_no)
    granted_at = rt.w3.eth.get_block(rcpt["blockNumber"])["timestamp"]
    call_contract(
        rt.w3,
        admin,
        client.function(
            "correct", other, int(Program.ECO_ORG), a1.award_no, forged, granted_at, 7_000, []
        ),
        decode=client.decode_revert,
    )
    out = cli("correct", str(a1.award_no))
    assert "reversed 50,000 of 50,000" in out, out
    assert client.balance_of(acc("C1"), Program.CAR) == 0
    rt.close()
