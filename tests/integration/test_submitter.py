"""The submitter against a real anvil chain and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from submitter_helpers import award_rows, make_submitter, states

from bridge.client import to_bytes32
from ledger.adapters.orm import Award, ChainTx
from ledger.settings import Settings

pytestmark = pytest.mark.chain


def test_awards_land_once(deployed: Any, session_factory: Any, seed: Any) -> None:
    nos = seed("CAR", [1000 + i for i in range(120)])
    sub = make_submitter(deployed, session_factory)
    rep = sub.run_until_idle(timeout=60)
    assert states(session_factory) == {"final": 120}
    assert rep.txs_sent == 3 and rep.awards_mined == 120
    client = deployed.client
    with session_factory() as s:
        rows = s.scalars(sa.select(Award).order_by(Award.award_no)).all()
    for r in rows[:5]:
        assert client.balance_of(to_bytes32(r.account_id), 3) == r.amount
    assert all(client.is_award_recorded(3, n) for n in (nos[0], nos[-1]))


def test_batches_share_a_block_on_a_chain_with_a_block_period(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """With a block period (QBFT; here anvil's interval mining) the submitter fills every free
    in-flight slot before waiting, so several batches land in one block."""
    seed("CAR", [1000 + i for i in range(120)])
    rpc = deployed.w3.provider.make_request
    rpc("evm_setAutomine", [False])
    rpc("evm_setIntervalMining", [1])
    try:
        rep = make_submitter(deployed, session_factory, batch_size=30, max_inflight=4)
        report = rep.run_until_idle(timeout=60)
    finally:
        rpc("evm_setIntervalMining", [0])
        rpc("evm_setAutomine", [True])
    assert states(session_factory) == {"final": 120}
    assert report.txs_sent == 4 and report.awards_mined == 120
    with session_factory() as s:
        blocks = set(s.scalars(sa.select(ChainTx.block_number)))
    assert len(blocks) == 1, blocks


def test_bad_awards_are_isolated(deployed: Any, session_factory: Any, seed: Any) -> None:
    """Over the cap, into a merged account, past the budget: failed with the decoded reason; the
    rest of each batch lands."""
    client = deployed.client
    merged, successor = "0x" + "11" * 32, "0x" + "22" * 32
    deployed.admin_call(
        "mergeAccounts", to_bytes32(merged), to_bytes32(successor), [[]] * 7, [[]] * 7
    )
    amounts = [500] * 40
    amounts[3] = 70_001  # CAR's largest award is 70,000
    amounts[17] = 1_000_000
    nos = seed("CAR", amounts)
    merged_nos = seed("CAR", [700, 800], accounts=[merged], prefix="mm")
    year = client.fiscal_year_of(deployed.w3.eth.get_block("latest")["timestamp"])
    deployed.admin_call("setBudget", 3, year, 38 * 500 + 1510)  # the 38 good ones + the merged
    over = seed("CAR", [5000, 4000], prefix="ob")

    rep = make_submitter(deployed, session_factory, batch_size=100).run_until_idle(timeout=60)
    rows = award_rows(session_factory)
    failed = {n: r.error for n, r in rows.items() if r.status == "failed"}
    assert set(failed) == {nos[3], nos[17], *merged_nos, over[0], over[1]}
    assert failed[nos[3]].startswith("AwardTooLarge(") and "amount=70001" in failed[nos[3]]
    assert failed[merged_nos[0]].startswith("AccountMerged(")
    assert failed[over[0]].startswith("BudgetExceeded(") and "used=19000" in failed[over[0]]
    good = [n for n in nos if n not in failed]
    assert all(rows[n].status == "final" for n in good)
    assert rep.awards_failed == 6
    for n in good[:3]:
        assert client.balance_of(to_bytes32(rows[n].account_id), 3) == 500
    assert client.balance_of(to_bytes32(rows[nos[3]].account_id), 3) == 0


def test_a_batch_is_simulated_only_after_it_reverted(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """No simulation for a batch of awards that never failed; a batch with one bad award
    reverts on chain once, is isolated, and ends with the good awards granted exactly once and
    the bad one failed with its reason, never sent again."""
    client = deployed.client
    good = seed("CAR", [300] * 10, prefix="ok")
    rep = make_submitter(deployed, session_factory, batch_size=20).run_until_idle(timeout=60)
    assert rep.simulations == 0 and rep.txs_sent == 1 and states(session_factory) == {"final": 10}

    amounts = [400] * 12
    amounts[5] = 70_001  # over CAR's largest award: the contract reverts the whole batch
    nos = seed("CAR", amounts, prefix="bad")
    sub = make_submitter(deployed, session_factory, batch_size=20)
    rep = sub.run_until_idle(timeout=60)
    rows = award_rows(session_factory)
    bad = rows[nos[5]]
    assert bad.status == "failed" and bad.error.startswith("AwardTooLarge(")
    assert all(rows[n].status == "final" and rows[n].error is None for n in nos if n != nos[5])
    assert rep.txs_reverted == 1 and rep.simulations >= 1 and rep.awards_failed == 1
    with session_factory() as s:
        txs = s.execute(sa.select(ChainTx.status, sa.func.count()).group_by(ChainTx.status))
        assert dict(txs.all()) == {"final": 2, "failed": 1}
    # exactly once: every good award's GRANT is on chain once, the bad one's never
    assert all(client.is_award_recorded(3, n) for n in [*good, *nos] if n != nos[5])
    assert not client.is_award_recorded(3, nos[5])
    for n in nos[:3]:
        assert client.balance_of(to_bytes32(rows[n].account_id), 3) == 400
    assert sub.run_until_idle(timeout=10).txs_sent == 0  # nothing left, nothing resent


def test_already_recorded_awards_are_skipped_and_final(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    seed("BIKE", [100] * 10)
    make_submitter(deployed, session_factory, "BIKE").run_until_idle(timeout=60)
    # the database forgets the outcome (restored from a backup): all pending again
    with session_factory() as s, s.begin():
        s.execute(
            sa.update(Award).values(
                status="pending", tx_id=None, claimed_by=None, claimed_until=None
            )
        )
    rep = make_submitter(deployed, session_factory, "BIKE").run_until_idle(timeout=60)
    assert rep.awards_skipped == 10 and rep.awards_mined == 10
    assert states(session_factory) == {"final": 10}
    rows = award_rows(session_factory)
    acct = to_bytes32(next(iter(rows.values())).account_id)
    assert deployed.client.balance_of(acct, 4) == 100  # granted once


def test_signed_but_unsent_tx_is_resent_identically(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    """A crash between storing the signed transaction and sending it: the next process sends the
    stored bytes (same hash), it does not sign again."""
    seed("CAR", [100] * 5)
    sub = make_submitter(deployed, session_factory)
    sub.step  # noqa: B018
    sub._reconcile(__import__("bridge.submitter").submitter.StepReport())
    claimed = sub.outbox.claim_awards("CAR", 50)
    batch, gas, _, _ = sub.isolate("CAR", claimed)
    stored = sub.outbox.store_signed(
        sub.sender,
        "grant",
        "CAR",
        sub._sign_call(sub._grant_data("CAR", batch), gas * 2),
        award_nos=[a.award_no for a in batch],
    )
    assert states(session_factory) == {"signed": 5}
    # "crash": a new submitter (new process) takes over
    rep = make_submitter(deployed, session_factory).run_until_idle(timeout=60)
    assert states(session_factory) == {"final": 5}
    with session_factory() as s:
        txs = s.scalars(sa.select(ChainTx)).all()
    assert [t.tx_hash for t in txs] == [stored.tx_hash]
    assert rep.txs_sent == 1
    assert deployed.w3.eth.get_transaction(stored.tx_hash)["nonce"] == stored.nonce


def test_confirmations_make_awards_final_later(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    seed("CAR", [100] * 3)
    sub = make_submitter(deployed, session_factory, confirmations=3)
    sub.step()
    assert states(session_factory) == {"mined": 3}
    deployed.w3.provider.make_request("anvil_mine", [2])
    sub.step()
    assert states(session_factory) == {"mined": 3}
    deployed.w3.provider.make_request("anvil_mine", [1])
    sub.run_until_idle(timeout=30)
    assert states(session_factory) == {"final": 3}


def test_nonce_reconciled_after_external_use_of_the_key(
    deployed: Any, session_factory: Any, seed: Any
) -> None:
    seed("CAR", [100] * 3)
    sub = make_submitter(deployed, session_factory)
    sub.run_until_idle(timeout=30)
    # someone uses the key outside the bridge (two plain transfers)
    acct = sub.signer.account
    for _ in range(2):
        n = deployed.w3.eth.get_transaction_count(acct.address, "pending")
        tx = {
            "to": acct.address,
            "value": 0,
            "gas": 21000,
            "gasPrice": 0,
            "nonce": n,
            "chainId": deployed.chain_id,
        }
        deployed.w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    seed("CAR", [200] * 3, prefix="n")
    rep = make_submitter(deployed, session_factory).run_until_idle(timeout=30)
    assert rep.txs_replaced == 0 and states(session_factory) == {"final": 6}


def test_paused_program_waits_and_resumes(deployed: Any, session_factory: Any, seed: Any) -> None:
    seed("CAR", [100] * 4)
    deployed.admin_call("setProgramPaused", 3, True)
    sub = make_submitter(deployed, session_factory)
    rep = sub.run_until_idle(timeout=30)
    assert "CAR" in rep.blocked and "ProgramPaused" in rep.blocked["CAR"]
    assert states(session_factory) == {"pending": 4}
    deployed.admin_call("setProgramPaused", 3, False)
    sub._lane_wait.clear()
    sub.run_until_idle(timeout=30)
    assert states(session_factory) == {"final": 4}


def test_grant_calldata_matches_web3_encoding(deployed: Any, session_factory: Any) -> None:
    """The hand encoder (four static words per grant) equals web3's ABI encoder, including the
    largest values, and refuses what does not fit instead of encoding it."""
    import random

    from bridge.client import GrantItem, encode_grant_batch
    from bridge.outbox import ClaimedAward

    def web3_data(program: int, items: list[GrantItem]) -> bytes:
        args = [program, [(g.account, g.award_no, g.amount, g.award_id) for g in items]]
        return deployed.client.call_data("grantBatch", *args)

    sub = make_submitter(deployed, session_factory)
    awards = [
        ClaimedAward(7, "0x" + "ab" * 32, "0x" + "cd" * 32, 1234, "CAR"),
        ClaimedAward(9, "0x" + "01" * 32, "0x" + "02" * 32, 5, "CAR"),
    ]
    items = [
        GrantItem(to_bytes32(a.account_id), a.award_no, a.amount, to_bytes32(a.award_id))
        for a in awards
    ]
    assert sub._grant_data("CAR", awards) == web3_data(3, items)
    rng = random.Random(5)
    for n in (0, 1, 37):
        batch = [
            GrantItem(
                rng.randbytes(32), rng.randrange(1 << 64), rng.randrange(1 << 96), rng.randbytes(32)
            )
            for _ in range(n)
        ]
        batch.append(GrantItem(b"\xff" * 32, (1 << 64) - 1, (1 << 96) - 1, b"\x00" * 32))
        assert encode_grant_batch(255, batch) == web3_data(255, batch)
    for bad in (
        GrantItem(b"\x01" * 32, 1 << 64, 1, b"\x02" * 32),
        GrantItem(b"\x01" * 32, 1, 1 << 96, b"\x02" * 32),
        GrantItem(b"\x01" * 31, 1, 1, b"\x02" * 32),
        GrantItem(b"\x01" * 32, -1, 1, b"\x02" * 32),
    ):
        with pytest.raises(ValueError, match="award"):
            encode_grant_batch(3, [bad])
    with pytest.raises(ValueError, match="uint8"):
        encode_grant_batch(256, [])


def test_metrics_follow_the_outbox(deployed: Any, session_factory: Any, seed: Any) -> None:
    from prometheus_client import REGISTRY

    from bridge import metrics
    from bridge.outbox import queue_status

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    sent_before = sample("mileage_bridge_batches_sent_total", kind="grant", program="CAR")
    seed("CAR", [100] * 20 + [999_999])
    make_submitter(deployed, session_factory, batch_size=10).run_until_idle(timeout=30)
    # two good batches, and the third (the bad award alone) sent without a simulation: it
    # reverts on chain, after which the award is simulated and fails for good, never resent
    assert sample("mileage_bridge_batches_sent_total", kind="grant", program="CAR") == (
        sent_before + 3
    )
    assert sample("mileage_bridge_reverts_total", error="AwardTooLarge") >= 1
    assert sample("mileage_bridge_tx_latency_seconds_count", kind="grant") >= 2
    metrics.refresh_queue_gauges(queue_status(session_factory, chain_head=100))
    assert sample("mileage_awards", program="CAR", state="final") == 20
    assert sample("mileage_awards", program="CAR", state="failed") == 1
    assert sample("mileage_indexer_lag_blocks") == 100


def test_keystore_signer_round_trip(tmp_path: Any) -> None:
    from bridge.errors import SigningKeyError
    from bridge.signer import load_signer, write_keystore

    path, address = write_keystore(tmp_path, "spender", "pw", kdf="pbkdf2")
    settings = Settings(keystore_dir=tmp_path, keystore_password="pw")  # type: ignore[arg-type]
    signer = load_signer(settings, "spender")
    assert signer.address == address and "0x" not in repr(signer).replace(address, "")
    with pytest.raises(SigningKeyError, match="wrong password"):
        load_signer(Settings(keystore_dir=tmp_path, keystore_password="nope"), "spender")  # type: ignore[arg-type]
    with pytest.raises(SigningKeyError, match="keys new --role converter"):
        load_signer(settings, "converter")
    assert path.name == "spender.json"
