"""Gas of MileageLedger.grantBatch for new and existing accounts at batch sizes 50, 200 and 500.

Starts a private anvil, deploys the ledger, registers ECO_HOUSEHOLD and measures, per award:
  - new:          every award goes to an account that never had an entry
  - existing:     the same accounts again, a day later, balance unspent: the grant adds an expiry
                  checkpoint and spills the previous one into a fresh pair slot (the worst case)
  - existing_3rd: a third grant: the spill fills the second half of that pair slot
  - existing_spent: a grant after the account converted its whole balance to SEOUL: the old
                  history is dropped, nothing spills (the common case of members who use mileage)
"existing" in the goal is reported both ways: existing_spent (no checkpoint to keep: the grant
writes the account word and the position word, nothing else) and the steady mean of existing and
existing_3rd (an unspent balance keeps every grant date, so each new date spills a checkpoint).
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
                        h = c.functions.convert(a, ECO_HOUSEHOLD, 7, bal, cid).transact(
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
    out = ROOT / "bench" / "gas.json"
    out.parent.mkdir(exist_ok=True)
    notes = (
        "gas per award including the batch's share of the 21,000 base. A new account writes two "
        "fresh words (account: head + count + flags; position: balance + newest checkpoint). An "
        "existing one rewrites the same two words; with an unspent balance from an earlier grant "
        "date the previous checkpoint also spills into the checkpoint array (two per slot: +22,100 "
        "into a fresh slot, +5,000 into a half-full one). See contracts/README.md, section Gas."
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
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
