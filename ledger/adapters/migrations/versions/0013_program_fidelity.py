"""program fidelity: award windows, members' sign-up dates (issue 14)

- ``award_windows``: one row per (program, holder, month) an award covers; the primary key
  keeps a member's (a vehicle's) windows from overlapping across feeds. Backfilled from the
  awards already recorded, oldest first (an overlap already in the data keeps the older award's
  months); CAR and CAR_SEASON awards recorded before this revision do not name their vehicle
  and are not backfilled.
- ``members.joined_at``: the sign-up date in the program's own system; existing members get
  the date they were registered in the ledger.
- ``award_flags``: follow-ups a rule asked for (the 10 % usage-rise notice), with their round.
- ``correction_reasons``: the reason of each correction, by its transaction hash.

Revision ID: 0013
Revises: 0011 (0004 in the brief; chained after main's 0011 at the merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_VEHICLE_PROGRAMS = ("CAR", "CAR_SEASON")


def _months(program: str, period: str) -> list[str]:
    def index(text: str) -> int:
        return int(text[:4]) * 12 + int(text[5:7]) - 1

    if program in ("ECO_SEASON", "CAR_SEASON"):
        first, last = index(f"{period}-12"), index(f"{period}-12") + 3
    elif program == "BIKE":
        first = last = index(period)
    else:
        start, _, end = period.partition("..")
        first, last = index(start), index(end)
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1)]


def upgrade() -> None:
    op.create_table(
        "award_windows",
        sa.Column("program", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=80), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("award_id", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("program", "holder", "month", name=op.f("pk_award_windows")),
    )
    with op.batch_alter_table("award_windows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_award_windows_award_id"), ["award_id"], unique=False)
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("joined_at", sa.Date(), nullable=True))
    op.create_table(
        "award_flags",
        sa.Column("program", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("flag", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "program", "member_id", "period", "flag", name=op.f("pk_award_flags")
        ),
    )
    op.create_table(
        "correction_reasons",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("award_no", sa.Integer(), nullable=False),
        sa.Column("award_id", sa.String(length=66), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", name=op.f("pk_correction_reasons")),
    )
    with op.batch_alter_table("correction_reasons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_correction_reasons_award_no"), ["award_no"], unique=False
        )

    bind = op.get_bind()
    members = sa.table(
        "members",
        sa.column("registered_at", sa.DateTime(timezone=True)),
        sa.column("joined_at", sa.Date()),
    )
    for (registered,) in bind.execute(sa.select(members.c.registered_at).distinct()):
        bind.execute(
            members.update()
            .where(members.c.registered_at == registered)
            .values(joined_at=registered.date() if registered is not None else None)
        )
    awards = sa.table(
        "awards",
        sa.column("award_no"),
        sa.column("award_id"),
        sa.column("program"),
        sa.column("member_id"),
        sa.column("period"),
    )
    windows = sa.table(
        "award_windows",
        sa.column("program"),
        sa.column("holder"),
        sa.column("month"),
        sa.column("award_id"),
    )
    held: set[tuple[str, str, str]] = set()
    rows: list[dict[str, str]] = []
    query = sa.select(
        awards.c.award_id, awards.c.program, awards.c.member_id, awards.c.period
    ).order_by(awards.c.award_no)
    for award_id, program, member, period in bind.execute(query):
        if program in _VEHICLE_PROGRAMS:
            continue
        holder = f"member:{member}"
        for month in _months(program, period):
            if (program, holder, month) not in held:
                held.add((program, holder, month))
                rows.append(
                    {"program": program, "holder": holder, "month": month, "award_id": award_id}
                )
        if len(rows) >= 5000:
            bind.execute(windows.insert(), rows)
            rows.clear()
    if rows:
        bind.execute(windows.insert(), rows)


def downgrade() -> None:
    op.drop_table("correction_reasons")
    op.drop_table("award_flags")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("joined_at")
    op.drop_table("award_windows")
