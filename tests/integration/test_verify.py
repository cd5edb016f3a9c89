"""The chain-only verifier (``bridge.verify``, ``mileage audit verify``).

Pure checks feed the verification function doctored event lists (an entry left out, two entries
swapped, an amount changed ...); the chain checks run it against a real ledger on anvil.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from indexer_helpers import LedgerDriver, acct
from typer.testing import CliRunner

from bridge.raw_reader import ENTRY_TOPIC, ChainAccount, ProgramTotals, RawLedgerReader
from bridge.rpc import RpcError
from bridge.verify import TrailChecker, VerificationError, verify_ledger, verify_trail
from bridge.verify.records import pack_answer, pack_records, preimage_tail
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.hashchain import (
    ZERO_HEAD,
    Entry,
    encode_entry,
    head_of,
    next_head,
)

# ------------------------------------------------------------------------------------------------
# synthetic trails (pure)
# ------------------------------------------------------------------------------------------------


def raw_log(entry: Entry, block: int, index: int) -> dict[str, Any]:
    """The JSON-RPC form of the ``EntryRecorded`` log of ``entry`` (it carries no head)."""
    return {
        "address": "0x" + "11" * 20,
        "topics": [ENTRY_TOPIC, "0x" + entry.account.hex()],
        "data": f"0x{entry.word:064x}{entry.ref.hex()}",
        "blockNumber": hex(block),
        "logIndex": hex(index),
        "blockHash": "0x" + "22" * 32,
        "transactionHash": "0x" + "33" * 32,
    }


def entry_word(log: dict[str, Any]) -> int:
    return int(log["data"][2:66], 16)


def with_word(log: dict[str, Any], word: int) -> dict[str, Any]:
    return {**log, "data": f"0x{word:064x}{log['data'][66:]}"}


def synthetic_trail(
    accounts: int = 5, entries: int = 60, seed: int = 7
) -> tuple[list[dict[str, Any]], dict[str, ChainAccount], dict[int, ProgramTotals]]:
    """A consistent trail (grants, deductions, conversions) and the contract state it implies."""
    rnd = random.Random(seed)
    ids = [bytes.fromhex(acct(f"syn{i}")[2:]) for i in range(accounts)]
    heads = {a: ZERO_HEAD for a in ids}
    counts = {a: 0 for a in ids}
    bal = {a: [0] * 8 for a in ids}
    totals = {int(p): [0, 0, 0] for p in Program}
    logs: list[dict[str, Any]] = []

    def append(a: bytes, kind: EntryKind, program: int, amount: int, reason: Reason) -> None:
        counts[a] += 1
        ref = bytes([len(logs) % 256]) * 32
        e = Entry(a, counts[a], int(kind), program, amount, int(reason), ref, 1_700_000)
        heads[a] = next_head(heads[a], e)
        logs.append(raw_log(e, 10 + len(logs) // 4, len(logs) % 4))
        if kind.is_credit:
            bal[a][program] += amount
            totals[program][1] += amount
            if kind is EntryKind.GRANT:
                totals[program][0] += amount
        else:
            bal[a][program] -= amount
            totals[program][2] += amount

    for _ in range(entries):
        a = rnd.choice(ids)
        car = int(Program.CAR)
        if bal[a][car] >= 1000 and rnd.random() < 0.3:
            append(a, EntryKind.DEDUCTION, car, 500, Reason.TAX_PAYMENT)
        elif bal[a][car] >= 1000 and rnd.random() < 0.3:
            append(a, EntryKind.CONVERSION_OUT, car, 1000, Reason.CONVERSION)
            append(a, EntryKind.CONVERSION_IN, int(Program.SEOUL), 1000, Reason.CONVERSION)
        else:
            append(a, EntryKind.GRANT, car, rnd.randrange(1000, 70_000), Reason.NONE)
    states = {
        "0x" + a.hex(): ChainAccount(counts[a], heads[a], bytes(32), False, tuple(bal[a]))
        for a in ids
    }
    return logs, states, {p: ProgramTotals(*t) for p, t in totals.items()}


def fields(mismatches: list[Any]) -> set[str]:
    return {m.field for m in mismatches}


def test_consistent_trail_passes() -> None:
    logs, states, totals = synthetic_trail()
    assert verify_trail(logs, states, totals) == []


def test_omitted_entry_is_caught() -> None:
    logs, states, totals = synthetic_trail()
    victim = logs[len(logs) // 2]
    doctored = [lg for lg in logs if lg is not victim]
    found = verify_trail(doctored, states, totals)
    who = victim["topics"][1]
    assert {"seq", "head"} <= fields([m for m in found if m.account == who])
    assert any(m.account.startswith("program:") for m in found)  # totals no longer add up


def test_reordered_trail_is_caught() -> None:
    logs, states, totals = synthetic_trail()
    a = logs[0]["topics"][1]
    mine = [i for i, lg in enumerate(logs) if lg["topics"][1] == a]
    i, j = mine[1], mine[2]
    doctored = list(logs)
    doctored[i], doctored[j] = doctored[j], doctored[i]
    found = verify_trail(doctored, states, totals)
    assert "seq" in fields(found) and "order" in fields(found)


def test_renumbered_swap_is_caught_by_the_hash_chain() -> None:
    """Two entries swapped *and* renumbered, positions kept: only the head can tell."""
    logs, states, _ = synthetic_trail()
    a = logs[0]["topics"][1]
    i, j = [k for k, lg in enumerate(logs) if lg["topics"][1] == a][1:3]
    m48 = (1 << 48) - 1
    wi, wj = entry_word(logs[i]), entry_word(logs[j])
    doctored = list(logs)
    doctored[i] = {**logs[i], "data": with_word(logs[j], (wj & ~m48) | (wi & m48))["data"]}
    doctored[j] = {**logs[j], "data": with_word(logs[i], (wi & ~m48) | (wj & m48))["data"]}
    assert doctored[i] != logs[i]
    found = verify_trail(doctored, states)
    assert [(m.account, m.field) for m in found] == [(a, "head")], found
    assert "do not hash to the contract's head" in found[0].detail


@pytest.mark.parametrize(
    ("shift", "bits", "value"),
    [(112, 96, 123_456), (72, 40, 99), (64, 8, 3), (0, 48, 5)],
    ids=["amount", "timestamp", "reason", "seq"],
)
def test_altered_entry_word_is_caught(shift: int, bits: int, value: int) -> None:
    logs, states, _ = synthetic_trail()
    doctored = list(logs)
    mask = ((1 << bits) - 1) << shift
    doctored[3] = with_word(logs[3], (entry_word(logs[3]) & ~mask) | (value << shift))
    assert doctored[3] != logs[3]
    found = verify_trail(doctored, states)
    who = logs[3]["topics"][1]
    assert any(m.account == who and m.field == "head" for m in found), found


def test_altered_ref_and_account_are_caught() -> None:
    logs, states, _ = synthetic_trail()
    who = logs[3]["topics"][1]
    doctored = list(logs)
    doctored[3] = {**logs[3], "data": logs[3]["data"][:66] + "ab" * 32}
    assert any(m.account == who and m.field == "head" for m in verify_trail(doctored, states))
    # an entry moved to another account: both chains break
    other = next(lg["topics"][1] for lg in logs if lg["topics"][1] != who)
    doctored = list(logs)
    doctored[3] = {**logs[3], "topics": [ENTRY_TOPIC, other]}
    found = verify_trail(doctored, states)
    assert {(who, "head"), (other, "head")} <= {(m.account, m.field) for m in found}


def test_bits_outside_the_layout_and_unknown_codes_are_reported() -> None:
    logs, states, _ = synthetic_trail()
    doctored = list(logs)
    doctored[2] = with_word(logs[2], entry_word(logs[2]) | 1 << 250)
    doctored[5] = with_word(logs[5], entry_word(logs[5]) & ~(0xFF << 48) | 99 << 48)
    found = [m for m in verify_trail(doctored, states) if m.field == "codes"]
    assert len(found) == 2
    assert found[0].account == logs[2]["topics"][1] and "/0x04" in found[0].actual
    assert found[1].actual.startswith("99/")


def test_extra_and_duplicated_entries_are_caught() -> None:
    logs, states, totals = synthetic_trail()
    found = verify_trail([*logs, logs[-1]], states, totals)
    assert {"order", "seq", "head"} <= fields(found)
    assert any(m.field.startswith("balance[") for m in found)  # the extra amount


def test_contract_state_differences_are_reported() -> None:
    logs, states, totals = synthetic_trail()
    a = next(iter(states))
    s = states[a]
    bal = list(s.balances)
    bal[int(Program.CAR)] += 1
    wrong = dict(states)
    wrong[a] = ChainAccount(s.count + 1, b"\x01" * 24, s.successor, s.donation, tuple(bal))
    found = verify_trail(logs, wrong, totals)
    assert {"count", "head", "balance[CAR]"} <= fields([m for m in found if m.account == a])
    # an account the contract knows but whose logs are all missing
    ghost = "0x" + "ab" * 32
    wrong[ghost] = ChainAccount(2, b"\x02" * 24, bytes(32), False, (0,) * 8)
    assert any(m.account == ghost and m.field == "count" for m in verify_trail(logs, wrong))


def test_overdraft_and_foreign_logs_are_caught() -> None:
    a = bytes.fromhex(acct("over")[2:])
    e1 = Entry(a, 1, int(EntryKind.DEDUCTION), int(Program.CAR), 5, 2, bytes(32), 1)
    h1 = next_head(ZERO_HEAD, e1)
    foreign = raw_log(e1, 1, 1)
    foreign = {**foreign, "topics": ["0x" + "99" * 32, *foreign["topics"][1:]]}
    state = {"0x" + a.hex(): ChainAccount(1, h1, bytes(32), False, (0,) * 8)}
    found = verify_trail([raw_log(e1, 1, 0), foreign], state)
    assert {"balance[CAR]", "log"} <= fields(found)


def test_checker_streams_in_chunks_like_one_list() -> None:
    logs, states, totals = synthetic_trail(accounts=9, entries=200)
    checker = TrailChecker()
    for k in range(0, len(logs), 17):
        checker.feed(logs[k : k + 17])
    assert checker.finish(states, totals) == []
    assert checker.events == len(logs)


def test_account_filter_ignores_other_accounts() -> None:
    logs, states, _ = synthetic_trail()
    a = next(iter(states))
    assert verify_trail(logs, {a: states[a]}, accounts=[a]) == []


@settings(max_examples=200, deadline=None)
@given(
    account=st.binary(min_size=32, max_size=32),
    prev=st.binary(min_size=24, max_size=24),
    seq=st.integers(1, 2**48 - 1),
    kind=st.integers(0, 255),
    program=st.integers(0, 255),
    amount=st.integers(0, 2**96 - 1),
    reason=st.integers(0, 255),
    ref=st.binary(min_size=32, max_size=32),
    ts=st.integers(0, 2**40 - 1),
)
def test_fast_preimage_equals_the_reference_encoding(
    account: bytes,
    prev: bytes,
    seq: int,
    kind: int,
    program: int,
    amount: int,
    reason: int,
    ref: bytes,
    ts: int,
) -> None:
    """The verifier's bytes of the raw log are exactly ``hashchain.encode_entry`` minus the head,
    hashed after the previous head they give ``next_head``, and the record decodes back to the
    entry."""
    e = Entry(account, seq, kind, program, amount, reason, ref, ts)
    log = raw_log(e, 1, 0)
    assert prev + preimage_tail(log) == encode_entry(prev, e)
    assert head_of(prev + preimage_tail(log)) == next_head(prev, e)
    rec, n, odd = pack_records([log])
    assert (n, odd, len(rec)) == (1, [], 108)
    assert rec[:96] == preimage_tail(log)
    assert Entry.from_word(account, int.from_bytes(rec[32:64]), rec[64:96]) == e
    assert rec[96:] == bytes(7) + b"\x01" + bytes(4)  # block 1, log index 0


def answer_text(logs: list[dict[str, Any]], **dump: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 7, "result": logs}, **dump).encode()


def test_packing_the_answer_text_equals_packing_decoded_logs() -> None:
    logs, _, _ = synthetic_trail(entries=80)
    logs = [
        {**lg, "blockNumber": hex(0x1234567 + k), "removed": False} for k, lg in enumerate(logs)
    ]
    expected = pack_records(logs)
    assert expected[1] == len(logs) and expected[2] == []
    for dump in ({}, {"separators": (",", ":")}, {"indent": 2}):
        assert pack_answer(answer_text(logs, **dump)) == expected
    # anything unusual goes through json.loads: same records, odd logs reported
    upper = [{**lg, "data": "0x" + lg["data"][2:].upper()} for lg in logs]
    assert pack_answer(answer_text(upper)) == expected
    foreign = [*logs[:3], {**logs[3], "topics": ["0x" + "99" * 32, logs[3]["topics"][1]]}]
    rec, n, odd = pack_answer(answer_text(foreign))
    assert (rec, n) == (pack_records(logs[:3])[0], 3) and odd == [foreign[3]]
    assert pack_answer(answer_text([])) == (b"", 0, [])
    not_hex = {**logs[5], "data": logs[5]["data"][:-2] + "zz"}
    rec, n, odd = pack_answer(answer_text([*logs[:5], not_hex, logs[6]]))
    assert (rec, n, odd) == (pack_records([*logs[:5], logs[6]])[0], 6, [not_hex])
    with pytest.raises(RpcError, match="boom"):
        pack_answer(b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"boom"}}')


# ------------------------------------------------------------------------------------------------
# against a real ledger on anvil
# ------------------------------------------------------------------------------------------------


def populate(drv: LedgerDriver, accounts: int, rounds: int) -> list[str]:
    """Grants to ``accounts`` accounts in ``rounds`` batches, then some deductions and
    conversions (so debits and cross-program credits appear)."""
    ids = [acct(f"v{i}") for i in range(accounts)]
    for r in range(rounds):
        program = (Program.CAR, Program.ECO_HOUSEHOLD, Program.BIKE)[r % 3]
        cap = {Program.CAR: 70_000, Program.ECO_HOUSEHOLD: 50_000, Program.BIKE: 2_000}[program]
        drv.grant(program, [(a, 1 + (i * 7919 + r) % cap) for i, a in enumerate(ids)])
    for i, a in enumerate(ids[:10]):
        drv.deduct(a, Program.CAR, 1, ref=f"d{i}")
        drv.convert(a, Program.ECO_HOUSEHOLD, Program.SEOUL, 1, cid=f"c{i}")
    return ids


@pytest.mark.chain
def test_real_chain_with_many_entries_passes(deployed: Any) -> None:
    drv = LedgerDriver(deployed)
    ids = populate(drv, accounts=300, rounds=10)
    report = verify_ledger(deployed.url, deployed.address, chunk=3)
    assert report.ok, report.mismatches[:5]
    assert report.entries == 300 * 10 + 30
    assert report.accounts == 300
    assert report.from_block == deployed.block_number  # found by binary search on eth_getCode
    one = verify_ledger(deployed.url, deployed.address, accounts=[ids[0], acct("nobody")])
    assert one.ok and one.entries == 10 + 3 and one.accounts == 2
    # logs fetched and decoded in a child process, as for long chains
    forked = verify_ledger(deployed.url, deployed.address, chunk=5, parallel=True)
    assert forked.ok and forked.entries == report.entries


@pytest.mark.chain
def test_real_logs_with_one_left_out_fail(deployed: Any) -> None:
    drv = LedgerDriver(deployed)
    populate(drv, accounts=20, rounds=3)
    block = drv.head()
    with RawLedgerReader(deployed.url, deployed.address) as rd:
        logs = rd.entry_logs(deployed.block_number, block)
        states = rd.account_states(sorted({lg["topics"][1] for lg in logs}), block)
        totals = rd.program_totals(block)
    assert verify_trail(logs, states, totals) == []
    found = verify_trail(logs[:7] + logs[8:], states, totals)
    assert {"count", "seq", "head"} <= fields(found)
    reordered = [*logs[:7], logs[27], *logs[8:27], logs[7], *logs[28:]]
    assert verify_trail(reordered, states, totals)


@pytest.mark.chain
def test_state_is_read_at_one_block(deployed: Any) -> None:
    """Entries after the verified block are neither fetched nor expected."""
    drv = LedgerDriver(deployed)
    ids = populate(drv, accounts=5, rounds=2)
    block = drv.head()
    drv.grant(Program.CAR, [(ids[0], 5)])
    report = verify_ledger(deployed.url, deployed.address, block=block)
    assert report.ok and report.entries == 5 * 2 + 5 + 5 * 2  # grants, deductions, conversions
    later = verify_ledger(deployed.url, deployed.address)
    assert later.ok and later.entries == report.entries + 1


def _settings_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    from ledger.settings import get_settings

    for k in ("MILEAGE_CONTRACT_ADDRESS", "MILEAGE_RPC_URL", "MILEAGE_DATABASE_URL"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


@pytest.mark.chain
def test_cli_verify_explicit_and_default_deployment(
    deployed: Any, session_factory: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.cli.audit import app
    from ledger.settings import get_settings

    drv = LedgerDriver(deployed)
    ids = populate(drv, accounts=12, rounds=2)
    runner = CliRunner()
    try:
        _settings_env(monkeypatch, MILEAGE_DATABASE_URL="sqlite:////nonexistent/dir/x.db")
        res = runner.invoke(
            app, ["verify", "--rpc", deployed.url, "--contract", deployed.address, "--all"]
        )
        assert res.exit_code == 0, res.output
        assert "12 accounts" in res.output and "events/s" in res.output and "OK" in res.output

        res = runner.invoke(
            app,
            ["verify", "--rpc", deployed.url, "--contract", deployed.address, "--account", ids[3]],
        )
        assert res.exit_code == 0, res.output
        assert "1 accounts, 5 entries" in res.output

        # no flags: the deployment recorded in the configured database, on the configured node
        deployed.record(session_factory)
        _settings_env(monkeypatch, MILEAGE_DATABASE_URL=db_url, MILEAGE_RPC_URL=deployed.url)
        res = runner.invoke(app, ["verify"])
        assert res.exit_code == 0, res.output
        assert f"at block {drv.head()} (events from block {deployed.block_number})" in res.output

        # a state mismatch at a block: verify at a block where the node's answer differs from
        # the events is impossible on an honest node, so point it at the wrong contract instead
        res = runner.invoke(app, ["verify", "--rpc", deployed.url, "--contract", "0x" + "12" * 20])
        assert res.exit_code == 2 and "no contract code" in res.output
    finally:
        get_settings.cache_clear()


def test_cli_verify_without_a_node_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.anvil import free_port
    from ledger.cli.audit import app
    from ledger.settings import get_settings

    try:
        _settings_env(monkeypatch)
        url = f"http://127.0.0.1:{free_port()}"
        res = CliRunner().invoke(app, ["verify", "--rpc", url, "--contract", "0x" + "12" * 20])
        assert res.exit_code == 2
        assert "JSON-RPC" in res.output
    finally:
        get_settings.cache_clear()


def test_unknown_account_format_is_rejected() -> None:
    with pytest.raises(VerificationError, match="32 bytes"):
        TrailChecker(accounts=["0x1234"])


def test_state_reader_calls_views_the_ledger_has() -> None:
    """The state reader (contracts/audit/LedgerStateReader.sol) declares the ledger's views with
    the ledger's own signatures: a changed ``accountState`` or ``balancesOf`` fails here."""
    from bridge.compile import compile_contracts
    from bridge.raw_reader import READER_CONTRACT, reader_runtime

    arts = compile_contracts()
    ledger = {f["name"]: f for f in arts["MileageLedger"].abi if f["type"] == "function"}
    views = [f for f in arts["ILedgerViews"].abi if f["type"] == "function"]
    assert {f["name"] for f in views} == {"accountState", "balancesOf"}
    for view in views:
        mine = ledger[view["name"]]
        for side in ("inputs", "outputs"):
            assert [p["type"] for p in view[side]] == [p["type"] for p in mine[side]], view["name"]
    assert reader_runtime() == arts[READER_CONTRACT].runtime_bytecode != "0x"


@pytest.mark.chain
def test_state_reader_and_plain_calls_agree(deployed: Any) -> None:
    drv = LedgerDriver(deployed)
    ids = populate(drv, accounts=30, rounds=2)
    ids.append(acct("empty"))
    block = drv.head()
    with RawLedgerReader(deployed.url, deployed.address) as fast:
        via_reader = fast.account_states(ids, block, per_call=7)
        assert fast.state_override is True
    with RawLedgerReader(deployed.url, deployed.address) as plain:
        plain.state_override = False  # as on a node without eth_call state overrides
        assert plain.account_states(ids, block) == via_reader
    assert via_reader[ids[-1]].count == 0 and via_reader[ids[0]].count == 5
