"""Conversions between rows and API models shared by the services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.context import Anchor
from api.schemas import AnchorOut, EntryOut
from ledger.adapters.orm import Entry
from ledger.domain.codes import EntryKind, Program, Reason


def anchor_out(anchor: Anchor) -> AnchorOut:
    return AnchorOut(
        chain_id=anchor.chain_id,
        contract=anchor.contract,
        block_number=anchor.block_number,
        block_hash=anchor.block_hash,
    )


def _name(enum: type[Program] | type[EntryKind] | type[Reason], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def program_name(code: int) -> str:
    return _name(Program, code)


def entry_out(row: Entry) -> EntryOut:
    return EntryOut(**entry_fields(row))


def entry_fields(row: Entry) -> dict[str, Any]:
    credit = EntryKind(row.kind).is_credit
    return {
        "seq": row.seq,
        "kind": _name(EntryKind, row.kind),
        "program": _name(Program, row.program),
        "amount": row.amount,
        "direction": "credit" if credit else "debit",
        "reason": _name(Reason, row.reason),
        "ref": row.ref,
        "timestamp": row.timestamp,
        "time": datetime.fromtimestamp(row.timestamp, UTC),
        "head": row.head,
        "block_number": row.block_number,
        "block_hash": row.block_hash,
        "tx_hash": row.tx_hash,
        "log_index": row.log_index,
    }
