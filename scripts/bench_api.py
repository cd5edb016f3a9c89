"""The api part: balance reads with 1,000,000 accounts in the database."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_common import (
    ACCOUNT_KEY,
    BIKE,
    REF_KEY,
    say,
    scaled,
)
from bench_load import load_test, serve_api
from bench_profile import spy
from eth_utils import keccak

from bridge.anvil import free_port
from bridge.compile import main_artifact


def part_api(
    base: Path,
    scale: float,
    seconds: float,
    workers: int,
    database_url: str | None,
    profile: bool,
    postgres_url: str | None = None,
) -> dict[str, Any]:
    """Balance reads with 1,000,000 accounts in the database (``database_url``, default
    SQLite); with ``postgres_url`` the same data and load on PostgreSQL too, as ``api_pg_*``."""
    n = scaled(1_000_000, scale, 1000)
    out = _balance_reads(base / "api", n, seconds, workers, database_url, profile)
    if postgres_url:
        pg = _balance_reads(base / "api-pg", n, seconds, workers, postgres_url, profile)
        out.update({f"api_pg_{k.removeprefix('api_')}": v for k, v in pg.items()})
        out["api_pg_vs_sqlite_rps"] = round(pg["api_balance_rps"] / out["api_balance_rps"], 2)
    return out


def _balance_reads(
    data_dir: Path, n: int, seconds: float, workers: int, database_url: str | None, profile: bool
) -> dict[str, Any]:
    from ledger.adapters.db import make_engine, make_sessionmaker, migrate
    from ledger.adapters.orm import Account, Balance, Deployment, IndexCursor
    from ledger.service.apikeys import create_api_key

    data_dir.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"
    if url.startswith("postgresql"):
        _reset_postgres(url)
    migrate(url)
    engine = make_engine(url)
    say(f"api: inserting {n:,} accounts with balances into {engine.dialect.name}")
    t = time.perf_counter()
    rng = random.Random(3)
    chunk = 20_000
    accounts_t = Account.__table__
    balances_t = Balance.__table__
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for start in range(0, n, chunk):
        ids = range(start + 1, min(n, start + chunk) + 1)
        acc_rows = [
            {
                "account_id": f"0x{i:064x}",
                "citizen_id": f"C{i:09d}",
                "district": f"D{i % 25:02d}",
                "donation_consent": False,
                "merged_into": None,
                "created_at": now,
            }
            for i in ids
        ]
        bal_rows = []
        for i in ids:
            bal_rows.append(
                {"account_id": f"0x{i:064x}", "program": BIKE, "balance": rng.randrange(1, 16_000)}
            )
            if i % 3 == 0:
                bal_rows.append(
                    {"account_id": f"0x{i:064x}", "program": 1, "balance": rng.randrange(1, 50_000)}
                )
            if i % 7 == 0:
                bal_rows.append(
                    {"account_id": f"0x{i:064x}", "program": 7, "balance": rng.randrange(1, 30_000)}
                )
        with engine.begin() as conn:
            conn.execute(sa.insert(accounts_t), acc_rows)
            conn.execute(sa.insert(balances_t), bal_rows)
        if (start // chunk) % 10 == 0:
            say(f"api: {min(n, start + chunk):,}/{n:,} accounts")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(IndexCursor.__table__),
            [
                {
                    "name": "entries",
                    "block_number": 12_345,
                    "block_hash": "0x" + keccak(text="bench-block").hex(),
                }
            ],
        )
        conn.execute(
            sa.insert(Deployment.__table__),
            [
                {
                    "chain_id": 31337,
                    "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                    "block_number": 1,
                    "block_hash": "0x" + "11" * 32,
                    "abi_hash": main_artifact().abi_hash,
                    "deployer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                    "created_at": now,
                }
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would after a bulk load
    insert_s = time.perf_counter() - t
    key = create_api_key(make_sessionmaker(engine), "bench-auditor", ["auditor"]).key
    engine.dispose()
    say(f"api: inserted in {insert_s:.1f}s; serving with uvicorn ({workers} worker(s))")
    env_vars = {
        **os.environ,
        "MILEAGE_DATA_DIR": str(data_dir),
        "MILEAGE_DATABASE_URL": url,
        "MILEAGE_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "MILEAGE_ACCOUNT_KEY": ACCOUNT_KEY,
        "MILEAGE_REF_KEY": REF_KEY,
    }  # no node: reads only
    sample = [f"0x{rng.randrange(1, n + 1):064x}" for _ in range(min(n, 100_000))]
    with serve_api(env_vars, workers) as (api_url, pid):
        import httpx

        r = httpx.get(
            f"{api_url}/v1/accounts/{sample[0]}/balances",
            headers={"Authorization": f"Bearer {key}"},
        )
        if r.status_code != 200:
            raise RuntimeError(f"balance read failed: {r.status_code} {r.text[:300]}")
        say(f"api: load {seconds:.0f}s at concurrency 32")
        name = "api-balance" if url.startswith("sqlite") else "api-balance-pg"
        with spy(pid, seconds, name, enabled=profile):
            res = load_test(
                api_url, key, sample, "/balances", seconds, 32, data_dir, {"server": pid}
            )
    say(
        f"api ({engine.dialect.name}): {res['rps']:,.0f} req/s, p50 {res['p50_ms']} ms, "
        f"p99 {res['p99_ms']} ms"
    )
    return {
        "api_accounts": n,
        "api_database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "api_insert_s": round(insert_s, 1),
        "api_workers": workers,
        "api_load_tool": res["tool"],
        "api_balance_rps": round(res["rps"], 1),
        "api_balance_p50_ms": res["p50_ms"],
        "api_balance_p90_ms": res.get("p90_ms"),
        "api_balance_p99_ms": res["p99_ms"],
        "api_balance_errors": res["errors"],
        # server CPU per request: 1000 / this = req/s one worker sustains on a free core
        "api_balance_server_cpu_ms_per_req": res.get("cpu_ms_per_req_server"),
    }


def _reset_postgres(url: str) -> None:
    from ledger.adapters.db import make_engine

    eng = make_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    eng.dispose()
