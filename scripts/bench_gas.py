"""Gas of MileageLedger.grantBatch for new and existing accounts at batch sizes 50, 200 and 500.

Starts a private anvil, deploys the ledger, registers ECO_HOUSEHOLD and measures, per award:
  - new:          every award goes to an account that never had an entry
  - existing:     the same accounts again, a day later, balance unspent: the previous grant date
                  becomes a live checkpoint, chained into the position word's root (no extra slot)
  - existing_3rd: a third grant date, the same again (the list of live checkpoints grows off-chain)
  - existing_spent: a grant after the account converted its whole balance to SEOUL: the position
                  restarts (the common case of members who use their mileage)
Every existing case writes the account word and the position word, nothing else; the steady mean
of existing and existing_3rd is the figure for an unspent balance.
Prints a table and writes bench/gas.json. Run: .venv/bin/python scripts/bench_gas.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_utils import keccak  # noqa: E402

from bridge.anvil import AnvilProcess  # noqa: E402
from bridge.chain import make_web3  # noqa: E402
from bridge.compile import main_artifact  # noqa: E402

ECO_HOUSEHOLD = 1
SIZES = (50, 200, 500)
GOAL_NEW = 50_000
GOAL_EXISTING = 15_000


def _list_calls(w3, c, send, admin, issuer, award_no: int) -> list[dict[str, int]]:
    """Gas of `expire` and of a `deduct` that must expire first, by the length of the live
    list: an account granted at n + 1 dates, then 5 years and a day later (one date lapsed)."""
    from ledger.domain.checkpoints import PositionModel

    expirer, spender = w3.eth.accounts[3], w3.eth.accounts[4]
    send(c.functions.grantRole(c.functions.EXPIRER_ROLE().call(), expirer), admin)
    send(c.functions.grantRole(c.functions.SPENDER_ROLE().call(), spender), admin)
    out = []
    for n in (1, 12, 60):
        accts = [keccak(text=f"list|{n}|{k}") for k in range(2)]
        models = [PositionModel() for _ in accts]
        for _ in range(n + 1):
            w3.provider.make_request("evm_increaseTime", [86400])
            grants = []
            for a in accts:
                grants.append((a, award_no, 1_000, keccak(text=f"award|{award_no}")))
                award_no += 1
            rc = send(c.functions.grantBatch(ECO_HOUSEHOLD, grants), issuer)
            t = w3.eth.get_block(rc.blockNumber).timestamp
            for m in models:
                m.credit(1_000, t)
        w3.provider.make_request("evm_increaseTime", [1826 * 86400 - n * 86400 + 3600])
        lives = [m.live(n) for m in models]
        exp = send(c.functions.expire(accts[0], ECO_HOUSEHOLD, lives[0]), expirer)
        ded = send(
            c.functions.deduct(accts[1], ECO_HOUSEHOLD, 500, 2, b"\x00" * 32, lives[1]), spender
        )
        out.append({"live": n, "expire": exp.gasUsed, "deduct": ded.gasUsed})
    return out


def main() -> None:
    art = main_artifact()
    with AnvilProcess(gas_limit=100_000_000) as node:
        w3 = make_web3(node.url)
        admin, issuer = w3.eth.accounts[0], w3.eth.accounts[1]
        h = (
            w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            .constructor(admin, 0)
            .transact({"from": admin, "gas": 10_000_000})
        )
        addr = w3.eth.wait_for_transaction_receipt(h).contractAddress
        c = w3.eth.contract(address=addr, abi=art.abi)

        def send(fn, sender):
            rc = w3.eth.wait_for_transaction_receipt(
                fn.transact({"from": sender, "gas": 90_000_000})
            )
            assert rc.status == 1
            return rc

        send(c.functions.registerProgram(ECO_HOUSEHOLD, 1826 * 86400, 50_000, 10**15), admin)
        send(c.functions.grantRole(c.functions.issuerRole(ECO_HOUSEHOLD).call(), issuer), admin)
        send(c.functions.registerProgram(7, 1826 * 86400, 0, 0), admin)
        converter = w3.eth.accounts[2]
        send(c.functions.grantRole(c.functions.CONVERTER_ROLE().call(), converter), admin)
        # Warm the bitmap's first word and the budget/total slots, as in steady operation.
        send(
            c.functions.grantBatch(ECO_HOUSEHOLD, [(keccak(text="warm"), 1, 1, keccak(text="w"))]),
            issuer,
        )

        award_no = 2
        rows = []
        for size in SIZES:
            accounts = [keccak(text=f"bench|{size}|{i}") for i in range(size)]
            result = {"batch_size": size}
            for label in ("new", "existing", "existing_3rd", "existing_spent"):
                if label == "existing_spent":
                    for k, a in enumerate(accounts):
                        bal = c.functions.balanceOf(a, ECO_HOUSEHOLD).call()
                        cid = keccak(text=f"conv|{size}|{k}")
                        h = c.functions.convert(a, ECO_HOUSEHOLD, 7, bal, cid, []).transact(
                            {"from": converter, "gas": 1_000_000}
                        )
                    w3.eth.wait_for_transaction_receipt(h)
                grants = []
                for a in accounts:
                    grants.append((a, award_no, 10_000, keccak(text=f"award|{award_no}")))
                    award_no += 1
                w3.provider.make_request("evm_increaseTime", [86400])
                rc = send(c.functions.grantBatch(ECO_HOUSEHOLD, grants), issuer)
                result[f"{label}_tx_gas"] = rc.gasUsed
                result[f"{label}_per_award"] = round(rc.gasUsed / size)
                result[f"{label}_per_award_excl_21k"] = round((rc.gasUsed - 21_000) / size)
            rows.append(result)
        lists = _list_calls(w3, c, send, admin, issuer, award_no)

    for r in rows:
        r["existing_steady_per_award"] = round(
            (r["existing_per_award"] + r["existing_3rd_per_award"]) / 2
        )
    hdr = ("batch", "new", "existing (2nd)", "existing (3rd)", "steady mean", "after spending")
    print(" | ".join(f"{h:>14}" for h in hdr))
    print("-" * (17 * len(hdr)))
    for r in rows:
        vals = (
            r["batch_size"],
            r["new_per_award"],
            r["existing_per_award"],
            r["existing_3rd_per_award"],
            r["existing_steady_per_award"],
            r["existing_spent_per_award"],
        )
        print(" | ".join(f"{v:>14,}" for v in vals))
    print("gas per award, including the batch's share of the 21,000 transaction base")
    print(f"goals (batch >= 200): new <= {GOAL_NEW:,}, existing <= {GOAL_EXISTING:,} per award")
    print("calls that take the live list (gas per call): expire / deduct after nextExpiry")
    for r in lists:
        print(f"  {r['live']:>3} live checkpoints: expire {r['expire']:,}, deduct {r['deduct']:,}")
    out = ROOT / "bench" / "gas.json"
    out.parent.mkdir(exist_ok=True)
    notes = (
        "gas per award including the batch's share of the 21,000 base. A new account writes two "
        "fresh words (account: head + count + flags; position: amounts, times, live count and "
        "root). An existing one rewrites the same two words whether or not it holds an unspent "
        "balance from an earlier date: that date becomes a live checkpoint chained into the "
        "position's root (one keccak), kept off-chain and passed back by expire, correct and "
        "merge. See contracts/README.md, section Gas."
    )
    out.write_text(
        json.dumps(
            {
                "goals": {"new": GOAL_NEW, "existing": GOAL_EXISTING, "min_batch": 200},
                "met": {
                    "new": all(
                        r["new_per_award"] <= GOAL_NEW for r in rows if r["batch_size"] >= 200
                    ),
                    "existing_spent": all(
                        r["existing_spent_per_award"] <= GOAL_EXISTING
                        for r in rows
                        if r["batch_size"] >= 200
                    ),
                    "existing_unspent_steady": all(
                        r["existing_steady_per_award"] <= GOAL_EXISTING
                        for r in rows
                        if r["batch_size"] >= 200
                    ),
                },
                "notes": notes,
                "list_calls": lists,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
