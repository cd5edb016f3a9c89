"""Live checkpoints end to end, against a real anvil node and a real database (SQLite and
PostgreSQL): accounts granted at two dates keep the older credit off-chain (count and root only);
the expiry run, a correction, a merge and a late deduction through the submitter all send the
lists built from the indexed entries, and an index behind the chain defers instead of failing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridge.anvil import AnvilProcess
from bridge.client import to_bytes32
from bridge.indexer import Indexer
from bridge.signer import signer_from_key
from bridge.submitter import Submitter
from ledger.adapters.award_state import award_state_of
from ledger.adapters.orm import Operation
from ledger.domain.codes import EntryKind, Program
from ledger.service.runtime import Runtime
from ledger.service.witness import live_list_source, live_lists
from ledger.settings import get_settings
from tests.integration.cli_helpers import cli, cli_env, mirror
from tests.integration.conftest import ADMIN_KEY, account_id_for, seed_awards

CAR = int(Program.CAR)
DAY = 86_400
VALIDITY_DAYS = 1826  # 5 years (docs/PROGRAM_RULES.md)
A, B, C, D, E = (account_id_for(f"live-{n}") for n in "ABCDE")


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnvilProcess]:
    with cli_env(db_url, tmp_path, monkeypatch, ADMIN_KEY, deploy=True) as node:
        yield node


def travel(rt: Runtime, days: int) -> None:
    rt.w3.provider.make_request("evm_increaseTime", [days * DAY])  # type: ignore[arg-type]
    rt.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def index(rt: Runtime) -> None:
    dep = rt.deployment()
    assert dep is not None
    Indexer(rt.sessions, rt.client, dep.block_number, 0).run_until_head()


def citizen(account: str) -> str:
    """The citizen id `seed_awards` registers for ``account``."""
    return f"citizen:{account[2:]}"


def test_expiry_correction_merge_and_late_deduction_send_live_lists(
    env: AnvilProcess,
) -> None:
    rt = Runtime.open(get_settings())
    client = rt.client

    def balance(account: str) -> int:
        return int(client.balance_of(to_bytes32(account), CAR))

    def live(account: str) -> int:
        return client.position_of(to_bytes32(account), CAR).live

    # Two grant dates 400 days apart: the older credit becomes a live checkpoint.
    first = seed_awards(
        rt.sessions,
        "CAR",
        [10_000, 4_000, 3_000, 5_000, 8_000],
        accounts=[A, B, C, D, E],
        period="2025-01",
        prefix="r1-",
    )
    mirror(rt, ADMIN_KEY)
    travel(rt, 400)
    seed_awards(
        rt.sessions,
        "CAR",
        [7_000, 2_000, 1_000, 6_000, 2_000],
        accounts=[A, B, C, D, E],
        period="2026-01",
        prefix="r2-",
    )
    mirror(rt, ADMIN_KEY)
    assert [live(a) for a in (A, B, C, D, E)] == [1] * 5
    lists = {a: live_lists(client, rt.sessions, a, [CAR])[CAR] for a in (A, B, C, D, E)}
    assert all(len(v) == 1 for v in lists.values())
    t0 = lists[A][0] & 0xFFFFFFFF
    assert lists[A][0] >> 32 == 10_000  # (t0, cumulative 10,000)
    assert client.next_expiry(to_bytes32(A), CAR) == t0 + VALIDITY_DAYS * DAY

    # A correction of the older award: its checkpoint is lowered (the list came from the index).
    out = cli("correct", str(first[3]), "--amount", "2000")
    assert "reversed 2,000 of 5,000" in out
    assert balance(D) == 9_000 and live(D) == 1
    index(rt)
    assert live_lists(client, rt.sessions, D, [CAR])[CAR] == [t0 | (3_000 << 32)]

    # A merge of two accounts that both hold live checkpoints: grant dates are kept.
    assert "merged:" in cli(
        "members", "merge", "--from-citizen", citizen(B), "--into-citizen", citizen(C)
    )
    assert balance(B) == 0 and balance(C) == 10_000 and live(C) == 1
    index(rt)
    assert live_lists(client, rt.sessions, C, [CAR])[CAR] == [t0 | (7_000 << 32)]

    # Five years after the first grant, a day more: the older credits have lapsed, not the newer.
    travel(rt, VALIDITY_DAYS - 400 + 1)
    # E is granted again and the index does not know it yet: its list cannot be built.
    seed_awards(rt.sessions, "CAR", [1_000], accounts=[E], period="2030-01", prefix="r3-")
    Submitter(rt.sessions, client, signer_from_key(ADMIN_KEY), rt.settings).run_until_idle(
        timeout=30
    )
    assert live(E) == 2

    # The expiry run: exactly the lapsed part of A, C (both merged dates) and D (as corrected);
    # E is skipped and reported.
    out = cli("expire", "--program", "CAR", code=2)
    assert "CAR: 4 accounts checked, 4 due, 20,000 mileage expired" in out
    assert "1 due accounts skipped" in out and f"skipped {E}" in out and "behind" in out
    assert (balance(A), balance(C), balance(D), balance(E)) == (7_000, 3_000, 6_000, 11_000)
    assert [live(a) for a in (A, C, D)] == [0, 0, 0]
    # nothing more is due until the newer grants lapse
    assert client.next_expiry(to_bytes32(A), CAR) > rt.w3.eth.get_block("latest")["timestamp"]

    # A deduction from E after its nextExpiry passed, through the submitter: it needs E's list.
    op_id = "0x" + "d1" * 32
    with rt.sessions() as s, s.begin():
        s.add(
            Operation(
                op_id=op_id,
                kind="deduction",
                idempotency_key="late-deduction",
                request_hash="0" * 64,
                account_id=E,
                program="CAR",
                amount=1_500,
                reason="TAX_PAYMENT",
                reference="0x" + "0e" * 32,
                status="pending",
            )
        )
    spender = Submitter(
        rt.sessions,
        client,
        signer_from_key(ADMIN_KEY),
        rt.settings,
        programs=[],
        live_lists=live_list_source(client, rt.sessions),
    )

    def op_status() -> tuple[str, str | None]:
        with rt.sessions() as s:
            row = s.get(Operation, op_id)
            assert row is not None
            return row.status, row.error

    # Without the list the contract refuses it: a retryable refusal, the operation stays pending.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spender, "live_list", lambda account_id, program: [])
        rep = spender.run_until_idle(timeout=30)
    assert "LiveCheckpointsRequired" in rep.deferred[op_id] and op_status() == ("pending", None)
    spender._deferred.clear()

    # A submitter given no live list source cannot build the list: deferred, never sent or failed.
    blind = Submitter(rt.sessions, client, signer_from_key(ADMIN_KEY), rt.settings, programs=[])
    rep = blind.run_until_idle(timeout=30)
    assert "no live checkpoint source" in rep.deferred[op_id] and op_status() == ("pending", None)
    assert rep.txs_sent == 0 and balance(E) == 11_000

    # The index is behind for E: deferred (not failed) until it catches up.
    rep = spender.run_until_idle(timeout=30)
    assert "2 live checkpoints" in rep.deferred[op_id] and op_status() == ("pending", None)
    assert balance(E) == 11_000
    index(rt)
    rep = spender.run_until_idle(timeout=30)
    assert rep.ops_mined == 1 and op_status()[0] in ("mined", "final"), (rep, op_status())
    # the lapsed 8,000 expired first, then 1,500 of what is valid was spent
    assert balance(E) == 11_000 - 8_000 - 1_500
    index(rt)
    kinds = [
        (e.kind, e.amount)
        for e in client.entry_logs(0, rt.w3.eth.block_number, [to_bytes32(E)])[-2:]
    ]
    assert kinds == [(EntryKind.EXPIRY, 8_000), (EntryKind.DEDUCTION, 1_500)]

    # Everything indexed: the next run has nothing to do.
    assert "0 due, 0 mileage expired" in cli("expire", "--program", "CAR")
    with rt.sessions() as s:
        assert set(s.scalars(sa.select(award_state_of()))) <= {"mined", "final"}
    rt.close()
