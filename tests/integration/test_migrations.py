"""Alembic migrations from an empty database produce exactly the schema of ledger/adapters/orm.py
(on SQLite and PostgreSQL), so no table or column exists only in the models."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.adapters.db import alembic_config, make_engine
from ledger.adapters.orm import Base


def test_migrations_match_the_models(db_url: str) -> None:
    # db_url is a fresh database already migrated to head by the fixture.
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
    engine.dispose()
    assert diff == [], diff
    assert version is not None


def test_award_windows_become_without_rowid_on_sqlite_and_keep_their_rows(tmp_path: Path) -> None:
    """0020 copies award_windows into a WITHOUT ROWID table (one B-tree: the primary key) and
    back on downgrade, every window kept."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    command.upgrade(alembic_config(url), "0019")
    rows = [("BIKE", "member:B1", "2025-01", "0x01"), ("CAR", "vehicle:V1", "2024-03", "0x02")]

    def table() -> tuple[str, set[tuple[str, ...]]]:
        engine = make_engine(url)
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'award_windows'"
            ).scalar_one()
            found = {tuple(r) for r in conn.exec_driver_sql("SELECT * FROM award_windows")}
        engine.dispose()
        return " ".join(sql.split()), found

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO award_windows VALUES (?, ?, ?, ?)", rows)
    engine.dispose()
    command.upgrade(alembic_config(url), "0020")  # (0022 drops windows no award holds)
    sql, found = table()
    assert sql.endswith("WITHOUT ROWID") and "PRIMARY KEY (program, holder, month)" in sql
    assert found == set(rows)
    command.downgrade(alembic_config(url), "0019")
    sql, found = table()
    assert not sql.endswith("WITHOUT ROWID") and found == set(rows)


def test_windows_no_award_holds_are_removed_and_the_others_kept(db_url: str) -> None:
    """0022: a window whose award id names no award (left by an import on SQLite before
    ``savepoint``) is removed; a window of a recorded award stays."""
    command.downgrade(alembic_config(db_url), "0021")
    engine = make_engine(db_url)
    kept = ("CAR", "vehicle:V1", "2025-05", "0x" + "11" * 32)
    orphan = ("CAR", "vehicle:V2", "2025-05", "0x" + "22" * 32)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO awards (award_id, program, member_id, account_id, period, amount, "
                "tier, source, status, created_at, updated_at) VALUES (:aid, 'CAR', 'V1', "
                ":acc, '2025-05..2025-10', 100, '', 's', 'pending', :now, :now)"
            ),
            {"aid": kept[3], "acc": "0x" + "33" * 32, "now": "2026-12-01 00:00:00"},
        )
        for row in (kept, orphan):
            conn.execute(
                sa.text("INSERT INTO award_windows VALUES (:p, :h, :m, :a)"),
                dict(zip("phma", row, strict=True)),
            )
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as conn:
        found = {tuple(r) for r in conn.execute(sa.text("SELECT * FROM award_windows"))}
    engine.dispose()
    assert found == {kept}


def test_awards_written_before_they_followed_their_transaction_read_the_same(db_url: str) -> None:
    """0024: an award stored ``sent``, ``mined`` or ``final`` becomes ``signed`` and reads its
    transaction's state, the same; ``pending``, ``failed`` and ``conflict`` stay. Downgrade
    writes the states back."""
    from ledger.adapters.award_state import award_state, with_tx
    from ledger.adapters.orm import Award

    command.downgrade(alembic_config(db_url), "0023")
    engine = make_engine(db_url)
    # award state, its transaction's state (None: no transaction)
    rows = [
        ("final", "final"),
        ("mined", "mined"),
        ("sent", "sent"),
        ("signed", "sent"),
        ("signed", "signed"),
        ("pending", None),
        ("failed", None),
        ("conflict", "final"),
    ]
    now = "2026-12-01 00:00:00"
    with engine.begin() as conn:
        for n, (state, tx_state) in enumerate(rows):
            tx_id = None
            if tx_state is not None:
                tx_id = conn.execute(
                    sa.text(
                        "INSERT INTO chain_txs (sender, nonce, kind, program, raw_tx, tx_hash, "
                        "status, attempts, created_at, updated_at) VALUES ('0xs', :n, 'grant', "
                        "'CAR', '0x', :h, :st, 0, :now, :now) RETURNING id"
                    ),
                    {"n": n, "h": f"0x{n:064x}", "st": tx_state, "now": now},
                ).scalar()
            conn.execute(
                sa.text(
                    "INSERT INTO awards (award_id, program, member_id, account_id, period, "
                    "amount, tier, source, status, tx_id, created_at, updated_at) VALUES (:aid, "
                    "'CAR', :m, :acc, '2025-05', 100, '', 's', :st, :tx, :now, :now)"
                ),
                {
                    "aid": f"0x{n:064x}",
                    "m": f"m{n}",
                    "acc": "0x" + "33" * 32,
                    "st": state,
                    "tx": tx_id,
                    "now": now,
                },
            )
    command.upgrade(alembic_config(db_url), "head")
    read = with_tx(sa.select(Award.member_id, Award.status, award_state())).order_by(Award.award_no)
    with engine.connect() as conn:
        after = [(stored, state) for _, stored, state in conn.execute(read)]
    # a signed award in a sent transaction read ``sent`` already (bridge status)
    states = [state if (state, tx) != ("signed", "sent") else "sent" for state, tx in rows]
    assert [state for _, state in after] == states
    assert [stored for stored, _ in after] == [
        "signed", "signed", "signed", "signed", "signed", "pending", "failed", "conflict"
    ]  # fmt: skip
    command.downgrade(alembic_config(db_url), "0023")
    with engine.connect() as conn:
        back = [r[0] for r in conn.execute(sa.text("SELECT status FROM awards ORDER BY award_no"))]
    engine.dispose()
    assert back == states
