"""A citizen's mileage end to end, through the HTTP API only (api.client), on a real chain:

an operator submits awards → the bridge mirrors them on-chain → the wallet sees balances with
their anchor and a proof it verifies itself → an integrator converts to Seoul Mileage and spends
it on a gift certificate, following both to final → an auditor's trail and bundle verify offline
(`mileage audit verify-bundle`), and a doctored database row is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.client import (
    ErrorAnswer,
    MileageClient,
    ProofError,
    verify_balances,
    verify_bundle,
    verify_proof,
    verify_trail,
)
from ledger.adapters.orm import Account, Entry, Member
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.service.apikeys import create_api_key
from ledger.service.bike_accruals import pay
from tests.keyring import KEYS

pytestmark = [pytest.mark.chain]

CITIZEN = "0x" + "c1" * 32


def key(stack: Any, *scopes: str, account: str | None = None) -> str:
    return create_api_key(stack.sessions, f"e2e-{scopes[0]}", list(scopes), account).key


def test_citizen_journey(stack: Any, tmp_path: Path) -> None:
    with stack.sessions() as s, s.begin():
        s.add(Account(account_id=CITIZEN, citizen_id="e2e-citizen-1"))
        s.add(Member(program="CAR", member_id="CAR-1", account_id=CITIZEN))
        s.add(Member(program="BIKE", member_id="BIKE-1", account_id=CITIZEN))
    operator_car = MileageClient(stack.api_url, key(stack, "operator:CAR"))
    operator_bike = MileageClient(stack.api_url, key(stack, "operator:BIKE"))
    wallet = MileageClient(stack.api_url, key(stack, "wallet", account=CITIZEN))
    integrator = MileageClient(stack.api_url, key(stack, "integrator"))
    auditor = MileageClient(stack.api_url, key(stack, "auditor"))

    assert wallet.healthz()["status"] == "ok"
    # 1. awards (the same validation as feeds), sent twice: recorded once
    car = {
        "member_id": "CAR-1",
        "vehicle_id": "12가3456",
        "period_start": "2026-01",
        "period_end": "2026-06",
        "baseline_km": 8000,
        "actual_km": 5000,
        "seoul_registered": "true",
        "commercial": "false",
        "seats": 5,
    }
    out = operator_car.submit_awards("CAR", [car])
    assert out["recorded"] == 1 and out["results"][0]["amount"] == 70_000, out
    assert operator_car.submit_awards("CAR", [car])["already_recorded"] == 1
    bike = {
        "member_id": "BIKE-1",
        "month": "2026-05",
        "ride_days": 15,
        "ride_minutes": 500,
        "pass_365": True,
    }
    assert operator_bike.submit_awards("BIKE", [bike])["results"][0]["amount"] == 1_500
    # BIKE accrues (docs/rules.md §2.4); the payout of May makes it an award for the chain
    paid = pay(stack.sessions, Cadence.MONTHLY, YearMonth(2026, 5), KEYS.award)
    assert (paid.awards, paid.amount) == (1, 1_500)
    with pytest.raises(ErrorAnswer) as denied:
        operator_bike.submit_awards("CAR", [car])
    assert denied.value.status == 403
    stack.wait_rounds(2)

    # 2. the wallet: balances with their anchor, verified against a proof and a trusted hash
    b = wallet.balances(CITIZEN)
    assert b["total"] == 71_500 and b["seoul_mileage"] == 0
    trusted = stack.w3.eth.get_block(b["anchor"]["block_number"])["hash"].to_0x_hex()
    assert trusted == b["anchor"]["block_hash"]
    proven = verify_proof(wallet.proof(CITIZEN), CITIZEN, trusted_block_hash=trusted)
    verify_balances(b, proven)
    with pytest.raises(ErrorAnswer) as other:
        wallet.balances("0x" + "c2" * 32)
    assert other.value.status == 403

    # 3. integrator: convert CAR -> SEOUL (idempotent), then a gift certificate from SEOUL
    conv = integrator.convert(CITIZEN, "CAR", 50_000, idempotency_key="e2e-conv-1")
    assert (
        integrator.convert(CITIZEN, "CAR", 50_000, idempotency_key="e2e-conv-1")["id"] == conv["id"]
    )
    final = integrator.wait_final(conv)
    assert final["status"] == "final" and final["tx_hash"].startswith("0x")
    stack.wait_rounds(1)
    gift = integrator.deduct(
        CITIZEN, "SEOUL", 30_000, "GIFT_CERTIFICATE", "0x" + "9a" * 32, idempotency_key="e2e-gift-1"
    )
    assert integrator.wait_final(gift)["status"] == "final"
    with pytest.raises(ErrorAnswer) as poor:
        integrator.deduct(
            CITIZEN,
            "SEOUL",
            30_000,
            "GIFT_CERTIFICATE",
            "0x" + "9b" * 32,
            idempotency_key="e2e-gift-2",
        )
    assert poor.value.status == 409 and poor.value.details["amount"] == 30_000
    stack.wait_rounds(1)
    b = wallet.balances(CITIZEN)
    by = {x["program"]: x["balance"] for x in b["balances"]}
    assert by == {
        "ECO_HOUSEHOLD": 0,
        "ECO_ORG": 0,
        "CAR": 20_000,
        "BIKE": 1_500,
        "ECO_SEASON": 0,
        "CAR_SEASON": 0,
        "SEOUL": 20_000,
    }
    history = wallet.all_history(CITIZEN, limit=2)
    assert [e["kind"] for e in history] == [
        "DEDUCTION",
        "CONVERSION_IN",
        "CONVERSION_OUT",
        "GRANT",
        "GRANT",
    ]
    assert wallet.expiring(CITIZEN, days=30)["total"] == 0

    # 4. auditor: trail and an offline bundle, checked by the CLI against the trusted hash
    trail = auditor.trail(CITIZEN)
    assert trail["verdict"] == "ok" and trail["onchain"]["count"] == 5
    bundle = auditor.bundle(CITIZEN)
    trusted = stack.w3.eth.get_block(bundle["block_number"])["hash"].to_0x_hex()
    state = verify_bundle(bundle, trusted_block_hash=trusted)
    verify_trail(trail, state)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    from ledger.cli.audit import app as audit_app

    res = CliRunner().invoke(audit_app, ["verify-bundle", str(path), "--block-hash", trusted])
    assert res.exit_code == 0, res.output
    programs = auditor.programs()
    assert programs["verdict"] == "ok"

    # 5. the database is doctored: the API serves it, the client's checks reject it
    with stack.sessions() as s, s.begin():
        s.execute(
            sa.update(Entry)
            .where(Entry.account_id == CITIZEN, Entry.seq == 1)
            .values(amount=700_000)
        )
    assert auditor.trail(CITIZEN)["verdict"] == "broken"
    doctored = auditor.bundle(CITIZEN)
    with pytest.raises(ProofError):
        verify_bundle(doctored, trusted_block_hash=trusted)
    path.write_text(json.dumps(doctored))
    res = CliRunner().invoke(audit_app, ["verify-bundle", str(path)])
    assert res.exit_code == 1 and "INVALID" in res.output
    with pytest.raises(ProofError):
        verify_trail(auditor.trail(CITIZEN), state)
