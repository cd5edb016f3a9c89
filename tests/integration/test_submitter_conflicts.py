"""Skipped awards (``AwardSkipped``): final only if the chain holds their GRANT, else ``conflict``.

The contract skips an award number it has already recorded. That is an idempotent resend when the
chain holds a GRANT entry of the same award (account, award id, amount, program); anything else
means another issuer key used the number for a different award, and the award was *not* granted.
The award numbers are pre-recorded with the SAME program's issuer key, so the tests hold whether
the contract keeps one global bitmap of award numbers or one per program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from submitter_helpers import award_rows, make_submitter, states
from typer.testing import CliRunner

from bridge.client import GrantItem, to_bytes32
from ledger.cli import bridge as bridge_cli
from ledger.domain.codes import EntryKind, Program
from ledger.settings import get_settings
from tests.keyring import set_key_env

pytestmark = pytest.mark.chain


def grant_directly(deployed: Any, program: str, items: list[GrantItem]) -> None:
    """Record awards with ``program``'s issuer key outside the bridge (another process with the
    same key, or an operator's script)."""
    w3 = deployed.w3
    acct = w3.eth.account.from_key(deployed.issuer_keys[program])
    data = deployed.client.grant_batch_data(int(Program[program]), items)
    tx = {
        "to": deployed.address,
        "data": "0x" + data.hex(),
        "gas": 2_000_000,
        "gasPrice": 0,
        "value": 0,
        "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
        "chainId": deployed.chain_id,
    }
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(h, timeout=30)["status"] == 1


def grants_of(deployed: Any, award_id: str) -> list[Any]:
    """GRANT entries on chain carrying ``award_id``."""
    head = deployed.w3.eth.block_number
    return [
        e
        for e in deployed.client.entry_logs(deployed.block_number, head)
        if e.kind == EntryKind.GRANT and "0x" + e.ref.hex() == award_id
    ]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_award_number_used_for_another_award_is_a_conflict_not_final(
    deployed: Any, session_factory: Any, seed: Any, db_url: str, monkeypatch: Any, tmp_path: Path
) -> None:
    nos = seed("CAR", [1_000, 2_000, 3_000, 4_000, 5_000, 6_000])
    rows = award_rows(session_factory)
    other = "0x" + "77" * 32
    same = rows[nos[1]]  # the identical award, recorded earlier: an idempotent resend
    wrong_amount = rows[nos[3]]  # same account and award id, another amount
    grant_directly(
        deployed,
        "CAR",
        [
            GrantItem(to_bytes32(other), nos[0], 500, b"\x01" * 32),  # another award's number
            GrantItem(to_bytes32(same.account_id), nos[1], same.amount, to_bytes32(same.award_id)),
            GrantItem(
                to_bytes32(wrong_amount.account_id),
                nos[3],
                wrong_amount.amount + 1,
                to_bytes32(wrong_amount.award_id),
            ),
        ],
    )
    before = sample("mileage_awards_conflict_total", program="CAR")

    rep = make_submitter(deployed, session_factory).run_until_idle(timeout=60)

    after = award_rows(session_factory)
    assert {n: after[n].status for n in nos} == {
        nos[0]: "conflict",
        nos[1]: "final",
        nos[2]: "final",
        nos[3]: "conflict",
        nos[4]: "final",
        nos[5]: "final",
    }
    assert rep.awards_skipped == 3
    assert rep.awards_mined == 4 and rep.awards_conflict == 2 and rep.txs_mined == 1
    assert "AwardSkipped" in (after[nos[0]].error or "")
    assert after[nos[0]].award_id in (after[nos[0]].error or "")
    assert sample("mileage_awards_conflict_total", program="CAR") == before + 2
    # the conflicting awards were not granted: no GRANT carries their award id and amount
    assert grants_of(deployed, rows[nos[0]].award_id) == []
    assert [e.amount for e in grants_of(deployed, wrong_amount.award_id)] == [
        wrong_amount.amount + 1
    ]
    assert len(grants_of(deployed, same.award_id)) == 1

    # a conflict is not retried: it waits for an operator
    again = make_submitter(deployed, session_factory).run_until_idle(timeout=30)
    assert again.txs_sent == 0
    assert states(session_factory) == {"final": 4, "conflict": 2}

    # `mileage bridge status` shows them and exits non-zero
    for var in (
        "MILEAGE_PRIVATE_KEY",
        "MILEAGE_KEYSTORE_PASSWORD",
        "MILEAGE_KEYSTORE_PASSWORD_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MILEAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MILEAGE_DATABASE_URL", db_url)
    monkeypatch.setenv("MILEAGE_RPC_URL", deployed.url)
    monkeypatch.setenv("MILEAGE_CONTRACT_ADDRESS", deployed.address)
    set_key_env(monkeypatch)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(bridge_cli.app, ["status", "--json"])
        assert res.exit_code == 1, res.output
        out = json.loads(res.stdout)
        assert {"program": "CAR", "state": "conflict", "count": 2} in out["awards"]
        assert out["conflicts"] == 2
        text = runner.invoke(bridge_cli.app, ["status"])
        assert text.exit_code == 1
        assert "conflict" in text.output and "2 awards in conflict" in text.output
    finally:
        get_settings.cache_clear()
