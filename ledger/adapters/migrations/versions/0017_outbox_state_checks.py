"""outbox state and kind checks on operations

The operations table gets the CHECK constraints the awards and chain_txs tables already have:
``status`` one of ledger.domain.outbox.OperationState, ``kind`` one of OperationKind (``refund``
included, for the refund operation). The values are pinned here as they are at this revision;
tests/integration/test_outbox_states.py compares a migrated database with the enums, so a new
member needs a migration that widens the constraint.

Revision ID: 0017
Revises: 0015 (0016 is being added alongside; the lead re-chains at the merge)
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

STATUS = "status IN ('pending', 'signed', 'sent', 'mined', 'final', 'failed')"
KIND = "kind IN ('conversion', 'deduction', 'consent', 'refund')"


def upgrade() -> None:
    # batch mode: SQLite cannot add a constraint to a table, the table is copied
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_operations_status"), STATUS)
        batch_op.create_check_constraint(op.f("ck_operations_kind"), KIND)


def downgrade() -> None:
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_operations_kind"), type_="check")
        batch_op.drop_constraint(op.f("ck_operations_status"), type_="check")
