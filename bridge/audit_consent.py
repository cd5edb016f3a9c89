"""Audit of expiry reasons against donation consent, from chain data alone.

The contract records lapsed mileage as an EXPIRY entry with reason EXPIRY_DONATION when the
account consents to donation at that moment, else with reason EXPIRY. This check replays the
contract's ``DonationConsentSet(account, consent)`` events and the EXPIRY entries
(``EntryRecorded`` with kind EXPIRY) in block/log order: an EXPIRY while the replayed consent is
true, or an EXPIRY_DONATION while it is false, is a :class:`Mismatch` naming the account, block
and reason. An account has no consent until its first event.

:class:`ConsentChecker` is fed by the verifier's one pass over the logs
(:class:`bridge.verify.replay.TrailChecker` asks for both events in one ``eth_getLogs`` filter,
queues the consent events of each answer with :meth:`ConsentChecker.queue` and calls
:meth:`ConsentChecker.expiry` for each EXPIRY entry, which first applies the consent events
before it in chain order). :func:`check_expiry_consent` runs it over raw JSON-RPC logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bridge.raw_reader import CONSENT_SIGNATURE, CONSENT_TOPIC
from ledger.domain.codes import EntryKind, Reason
from ledger.domain.errors import InvalidValue
from ledger.domain.hashchain import unpack_entry

if TYPE_CHECKING:
    from bridge.verify.replay import Mismatch

__all__ = [
    "CONSENT_SIGNATURE",
    "CONSENT_TOPIC",
    "ConsentChecker",
    "check_expiry_consent",
    "is_consent_log",
    "log_position",
]

_EXPIRY_REASONS = {int(Reason.EXPIRY): False, int(Reason.EXPIRY_DONATION): True}
_EXPIRY = int(EntryKind.EXPIRY)


def is_consent_log(log: Mapping[str, Any]) -> bool:
    """Whether a raw log is a well-formed ``DonationConsentSet`` log (the account topic and
    one data word)."""
    topics: Sequence[Any] = log.get("topics") or []
    data = log.get("data")
    return (
        len(topics) == 2
        and str(topics[0]).lower() == CONSENT_TOPIC
        and isinstance(data, str)
        and len(data) == 66
    )


def log_position(log: Mapping[str, Any]) -> bytes:
    """A raw log's place in chain order as the verifier's records hold it: block number (8
    bytes) and log index (4 bytes), big-endian (a log without an index sorts first)."""
    block = int(str(log["blockNumber"]), 16)
    index = int(str(log.get("logIndex") or "0x0"), 16)
    return block.to_bytes(8, "big") + index.to_bytes(4, "big")


class ConsentChecker:
    """Replays donation consent per account and checks every EXPIRY entry's reason against it.

    Consent events are queued (:meth:`queue`, in chain order) and applied when an EXPIRY after
    them comes by (:meth:`expiry`) or at the end of a block range (:meth:`flush`);
    :meth:`finish` gives the mismatches."""

    def __init__(self) -> None:
        self.consent: dict[bytes, bool] = {}
        self._pending: list[tuple[bytes, bytes, bool]] = []  # (position, account, consent)
        self._bad: list[Mismatch] = []

    def queue(self, log: Mapping[str, Any]) -> None:
        """Queue a ``DonationConsentSet`` log (:func:`is_consent_log`), in chain order."""
        account = bytes.fromhex(str(log["topics"][1])[2:])
        value = int(str(log["data"])[2:], 16) != 0
        self._pending.append((log_position(log), account, value))

    def flush(self, before: bytes | None = None) -> None:
        """Apply the queued consent events (only those before position ``before`` if given)."""
        pending = self._pending
        if before is None:
            done = len(pending)
        else:
            done = 0
            while done < len(pending) and pending[done][0] < before:
                done += 1
        for _pos, account, value in pending[:done]:
            self.consent[account] = value
        del pending[:done]

    def expiry(self, account: bytes, pos: bytes, reason: int, amount: int) -> None:
        """Check an EXPIRY entry of ``account`` at ``pos`` (see :func:`log_position`)."""
        from bridge.verify.replay import Mismatch

        if self._pending:
            self.flush(pos)
        donated = _EXPIRY_REASONS.get(reason)
        if donated is None:
            return
        given = self.consent.get(account, False)
        if donated == given:
            return
        name = Reason(reason).name
        block = int.from_bytes(pos[:8], "big")
        self._bad.append(
            Mismatch(
                "0x" + account.hex(),
                "expiry reason",
                "EXPIRY_DONATION" if given else "EXPIRY",
                name,
                f"block {block}: {name} of {amount} while the donation consent "
                f"on chain was {'true' if given else 'false'} (DonationConsentSet events)",
            )
        )

    def feed(self, log: Mapping[str, Any]) -> None:
        """One raw log (``DonationConsentSet`` or ``EntryRecorded``; others are ignored)."""
        topics = log["topics"]
        if str(topics[0]).lower() == CONSENT_TOPIC:
            self.queue(log)
            return
        data = str(log["data"])
        try:
            entry = unpack_entry(int(data[2:66], 16))
        except (InvalidValue, ValueError):
            return  # a malformed entry word: the trail check reports the entry itself
        if entry["kind"] == _EXPIRY:
            account = bytes.fromhex(str(topics[1])[2:])
            self.expiry(account, log_position(log), entry["reason"], entry["amount"])

    def finish(self) -> list[Mismatch]:
        self.flush()
        return list(self._bad)


def check_expiry_consent(logs: Iterable[Mapping[str, Any]]) -> list[Mismatch]:
    """Replay consent events and EXPIRY entries (in the order given: block/log order) and
    return every expiry whose reason disagrees with the consent at that moment."""
    checker = ConsentChecker()
    for log in logs:
        checker.feed(log)
        checker.flush()  # the order given is the order: apply each event as it comes
    return checker.finish()
