"""EIP-1186 proofs and audit bundles: verified offline, and every tampering is caught."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, acct, make_env
from typer.testing import CliRunner

from api.client import ProofError, verify_balances, verify_bundle, verify_proof, verify_trail
from bridge import proofs
from bridge.client import to_bytes32
from ledger.adapters.orm import Entry
from ledger.domain.hashchain import HEAD_BYTES

pytestmark = pytest.mark.chain

ALICE = acct(0xA11CE)


@pytest.fixture
def env(deployed: Any, session_factory: Any, db_url: str) -> Iterator[ApiEnv]:
    e = make_env(deployed, session_factory, db_url)
    e.grant("ECO_HOUSEHOLD", ALICE, [10_000, 30_000])
    e.grant("CAR", ALICE, [20_000])
    k = e.key("integrator")
    e.post(
        "/v1/conversions",
        k,
        {"account": ALICE, "from_program": "ECO_HOUSEHOLD", "amount": 10_000},
        "c1",
    )
    e.submit("converter")
    e.index()
    yield e
    e.http.close()


def trusted_hash(env: ApiEnv, number: int) -> str:
    """The block hash from the node itself (what a client's own light client would know)."""
    return str(env.deployed.w3.eth.get_block(number)["hash"].to_0x_hex())


def test_slot_formulas_match_the_contract(env: ApiEnv) -> None:
    """The storage slots the proofs cover hold what the contract's views return: one account
    word (count in bits 0-47, flags in 48-49, the bytes24 head on top), then the positions."""
    w3, addr, a = env.deployed.w3, env.deployed.address, to_bytes32(ALICE)
    state = env.deployed.client.account_state(a)
    raw = bytes(w3.eth.get_storage_at(addr, proofs.account_slot(a)))
    word = int.from_bytes(raw, "big")
    assert len(state.head) == HEAD_BYTES and state.head != bytes(HEAD_BYTES)
    assert proofs.head_of_word(word) == state.head == raw[:HEAD_BYTES]
    assert proofs.count_of_word(word) == state.count == 5
    assert proofs.consent_of_word(word) == state.donation
    assert not proofs.merged_of_word(word)
    assert (word >> 50) & ((1 << 14) - 1) == 0  # bits 50-63 unused
    assert proofs.account_slots(a)[0] == ("account", proofs.account_slot(a))
    balances = env.deployed.client.balances_of(a)
    for p in range(1, 8):
        # the account's uint256[8]: the account word, then the position of program p at + p
        assert proofs.position_slot(a, p) == proofs.account_slot(a) + p
        word = int.from_bytes(w3.eth.get_storage_at(addr, proofs.position_slot(a, p)), "big")
        assert proofs.balance_of_word(word) == balances[p]
        pos = env.deployed.client.position_of(a, p)
        fields = proofs.position_of_word(word)
        assert (fields.balance, fields.granted, fields.debited) == (
            pos.balance,
            pos.granted,
            pos.debited,
        )
        assert (fields.last_time, fields.oldest, fields.live, fields.root) == (
            pos.last_time,
            pos.oldest,
            pos.live,
            pos.root,
        )
    # ECO_HOUSEHOLD: two grants in one block (one checkpoint), then 10,000 converted out
    eco = proofs.position_of_word(
        int.from_bytes(w3.eth.get_storage_at(addr, proofs.position_slot(a, 1)), "big")
    )
    assert (eco.granted, eco.debited, eco.balance) == (40_000, 10_000, 30_000)
    assert eco.oldest == eco.last_time > 0 and eco.live == 0 and eco.root == 0


def test_proof_endpoint_verifies_offline(env: ApiEnv) -> None:
    w = env.client(env.key("wallet", account=ALICE))
    p = w.proof(ALICE)
    trusted = trusted_hash(env, p["anchor"]["block_number"])
    state = verify_proof(p, ALICE, trusted_block_hash=trusted)
    assert state.count == 5 and state.balances["ECO_HOUSEHOLD"] == 30_000
    assert len(state.head) == 2 + 2 * HEAD_BYTES and state.head == p["head"]
    assert state.head == "0x" + env.deployed.client.account_state(to_bytes32(ALICE)).head.hex()
    assert state.balances["SEOUL"] == 10_000 and state.balances["CAR"] == 20_000
    verify_balances(w.balances(ALICE), state)
    # an empty account is proven empty
    other = acct(0xE)
    p0 = env.client(env.key("auditor")).proof(other)
    s0 = verify_proof(p0, other)
    assert s0.count == 0 and s0.head == "0x" + "00" * 24 and not any(s0.balances.values())


def test_proof_tampering_is_caught(env: ApiEnv) -> None:
    p = env.client(env.key("auditor")).proof(ALICE)
    cases: list[tuple[str, Any]] = []

    def mutate(name: str, fn: Any) -> None:
        q = copy.deepcopy(p)
        fn(q)
        cases.append((name, q))

    labels = [sp["label"] for sp in p["storage_proofs"]]
    assert labels[0] == "account" and labels[1:] == [f"balance:{n}" for n in p["balances"]]
    word = int(p["storage_proofs"][0]["value"], 16)
    mutate("served balance", lambda q: q["balances"].__setitem__("CAR", 25_000))
    mutate("served head", lambda q: q.__setitem__("head", "0x" + "00" * 24))
    mutate("served count", lambda q: q.__setitem__("count", 4))
    mutate("storage value", lambda q: q["storage_proofs"][2].__setitem__("value", "0x1"))
    mutate(
        "account word count", lambda q: q["storage_proofs"][0].__setitem__("value", hex(word - 1))
    )
    mutate(
        "account word head",
        lambda q: q["storage_proofs"][0].__setitem__("value", hex(word ^ (1 << 200))),
    )
    mutate("header state root", lambda q: q["header"].__setitem__("stateRoot", "0x" + "11" * 32))
    mutate("dropped node", lambda q: q["storage_proofs"][1]["proof"].pop())
    mutate("dropped account node", lambda q: q["storage_proofs"][0]["proof"].pop())
    mutate("account slot missing", lambda q: q["storage_proofs"].pop(0))
    mutate(
        "swapped labels",
        lambda q: (
            q["storage_proofs"].reverse()
            or [
                sp.__setitem__("label", lbl)
                for sp, lbl in zip(
                    q["storage_proofs"], [x["label"] for x in p["storage_proofs"]], strict=True
                )
            ]
        ),
    )
    for name, q in cases:
        with pytest.raises(ProofError):
            verify_proof(q, ALICE)
        print("caught", name)
    with pytest.raises(ProofError):  # untrusted header: right proofs, wrong block
        verify_proof(p, ALICE, trusted_block_hash="0x" + "22" * 32)
    with pytest.raises(ProofError):  # the proof of another account
        verify_proof(p, acct(0xB0B))


def test_bundle_verifies_and_catches_tampering(env: ApiEnv, tmp_path: Path) -> None:
    from ledger.cli.audit import app as audit_app

    auditor = env.client(env.key("auditor"))
    b = auditor.bundle(ALICE)
    trusted = trusted_hash(env, b["block_number"])
    state = verify_bundle(b, trusted_block_hash=trusted)
    assert state.count == len(b["entries"]) == 5 and b["version"] == proofs.BUNDLE_VERSION == 2
    assert all(len(e["head"]) == 2 + 2 * HEAD_BYTES for e in b["entries"])
    assert b["entries"][-1]["head"] == state.head
    verify_trail(auditor.trail(ALICE), state)

    runner = CliRunner()
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(b))
    res = runner.invoke(audit_app, ["verify-bundle", str(good), "--block-hash", trusted])
    assert res.exit_code == 0 and "VALID" in res.output, res.output

    def tampered(fn: Any) -> dict[str, Any]:
        q = copy.deepcopy(b)
        fn(q)
        return q

    bad = {
        "amount changed": tampered(lambda q: q["entries"][1].__setitem__("amount", 31_000)),
        "amount and head changed": tampered(
            lambda q: (q["entries"][1].__setitem__("amount", 31_000), q["entries"][1].pop("head"))
        ),
        "entry omitted": tampered(lambda q: q["entries"].pop(2)),
        "last entry omitted": tampered(lambda q: q["entries"].pop()),
        "reordered": tampered(
            lambda q: q["entries"].__setitem__(slice(0, 2), [q["entries"][1], q["entries"][0]])
        ),
        "reordered, renumbered": tampered(
            lambda q: (
                q["entries"].__setitem__(slice(0, 2), [q["entries"][1], q["entries"][0]]),
                q["entries"][0].__setitem__("seq", 1),
                q["entries"][1].__setitem__("seq", 2),
                [e.pop("head") for e in q["entries"]],
            )
        ),
        "header changed": tampered(lambda q: q["proof"]["header"].__setitem__("timestamp", "0x1")),
        "storage proof value": tampered(
            lambda q: q["proof"]["storage_proofs"][0].__setitem__("value", "0x4")
        ),
        "other account": tampered(lambda q: q.__setitem__("account", acct(0xB0B))),
        "head listed as 32 bytes": tampered(
            lambda q: q["entries"][0].__setitem__("head", q["entries"][0]["head"] + "00" * 8)
        ),
        "version 1 bundle": tampered(lambda q: q.__setitem__("version", 1)),
    }
    for name, q in bad.items():
        with pytest.raises(ProofError):
            verify_bundle(q)
        f = tmp_path / "bad.json"
        f.write_text(json.dumps(q))
        res = runner.invoke(audit_app, ["verify-bundle", str(f)])
        assert res.exit_code == 1 and "INVALID" in res.output, (name, res.output)
    res = runner.invoke(audit_app, ["verify-bundle", str(good), "--block-hash", "0x" + "3" * 64])
    assert res.exit_code == 1


def test_doctored_database_fails_client_verification(env: ApiEnv) -> None:
    """The server's database is edited (an entry's amount, a balance): the API serves it, but
    a client holding a trusted block hash rejects the answers."""
    from ledger.adapters.orm import Balance

    env.execute(
        sa.update(Entry).where(Entry.account_id == ALICE, Entry.seq == 1).values(amount=50_000)
    )
    env.execute(
        sa.update(Balance)
        .where(Balance.account_id == ALICE, Balance.program == 3)
        .values(balance=90_000)
    )
    auditor = env.client(env.key("auditor"))
    b = auditor.bundle(ALICE)
    with pytest.raises(ProofError):
        verify_bundle(b, trusted_block_hash=trusted_hash(env, b["block_number"]))
    p = auditor.proof(ALICE)
    state = verify_proof(p, ALICE)
    with pytest.raises(ProofError):
        verify_balances(auditor.balances(ALICE), state)
    with pytest.raises(ProofError):
        verify_trail(auditor.trail(ALICE), state)
    assert auditor.trail(ALICE)["verdict"] == "broken"
