"""Audit of expiry reasons against donation consent, from chain data alone.

The contract records lapsed mileage as an EXPIRY entry with reason EXPIRY_DONATION when the
account consents to donation at that moment, else with reason EXPIRY. This check replays the
contract's ``DonationConsentSet(account, consent)`` events and the EXPIRY entries
(``EntryRecorded`` with kind EXPIRY) of one block range in block/log order: an EXPIRY while the
replayed consent is true, or an EXPIRY_DONATION while it is false, is a :class:`Mismatch`
naming the account, block and reason. An account has no consent until its first event.

Called by :func:`bridge.verify.verify_ledger` (``mileage audit verify``). It reads the logs a
second time (both events in one ``eth_getLogs`` filter); a trail of millions of entries costs
about as much again as the trail check's own read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eth_hash.auto import keccak

from bridge.raw_reader import ENTRY_TOPIC, RawLedgerReader, norm_account
from bridge.rpc import RpcError
from ledger.domain.codes import EntryKind, Reason
from ledger.domain.errors import InvalidValue
from ledger.domain.hashchain import unpack_entry

if TYPE_CHECKING:
    from bridge.verify.replay import Mismatch

CONSENT_SIGNATURE = "DonationConsentSet(bytes32,bool)"
CONSENT_TOPIC = "0x" + keccak(CONSENT_SIGNATURE.encode()).hex()
_EXPIRY_REASONS = {int(Reason.EXPIRY): False, int(Reason.EXPIRY_DONATION): True}


def consent_logs(
    rd: RawLedgerReader,
    from_block: int,
    to_block: int,
    accounts: Sequence[str] | None = None,
    chunk: int = 2_000,
) -> Iterator[dict[str, Any]]:
    """``DonationConsentSet`` and ``EntryRecorded`` logs of the contract in [from_block,
    to_block], in chain order (a range the node refuses is read in halves)."""

    topics: list[Any] = [[ENTRY_TOPIC, CONSENT_TOPIC]]
    if accounts is not None:
        topics.append([norm_account(a) for a in accounts])

    def fetch(a: int, b: int) -> list[dict[str, Any]]:
        flt = {"address": rd.address, "fromBlock": hex(a), "toBlock": hex(b), "topics": topics}
        try:
            logs: list[dict[str, Any]] = rd.call("eth_getLogs", [flt])
        except RpcError:
            if a == b:
                raise
            mid = (a + b) // 2
            return fetch(a, mid) + fetch(mid + 1, b)
        return logs

    for start in range(from_block, to_block + 1, chunk):
        logs = fetch(start, min(to_block, start + chunk - 1))
        yield from sorted(logs, key=lambda g: (int(g["blockNumber"], 16), int(g["logIndex"], 16)))


def check_expiry_consent(logs: Iterable[Mapping[str, Any]]) -> list[Mismatch]:
    """Replay consent events and EXPIRY entries (in the order given: block/log order) and
    return every expiry whose reason disagrees with the consent at that moment."""
    from bridge.verify.replay import Mismatch

    consent: dict[str, bool] = {}
    bad: list[Mismatch] = []
    for log in logs:
        topics = log["topics"]
        account = str(topics[1]).lower()
        data = bytes.fromhex(str(log["data"])[2:])
        if str(topics[0]).lower() == CONSENT_TOPIC:
            consent[account] = int.from_bytes(data[:32], "big") != 0
            continue
        try:
            entry = unpack_entry(int.from_bytes(data[:32], "big"))
        except InvalidValue:
            continue  # a malformed entry word: the trail check reports the entry itself
        if entry["kind"] != int(EntryKind.EXPIRY) or entry["reason"] not in _EXPIRY_REASONS:
            continue
        donated = _EXPIRY_REASONS[entry["reason"]]
        given = consent.get(account, False)
        if donated != given:
            block = int(log["blockNumber"], 16)
            reason = Reason(entry["reason"]).name
            bad.append(
                Mismatch(
                    account,
                    "expiry reason",
                    "EXPIRY_DONATION" if given else "EXPIRY",
                    reason,
                    f"block {block}: {reason} of {entry['amount']} while the donation consent "
                    f"on chain was {'true' if given else 'false'} (DonationConsentSet events)",
                )
            )
    return bad
