"""Independent, chain-only verification of the ledger: no database, only JSON-RPC.

``verify_ledger`` reads every ``EntryRecorded`` log of the contract (or of chosen accounts) up to
one block, replays each account's hash chain and balances from the logs alone, and checks the
result against the contract's own state *at that same block*: ``accountState`` (count, head),
``balancesOf`` and, for a whole-ledger run, ``programTotals``. A missing, altered, duplicated or
reordered entry cannot reproduce the contract's head (docs/DESIGN.md, "Entries and the hash
chain"), so every such defect surfaces as a :class:`Mismatch`.

Speed (the goal is >= 50,000 events/s over millions of entries) comes from skipping web3's event
machinery. The parts:

- :mod:`bridge.raw_reader`: plain JSON-RPC reads (:mod:`bridge.rpc`) of logs and of the contract
  state of many accounts per batched ``eth_call`` (``contracts/audit/LedgerStateReader.sol``);
- :mod:`bridge.verify.records`: the node's ``eth_getLogs`` answers, scanned into fixed-width
  binary records without decoding the JSON;
- :mod:`bridge.verify.fetch`: the next block range prefetched on a thread (or a process) while
  the current one is replayed;
- :mod:`bridge.verify.replay`: the pure check (:class:`TrailChecker`, :func:`verify_trail`);
- :mod:`bridge.verify.run`: :func:`verify_ledger`, the whole run against a node.
"""

from bridge.errors import VerificationError
from bridge.verify.replay import Mismatch, TrailChecker, verify_trail
from bridge.verify.run import VerifyReport, verify_ledger

__all__ = [
    "Mismatch",
    "TrailChecker",
    "VerificationError",
    "VerifyReport",
    "verify_ledger",
    "verify_trail",
]
