"""Awards the contract skipped (``AwardSkipped``): an idempotent resend, or a conflict.

``grantBatch`` skips an award whose number is already recorded. That is harmless when the chain
holds the GRANT of this very award (same account, award id, amount and program: the batch was
sent again, e.g. after a restore from a backup). Otherwise another key used the number for a
different award and this award was *not* granted: it must not be called final. The submitter
moves it to ``conflict`` (:meth:`bridge.outbox.Outbox.mark_mined`), counts it in
``mileage_awards_conflict_total`` and logs it; an operator resolves it (docs/bridge-operations.md).

The ``AwardSkipped`` event is read through the ABI by its argument names (``awardNo``), so the
decoding follows a contract that changes which arguments are indexed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eth_abi.abi import decode as abi_decode
from hexbytes import HexBytes
from sqlalchemy.orm import Session, sessionmaker

from bridge import metrics
from bridge.client import EntryEvent, LedgerClient, hex32, to_bytes32
from bridge.ledger_events import logs_with_topic
from bridge.outbox import ClaimedAward
from ledger.adapters.orm import Deployment
from ledger.domain.codes import EntryKind

SKIP_EVENT = "AwardSkipped"


@dataclass(frozen=True)
class SkipDecoder:
    """Reads the award numbers of ``AwardSkipped`` logs of one contract."""

    address: str
    topic: str
    abi: dict[str, Any]

    @classmethod
    def of(cls, client: LedgerClient) -> SkipDecoder:
        return cls(
            client.address.lower(), client.event_topic(SKIP_EVENT), client.event_abi(SKIP_EVENT)
        )

    def award_nos(self, receipt: Mapping[str, Any]) -> list[int]:
        """Award numbers skipped in a transaction, in log order (raw JSON-RPC receipt).

        Only logs whose first topic is ``AwardSkipped`` (and whose address is the ledger's) are
        decoded. A batch's receipt holds one ``EntryRecorded`` log per award, all with the same
        first topic: each distinct first topic is compared once (:func:`logs_with_topic`)."""
        return [
            int(self._args(lg)["awardNo"])
            for lg in logs_with_topic(receipt.get("logs", []), self.address, (self.topic,))
        ]

    def _args(self, log: Mapping[str, Any]) -> dict[str, Any]:
        inputs = self.abi["inputs"]
        topics = list(log["topics"][1:])
        plain = [i for i in inputs if not i.get("indexed")]
        values = abi_decode([i["type"] for i in plain], bytes(HexBytes(log.get("data", "0x"))))
        out = dict(zip((i["name"] for i in plain), values, strict=True))
        for inp, topic in zip((i for i in inputs if i.get("indexed")), topics, strict=True):
            (out[inp["name"]],) = abi_decode([inp["type"]], bytes(HexBytes(topic)))
        return out


def find_grant(
    entries: Sequence[EntryEvent], award: ClaimedAward, program: int
) -> EntryEvent | None:
    """The GRANT entry of exactly this award among ``entries`` (account, award id as ``ref``,
    amount, program), if any."""
    account, ref = to_bytes32(award.account_id), award.award_id.lower()
    for e in entries:
        if (
            e.kind == EntryKind.GRANT
            and e.account == account
            and hex32(e.ref) == ref
            and e.amount == award.amount
            and e.program == program
        ):
            return e
    return None


def conflicts(
    client: LedgerClient,
    awards: Sequence[ClaimedAward],
    skipped: Sequence[int],
    program: int,
    *,
    from_block: int,
    to_block: int,
    tx_hash: str,
) -> dict[int, str]:
    """The skipped awards of a mined batch whose GRANT the chain does not hold in
    ``[from_block, to_block]``: award number → what the operator needs to know. A skip with its
    GRANT on chain (an idempotent resend) is not in the result."""
    by_no = {a.award_no: a for a in awards}
    mine = [by_no[n] for n in skipped if n in by_no]
    if not mine:
        return {}
    accounts = sorted({to_bytes32(a.account_id) for a in mine})
    entries = client.entry_logs(from_block, to_block, accounts)
    return {
        a.award_no: (
            f"AwardSkipped in {tx_hash}: award number {a.award_no} is recorded on chain, but no "
            f"GRANT of award id {a.award_id} ({a.amount} to {a.account_id}, program {program}) "
            "is: the number holds another award; this award was not granted"
        )
        for a in mine
        if find_grant(entries, a, program) is None
    }


def deployment_block(factory: sessionmaker[Session], address: str) -> int:
    """Block the ledger at ``address`` was deployed in (0 when no deployment row names it): the
    first block worth searching for its events."""
    with factory() as s:
        block = s.scalar(
            sa.select(sa.func.min(Deployment.block_number)).where(
                sa.func.lower(Deployment.address) == address.lower()
            )
        )
    return int(block) if block is not None else 0


def log_conflicts(
    log: Any, program: str, awards: Sequence[ClaimedAward], found: Mapping[int, str]
) -> None:
    """Count and log each conflict: award number, program and award id, and what to do."""
    by_no = {a.award_no: a for a in awards}
    for no, why in found.items():
        metrics.AWARDS_CONFLICT.labels(program=program).inc()
        log.error(
            "award conflict: not granted, needs an operator (docs/bridge-operations.md)",
            award_no=no,
            program=program,
            award_id=by_no[no].award_id,
            reason=why,
        )
