"""Benchmark of the independent verifier (``mileage audit verify``): events/s, goal >= 50,000.

Synthesises a ledger with many entries on a fresh anvil (large ``grantBatch`` calls, one issuer
key, program budgets raised so a million awards fit), then runs ``bridge.verify.verify_ledger``
over it: every ``EntryRecorded`` log fetched, every hash-chain link recomputed, and every
account's count, head and balances read back from the contract at one block. Optionally
(``--index-db URL`` or ``--index-sqlite``) the indexer is timed over the same chain too.

    .venv/bin/python scripts/bench_audit.py                    # 1,000,000 entries
    .venv/bin/python scripts/bench_audit.py --scale 0.05       # 50,000 entries (quick)
    .venv/bin/python scripts/bench_audit.py --rpc URL          # synthesise on a running node
    .venv/bin/python scripts/bench_audit.py --rpc URL --contract ADDR   # only verify

Prints progress on stderr and one JSON object on stdout (also written to bench/audit.json):
``events_per_s`` (the whole run: logs, replay and state reads), ``replay_events_per_s`` (logs
fetched and replayed, without the per-account state reads), the counts and the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402

from bridge.anvil import AnvilProcess  # noqa: E402
from bridge.chain import make_web3  # noqa: E402
from bridge.client import GrantItem, LedgerClient, encode_grant_batch  # noqa: E402
from bridge.raw_reader import RawLedgerReader  # noqa: E402
from bridge.verify import verify_ledger  # noqa: E402
from ledger.domain.codes import Program  # noqa: E402
from ledger.settings import ANVIL_DEV_KEY  # noqa: E402

BENCH_DIR = ROOT / "bench"
BIG_BUDGET = 2**90
PROGRAMS = (Program.BIKE, Program.CAR, Program.ECO_HOUSEHOLD)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def deploy(w3: Any) -> tuple[str, int]:
    """The ledger with the dev key in every role and budgets that never run out."""
    from bridge.deploy import DEFAULT_PROGRAMS, RoleHolders, deploy_ledger

    me = Account.from_key(ANVIL_DEV_KEY).address
    roles = RoleHolders(
        issuers={int(p): me for p in Program if p is not Program.SEOUL},
        converter=me,
        spender=me,
        expirer=me,
        corrector=me,
        registrar=me,
        pauser=me,
    )
    programs = {
        code: {**limits, "annual_budget": BIG_BUDGET if limits["max_award"] else 0}
        for code, limits in DEFAULT_PROGRAMS.items()
    }
    dep = deploy_ledger(w3, ANVIL_DEV_KEY, roles, programs=programs)
    return str(dep.address), int(dep.block_number)


def synthesise(w3: Any, address: str, entries: int, accounts: int, batch: int) -> float:
    """``entries`` GRANT entries over ``accounts`` accounts, ``batch`` per transaction.
    Transactions are signed and sent back to back (anvil mines each on arrival)."""
    client = LedgerClient(w3, address)
    me = Account.from_key(ANVIL_DEV_KEY)
    nonce = w3.eth.get_transaction_count(me.address, "pending")
    chain_id = w3.eth.chain_id
    ids = [i.to_bytes(4, "big") * 8 for i in range(1, accounts + 1)]
    t0 = time.perf_counter()
    hashes = []
    award_no = 1
    sent = 0
    while sent < entries:
        n = min(batch, entries - sent)
        program = PROGRAMS[(sent // accounts) % len(PROGRAMS)]
        cap = 2_000 if program is Program.BIKE else 50_000
        items = [
            GrantItem(
                ids[(sent + k) % accounts],
                award_no + k,
                1 + (award_no + k) % cap,
                (award_no + k).to_bytes(32, "big"),
            )
            for k in range(n)
        ]
        data = encode_grant_batch(int(program), items)
        tx = {
            "to": client.address,
            "data": data,
            "nonce": nonce,
            "gas": 120_000 * n + 500_000,
            "gasPrice": 0,
            "chainId": chain_id,
        }
        hashes.append(w3.eth.send_raw_transaction(me.sign_transaction(tx).raw_transaction))
        nonce += 1
        award_no += n
        sent += n
        if len(hashes) % 20 == 0:
            say(f"  {sent:,} / {entries:,} entries sent ({time.perf_counter() - t0:.0f}s)")
    # receipts through plain JSON-RPC: web3 would decode all 2,000 logs of each one
    reader = RawLedgerReader(w3.provider.endpoint_uri, address)
    pending = ["0x" + bytes(h).hex() for h in hashes]
    deadline = time.monotonic() + 1800
    while pending:
        head, pending = pending[:50], pending[50:]
        receipts = reader.batch("eth_getTransactionReceipt", [[h] for h in head])
        for h, r in zip(head, receipts, strict=True):
            if r is not None and int(r["status"], 16) != 1:
                raise SystemExit(f"grantBatch {h} reverted: raise the gas or lower --batch")
        waiting = [h for h, r in zip(head, receipts, strict=True) if r is None]
        if waiting:
            if time.monotonic() > deadline:
                raise SystemExit("transactions were not mined within 30 minutes")
            time.sleep(0.5)
            pending = waiting + pending
    reader.close()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries to synthesise")
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts they spread over")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply both counts")
    ap.add_argument("--batch", type=int, default=2_000, help="awards per grantBatch")
    ap.add_argument("--rpc", help="use this node (its block gas limit must fit --batch)")
    ap.add_argument("--contract", help="with --rpc: only verify this ledger (no synthesis)")
    ap.add_argument("--index-db", help="also time the indexer into this database URL")
    ap.add_argument("--index-sqlite", action="store_true", help="... into a temporary SQLite")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "audit.json")
    args = ap.parse_args()
    entries = max(1_000, int(args.entries * args.scale))
    accounts = max(100, min(entries, int(args.accounts * args.scale)))
    result: dict[str, Any] = {"goal_events_per_s": 50_000}
    node: AnvilProcess | None = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-audit-")
    try:
        if args.rpc and args.contract:
            url, address, deployed_at = args.rpc, args.contract, None
        else:
            if args.rpc:
                url = args.rpc
            else:
                node = AnvilProcess(
                    gas_limit=max(30_000_000, 130_000 * args.batch + 1_000_000),
                    log_file=Path(tmp.name) / "anvil.log",
                    extra_args=["--prune-history", "64"],  # a million entries: bound memory
                ).start()
                url = node.url
            w3 = make_web3(url)
            address, deployed_at = deploy(w3)
            result["contract"] = address
            say(
                f"ledger at {address}; synthesising {entries:,} entries over {accounts:,} "
                f"accounts (batch {args.batch})"
            )
            secs = synthesise(w3, address, entries, accounts, args.batch)
            result["synthesis_s"] = round(secs, 1)
            say(f"synthesised in {secs:.0f}s; head {w3.eth.block_number}")

        def progress(block: int, last: int, n: int) -> None:
            if block == last or block % 50 == 0:
                say(f"  verify: block {block}/{last}, {n:,} entries")

        say("verifying from chain data alone")
        rep = verify_ledger(url, address, from_block=deployed_at, progress=progress)
        say(rep.summary())
        replay_s = rep.seconds - rep.state_seconds
        result.update(
            {
                "entries": rep.entries,
                "accounts": rep.accounts,
                "block": rep.block,
                "ok": rep.ok,
                "mismatches": len(rep.mismatches),
                "seconds": round(rep.seconds, 2),
                "log_wait_s": round(rep.fetch_seconds, 2),
                "state_s": round(rep.state_seconds, 2),
                "events_per_s": round(rep.events_per_second, 1),
                "replay_events_per_s": round(rep.entries / replay_s, 1) if replay_s else None,
                "goal_met": rep.ok and rep.events_per_second >= 50_000,
            }
        )
        db_url = args.index_db or (
            f"sqlite:///{Path(tmp.name) / 'index.db'}" if args.index_sqlite else None
        )
        if db_url:
            result.update(bench_indexer(url, address, deployed_at or rep.from_block, db_url))
    finally:
        if node is not None:
            node.stop()
        tmp.cleanup()
    BENCH_DIR.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


def bench_indexer(url: str, address: str, start: int, db_url: str) -> dict[str, Any]:
    """Time the indexer from the deployment block to the head into ``db_url``."""
    from bridge.indexer import Indexer
    from ledger.adapters.db import make_engine, make_sessionmaker, migrate

    say(f"indexing into {db_url.split('@')[-1]}")
    migrate(db_url)
    engine = make_engine(db_url)
    ix = Indexer(make_sessionmaker(engine), LedgerClient(make_web3(url), address), start)
    t0 = time.perf_counter()
    n = ix.run_until_head()
    secs = time.perf_counter() - t0
    engine.dispose()
    say(f"indexed {n:,} entries in {secs:.1f}s ({n / secs:,.0f}/s)")
    return {"indexed": n, "index_s": round(secs, 2), "index_entries_per_s": round(n / secs, 1)}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
