"""Nothing on chain identifies a member without the city's keys (docs/keys.md, issue 13 item 6).

A real anvil, a feed imported and mirrored by the bridge, a conversion and a deduction through
the API, one award sent twice (an ``AwardSkipped``): then every 32-byte word the chain holds
about it (all log topics and data of the ledger, all calldata sent to it) is compared with what
an outsider can compute: the award ids of every member id 0..99,999 and of the demo data's
member ids, for every program and period seen, under the unkeyed formula of old and under the
public demo key; the account ids of the citizens under the public demo key; the integrators'
references and the unkeyed operation ids. None may match. With the key, the same enumeration
finds every award (so it is not the enumeration that is blind).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import ApiEnv, make_env
from eth_hash.auto import keccak

from ledger.adapters.orm import Award, Operation
from ledger.domain.accounts import account_id
from ledger.domain.awards import award_id
from ledger.domain.codes import Program
from ledger.domain.keys import DEMO_KEYS
from ledger.domain.rules.bike_payout import Cadence
from ledger.domain.types import YearMonth
from ledger.feeds import FeedOptions
from ledger.service import demo
from ledger.service.bike_accruals import pay
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from tests.keyring import KEYS

pytestmark = pytest.mark.chain

NUMERIC = 10  # members with short numeric ids (as seen on main: 1..5 digits)
CAR_MEMBERS = ["V0000003", "V0000017"]  # demo-format ids


@pytest.fixture
def env(deployed: Any, session_factory: Any, db_url: str) -> Any:
    e = make_env(deployed, session_factory, db_url)
    yield e
    e.http.close()


def _write(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _populate(env: ApiEnv, tmp_path: Path) -> None:
    """Members, a BIKE and a CAR feed (imported, mirrored), a conversion, a deduction, and one
    award submitted twice."""
    bike = [str(n * 7919 % 100_000) for n in range(1, NUMERIC + 1)]
    members = ["member_id,program,citizen_id,district,donation_consent,joined_at"]
    members += [f"{m},BIKE,C{int(m):07d},D01,false,2020-01-01" for m in bike]
    members += [f"{m},CAR,C{m[1:]},D02,true,2020-01-01" for m in CAR_MEMBERS]
    import_members(env.factory, _write(tmp_path / "members.csv", members), KEYS.account)
    rides = ["member_id,month,ride_days,ride_minutes,pass_365"]
    rides += [f"{m},2025-{mo:02d},20,300,true" for m in bike for mo in (5, 6)]
    cars = [
        "member_id,vehicle_id,period_start,period_end,baseline_km,actual_km,"
        "seoul_registered,commercial,seats"
    ]
    cars += [f"{m},{m}-CAR,2025-05,2025-10,8000,5000,true,false,5" for m in CAR_MEMBERS]
    options = FeedOptions(award_key=KEYS.award)
    for program, name, lines in ((Program.BIKE, "bike", rides), (Program.CAR, "car", cars)):
        rep = import_feed(
            env.factory, program, _write(tmp_path / f"{name}.csv", lines), options=options
        )
        assert rep.recorded == len(lines) - 1 and rep.rejected == 0
        if program is Program.BIKE:  # BIKE accrued (§2.4): its payouts are awards 1, 2, ...
            pay(env.factory, Cadence.MONTHLY, YearMonth(2025, 6), KEYS.award)
    env.submit("issuer", "BIKE")
    env.submit("issuer", "CAR")
    env.index()
    # the same award again: the contract skips it (AwardSkipped carries its award id)
    env.execute(sa.update(Award).where(Award.award_no == 1).values(status="pending", tx_id=None))
    env.submit("issuer", "BIKE")
    account = "0x" + account_id(f"C{int(bike[0]):07d}", KEYS.account).hex()
    k = env.key("integrator")
    conv = {"account": account, "from_program": "BIKE", "to_program": "SEOUL", "amount": 100}
    assert env.post("/v1/conversions", k, conv, "conv-1").status_code == 201, "conversion"
    deduction = {
        "account": account,
        "program": "BIKE",
        "amount": 50,
        "reason": "DONATION",
        "reference": "0x" + hashlib.sha256(b"ETAX-2025-000123").hexdigest(),
    }
    assert env.post("/v1/deductions", k, deduction, "ded-1").status_code == 201, "deduction"
    env.submit("converter")
    env.submit("spender")
    env.index()


def _chain_words(env: ApiEnv) -> tuple[set[bytes], dict[str, int]]:
    """Every 32-byte word of the ledger's logs and of the calldata sent to it; log counts by
    first topic (to check the scenario happened)."""
    w3, address = env.deployed.w3, env.deployed.address
    head = w3.eth.block_number
    words: set[bytes] = set()
    counts: dict[str, int] = {}
    for log in w3.eth.get_logs({"fromBlock": 0, "toBlock": head, "address": address}):
        topic0 = "0x" + bytes(log["topics"][0]).hex()
        counts[topic0] = counts.get(topic0, 0) + 1
        words.update(bytes(t) for t in log["topics"][1:])
        data = bytes(log["data"])
        words.update(data[i : i + 32] for i in range(0, len(data), 32))
    for number in range(head + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["to"] is not None and tx["to"].lower() == address.lower():
                body = bytes(tx["input"])[4:]
                words.update(body[i : i + 32] for i in range(0, len(body), 32))
    return words, counts


def _demo_member_ids(tmp_path: Path) -> set[str]:
    files = demo.generate(tmp_path / "demo", citizens=3000)
    with files.members.open(encoding="utf-8") as fh:
        return {row["member_id"] for row in csv.DictReader(fh)}


def _enumerate(
    words: set[bytes],
    candidates: Iterable[str],
    seen: set[tuple[str, str]],
    derive: Callable[[Program, str, str], bytes],
) -> set[tuple[str, str, str]]:
    """The (program, member, period) whose id under ``derive`` is on chain."""
    hits = set()
    for program, period in seen:
        for member in candidates:
            if derive(Program[program], member, period) in words:
                hits.add((program, member, period))
    return hits


def _old_award_id(program: Program, member: str, period: str) -> bytes:
    """The unkeyed award id of before docs/keys.md."""
    return keccak(f"mileage-award|{program.name}|{member}|{period}".encode())


def test_nothing_on_chain_links_to_a_member_without_the_key(env: ApiEnv, tmp_path: Path) -> None:
    _populate(env, tmp_path)
    words, counts = _chain_words(env)
    client = env.deployed.client
    topic = {
        e: "0x" + keccak(s.encode()).hex()
        for e, s in (
            ("entry", "EntryRecorded(bytes32,uint256,bytes32)"),
            ("skipped", "AwardSkipped(uint64,bytes32,bytes32)"),
        )
    }
    assert counts.get(topic["skipped"]) == 1, (counts, client)
    with env.factory() as s:
        awards = s.execute(sa.select(Award.program, Award.member_id, Award.period, Award.award_id))
        awarded = {(p, m, per): aid for p, m, per, aid in awards}
        ops = s.execute(
            sa.select(
                Operation.kind, Operation.idempotency_key, Operation.reference, Operation.op_id
            ).where(Operation.kind.in_(("conversion", "deduction")))  # consent sends no op id
        )
        operations = list(ops)
    assert counts.get(topic["entry"]) == len(awarded) + 3  # grants, conversion out+in, deduction
    seen = {(p, per) for p, _, per in awarded}
    candidates = {str(n) for n in range(100_000)} | _demo_member_ids(tmp_path)
    candidates |= {m for _, m, _ in awarded}

    def demo_keyed(program: Program, member: str, period: str) -> bytes:
        return award_id(program, member, period, DEMO_KEYS.award)

    assert _enumerate(words, candidates, seen, _old_award_id) == set()
    assert _enumerate(words, candidates, seen, demo_keyed) == set()
    citizens = {f"C{n:07d}" for n in range(100_000)}
    assert not {c for c in citizens if account_id(c, DEMO_KEYS.account) in words}
    assert len(operations) == 2
    for kind, scoped, reference, op_id in operations:
        assert bytes.fromhex(op_id[2:]) in words  # the keyed operation id is the entry's ref
        assert keccak(f"mileage-op|{kind}|{scoped}".encode()) not in words
        if reference is not None:
            assert bytes.fromhex(reference[2:]) not in words  # the integrator's own reference

    # with the key the ids are reproducible: the same enumeration finds every award
    def keyed(program: Program, member: str, period: str) -> bytes:
        return award_id(program, member, period, KEYS.award)

    assert _enumerate(words, candidates, seen, keyed) == set(awarded)
    for (program, member, period), stored in awarded.items():
        assert "0x" + keyed(Program[program], member, period).hex() == stored
