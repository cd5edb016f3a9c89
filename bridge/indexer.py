"""The indexer: the ledger's ``EntryRecorded`` events, copied into the database.

Invariants (each step is one database transaction, so they hold after every commit):

- every indexed entry sits at its chain position (block number and hash, transaction hash, log
  index), unique per (account, seq);
- ``index_cursor`` names the last block whose entries are all in ``entries``; it is advanced in
  the same transaction as the rows, so a crash re-indexes nothing twice and skips nothing;
- ``balances`` and ``account_heads`` are projections of ``entries`` (credits minus debits per
  account and program; the last seq and head per account), written in that same transaction;
- an entry is only accepted if it extends the account's indexed chain: its seq is the stored count
  plus one (a gap means the node served incomplete logs or the index was edited: the step fails
  and commits nothing). The log carries no head; the indexer computes it,
  ``bytes24(keccak256(stored head ‖ account ‖ entry ‖ ref))`` (docs/DESIGN.md), and stores it with
  the row and in ``account_heads``, where ``mileage reconcile`` compares it with the contract's.

Reorgs: the hashes of recently indexed blocks are kept in ``indexed_blocks`` (the range ends and
every block with entries, the last ``keep_blocks`` block numbers). Each step first checks that the
cursor block is still on the chain and that the next block's parent hash is the cursor's hash. On
a mismatch the indexer walks back through the kept blocks to the newest one the chain still has
(the common ancestor), deletes the entries above it, recomputes the projections of the accounts
they touched and moves the cursor there; the next steps re-index the new branch. With
``confirmations`` > 0 only blocks that deep are indexed (0 suits QBFT's immediate finality).

Logs are read in block ranges of at most ``chunk`` blocks with plain JSON-RPC
(:class:`bridge.raw_reader.RawLedgerReader`) and written in bulk (:mod:`bridge.index_tables`).
"""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sha3 import keccak_256
from sqlalchemy.orm import Session, sessionmaker

from bridge import metrics
from bridge.client import LedgerClient
from bridge.index_reorg import common_ancestor, remember_blocks, roll_back
from bridge.index_tables import (
    ENTRY_COLUMNS,
    ChainMoved,
    Cursor,
    EntryRow,
    IndexerError,
    IndexWriter,
    recompute_projections,
    signed_amount_sql,
)
from bridge.logs import get_logger
from bridge.raw_reader import DATA_HEX_LEN, ENTRY_HEX, ENTRY_TOPIC, REF_HEX, RawLedgerReader
from ledger.adapters.bulk import large_page_cache
from ledger.adapters.db import unit_of_work
from ledger.adapters.orm import IndexCursor
from ledger.domain.codes import CREDIT_CODES
from ledger.domain.hashchain import ENTRY_BITS, HEAD_BYTES, ZERO_HEAD, decode_entry

CURSOR_NAME = "entries"
_account, _program = itemgetter(0), itemgetter(1)

__all__ = [
    "CURSOR_NAME",
    "ENTRY_COLUMNS",
    "ChainMoved",
    "Cursor",
    "EntryRow",
    "IndexIntegrityError",
    "Indexer",
    "IndexerError",
    "check_logs",
    "is_entry_log",
    "log_blocks",
    "log_row",
    "recompute_projections",
    "signed_amount_sql",
]


class IndexIntegrityError(IndexerError):
    """An event does not extend the indexed chain of its account (``account``, ``seq``).

    Either the node served incomplete logs, or the ``entries``/``account_heads`` tables were
    changed by hand. Nothing of the step was committed; run ``mileage reconcile`` to see the
    difference, and re-index the account (or the whole index) from the chain.
    """

    def __init__(self, account: str, seq: int, problem: str) -> None:
        self.account = account
        self.seq = seq
        self.problem = problem
        super().__init__(
            f"event {account} seq {seq} does not extend the index: {problem}; "
            "run `mileage reconcile` and re-index from the chain"
        )


def is_entry_log(log: dict[str, Any]) -> bool:
    """Whether a raw log has the shape of ``EntryRecorded(bytes32 indexed, uint256, bytes32)``."""
    t = log["topics"]
    return (
        len(t) == 2 and t[0] == ENTRY_TOPIC and len(t[1]) == 66 and len(log["data"]) == DATA_HEX_LEN
    )


def log_row(log: dict[str, Any], head: str) -> EntryRow:
    """An ``entries`` row (in :data:`ENTRY_COLUMNS` order) from a raw ``EntryRecorded`` log (see
    :func:`is_entry_log`) and the head it leads to (``0x`` + 48 hex digits)."""
    d = log["data"]
    seq, kind, program, reason, timestamp, amount = decode_entry(int(d[ENTRY_HEX], 16))
    return (
        log["topics"][1],
        seq,
        kind,
        program,
        amount,
        reason,
        "0x" + d[REF_HEX],
        timestamp,
        head,
        int(log["blockNumber"], 16),
        log["blockHash"],
        log["transactionHash"],
        int(log["logIndex"], 16),
    )


def _moved(number: int) -> str:
    return f"log of block {number} is not on the current chain"


def _unexpected(number: int, topics: Any) -> str:
    return (
        f"unexpected log in block {number} (topics {topics}): not an "
        "EntryRecorded(bytes32 indexed account, uint256 entry, bytes32 ref) log"
    )


def log_blocks(logs: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """The block number and hash of each ``blockNumber`` quantity, from the logs themselves (the
    first log of each quantity names the hash)."""
    out: dict[str, tuple[int, str]] = {}
    for lg in logs:
        q = lg["blockNumber"]
        if q not in out:
            out[q] = (int(q, 16), lg["blockHash"])
    return out


def check_logs(logs: list[dict[str, Any]], blocks: dict[str, tuple[int, str]]) -> None:
    """Refuse the logs of a step if one is not on the chain (removed, or its block hash is not
    ``blocks``'s: :class:`ChainMoved`, the step is retried) or is not an ``EntryRecorded`` log
    (:func:`is_entry_log`: :class:`IndexerError`); the first such log in order decides.

    The reference of the indexer's checks: the hot loop makes them inline as it indexes, and on
    any failure calls this first, so a bad log anywhere in the range wins over what the loop
    found, as when these checks ran before the loop."""
    for lg in logs:
        bn, bh = blocks[lg["blockNumber"]]
        if lg.get("removed") or bh != lg["blockHash"]:
            raise ChainMoved(_moved(bn))
        if not is_entry_log(lg):
            raise IndexerError(_unexpected(bn, lg["topics"]))


class Indexer:
    """Follows the ledger contract of ``client`` into the database of ``session_factory``.

    ``deployment_block``: where the contract's events start. ``confirmations``: how many blocks
    below the head are indexed (0: up to the head). ``chunk``: the largest block range per step
    (smaller ranges are used while ranges return more than ``max_events`` entries).
    ``keep_blocks``: how many recent block numbers keep their hashes for reorg detection.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        client: LedgerClient,
        deployment_block: int,
        confirmations: int = 0,
        *,
        chunk: int = 2_000,
        max_events: int = 50_000,
        keep_blocks: int = 256,
        name: str = CURSOR_NAME,
        reader: RawLedgerReader | None = None,
    ) -> None:
        if chunk < 1 or keep_blocks < 1 or confirmations < 0:
            raise IndexerError("chunk and keep_blocks must be >= 1, confirmations >= 0")
        self.session_factory = session_factory
        self.client = client
        self.deployment_block = deployment_block
        self.confirmations = confirmations
        self.chunk = chunk
        self.max_events = max_events
        self.keep_blocks = keep_blocks
        self.name = name
        if reader is None:  # the node's URL from the web3 connection; the reader's own timeout
            reader = RawLedgerReader.of_web3(client.w3, address=client.address, timeout=120.0)
        self.reader = reader
        self._span = min(chunk, 64)  # grows while ranges are light (dense chains: 1000s per block)
        self.head = -1
        self.last_block: int | None = None
        self.log = get_logger(__name__, component="indexer")
        self._rolled_back = False

    # --- state -----------------------------------------------------------------------------------
    def cursor(self, session: Session | None = None) -> Cursor | None:
        """The committed cursor (None before the first step)."""
        if session is None:
            with self.session_factory() as s:
                return self.cursor(s)
        row = session.get(IndexCursor, self.name)
        return None if row is None else Cursor(row.block_number, row.block_hash)

    @property
    def target(self) -> int:
        """The highest block the last step was allowed to index (head minus confirmations)."""
        return self.head - self.confirmations

    @property
    def caught_up(self) -> bool:
        """True when the last step found nothing left below the target block."""
        return self.last_block is not None and self.last_block >= self.target

    # --- the step --------------------------------------------------------------------------------
    def step(self, max_ranges: int = 64) -> int:
        """Index the next block range(s), or roll back a reorg; returns the entries indexed.

        Ranges without entries are committed and passed over (up to ``max_ranges`` per call),
        so 0 means caught up (or a reorg rolled back, or the chain moved mid-read: try again),
        and ``while indexer.step(): ...`` reaches the head.
        """
        for _ in range(max_ranges):
            t0 = time.perf_counter()
            self._rolled_back = False
            try:
                n = self._step()
            except ChainMoved as exc:
                metrics.INDEXER_ERRORS.labels(kind="chain_moved").inc()
                self.log.info("chain moved during the step, retrying", detail=str(exc))
                return 0
            if n:
                metrics.INDEXER_BATCH_SECONDS.observe(time.perf_counter() - t0)
                return n
            if self._rolled_back or self.caught_up:
                return 0
        return 0

    def run_until_head(self, max_steps: int | None = None) -> int:
        """Step until the cursor reaches the head minus confirmations; returns entries indexed."""
        total = 0
        steps = 0
        while max_steps is None or steps < max_steps:
            total += self.step()
            steps += 1
            if self.caught_up:
                break
        return total

    def _step(self) -> int:
        rd = self.reader
        self.head = rd.block_number()
        target = self.target
        cur = self.cursor()
        if cur is not None:
            if cur.number > self.head:  # the chain is shorter than the index: reorg or reset
                self._rollback(cur)
                return 0
            if rd.header(cur.number)["hash"] != cur.hash:
                self._rollback(cur)
                return 0
        last = cur.number if cur is not None else self.deployment_block - 1
        self.last_block = last
        metrics.INDEXER_LAG_BLOCKS.set(max(0, self.head - last))
        if last >= target:
            return 0
        first = last + 1
        end = min(last + self._span, target)
        end_before = rd.header(end)["hash"]
        logs = rd.entry_logs(first, end)
        # the block number of each hex quantity in the logs (a range has few blocks)
        numbers = {q: int(q, 16) for q in {lg["blockNumber"] for lg in logs}}
        headers = rd.headers({first, end} | set(numbers.values()))
        if headers[end]["hash"] != end_before:
            raise ChainMoved(f"block {end} changed while its range was read")
        # each log's block: its number and hash on the chain; the logs themselves are checked in
        # the loop that indexes them (_check_and_project), before anything is committed
        blocks = {q: (bn, headers[bn]["hash"]) for q, bn in numbers.items()}
        if cur is not None and headers[first]["parentHash"] != cur.hash:
            check_logs(logs, blocks)  # a bad log is reported as it was before the rollback check
            self._rollback(cur)
            return 0
        n = self._commit(cur, first, end, headers, logs, blocks)
        self.last_block = end
        # adapt the range: fewer blocks while ranges are heavy, back to `chunk` when light
        if len(logs) > self.max_events:
            self._span = max(1, self._span * self.max_events // len(logs))
        elif len(logs) < self.max_events // 4:
            self._span = min(self.chunk, self._span * 2)
        metrics.INDEXER_BLOCK.set(end)
        metrics.INDEXER_LAG_BLOCKS.set(max(0, self.head - end))
        metrics.INDEXER_ENTRIES.inc(n)
        if n:
            self.log.info("indexed", entries=n, first=first, last=end, head=self.head)
        return n

    def _commit(
        self,
        cur: Cursor | None,
        first: int,
        end: int,
        headers: dict[int, dict[str, Any]],
        logs: list[dict[str, Any]],
        blocks: dict[str, tuple[int, str]],
    ) -> int:
        with unit_of_work(self.session_factory) as s:
            locked = s.execute(
                sa.select(IndexCursor).where(IndexCursor.name == self.name).with_for_update()
            ).scalar_one_or_none()
            now = None if locked is None else Cursor(locked.block_number, locked.block_hash)
            if now != cur:
                raise ChainMoved("another indexer advanced the cursor")
            if logs:
                writer = IndexWriter(s)
                with large_page_cache(writer):  # entries land all over (account, seq)
                    writer.insert_entries(self._check_and_project(writer, logs, blocks))
            remember_blocks(s, end, headers, self.keep_blocks)
            if locked is None:
                s.add(
                    IndexCursor(name=self.name, block_number=end, block_hash=headers[end]["hash"])
                )
            else:
                locked.block_number = end
                locked.block_hash = headers[end]["hash"]
        return len(logs)

    def _check_and_project(
        self,
        writer: IndexWriter,
        logs: list[dict[str, Any]],
        blocks: dict[str, tuple[int, str]] | None = None,
    ) -> list[EntryRow]:
        """Check every log (:func:`check_logs`) and that it extends its account's indexed chain,
        compute its head; write both projections and return the ``entries`` rows (those of
        :func:`log_row`). ``blocks``: the block number and hash on the chain of each
        ``blockNumber`` quantity (None: :func:`log_blocks`, the logs' own).

        Any failure raises what the reference route raises: :func:`check_logs` over all the logs
        first (a removed or foreign log anywhere, as the step checked before writing), then the
        failure itself."""
        if blocks is None:
            blocks = log_blocks(logs)
        try:
            return self._project(writer, logs, blocks)
        except Exception:
            check_logs(logs, blocks)
            raise

    def _project(
        self, writer: IndexWriter, logs: list[dict[str, Any]], blocks: dict[str, tuple[int, str]]
    ) -> list[EntryRow]:
        accounts = sorted({lg["topics"][1] for lg in logs})
        # account -> (count, head, the head as stored: 0x + hex)
        heads: dict[str, tuple[int, bytes, str]] = {}
        for a, c, h in writer.select_by_account(
            "account_heads", ("account_id", "count", "head"), accounts
        ):
            try:
                raw = bytes.fromhex(h[2:]) if h.startswith("0x") else b""
            except ValueError:
                raw = b""
            if len(raw) != HEAD_BYTES:
                raise IndexIntegrityError(
                    a, int(c) + 1, f"the indexed head {h!r} is not {HEAD_BYTES} bytes of hex"
                )
            heads[a] = (int(c), raw, "0x" + raw.hex())
        balances: dict[tuple[str, int], int] = {
            (a, int(p)): int(b)
            for a, p, b in writer.select_by_account(
                "balances", ("account_id", "program", "balance"), accounts
            )
        }
        changed: set[tuple[str, int]] = set()
        # the hot loop (one pass per log, all names local): check_logs, log_row and head_of, inline
        zero = (0, ZERO_HEAD, "0x" + ZERO_HEAD.hex())
        get_head = heads.get
        get_balance = balances.get
        add_changed = changed.add
        fromhex = bytes.fromhex
        keccak = keccak_256
        decode = decode_entry
        credit = CREDIT_CODES
        topic, data_len = ENTRY_TOPIC, DATA_HEX_LEN
        rows: list[EntryRow] = []
        append = rows.append
        for lg in logs:
            t = lg["topics"]
            d = lg["data"]
            bn, bh = blocks[lg["blockNumber"]]
            block_hash = lg["blockHash"]
            if block_hash != bh or lg.get("removed"):
                raise ChainMoved(_moved(bn))
            if len(t) != 2 or t[0] != topic or len(d) != data_len or len(acct := t[1]) != 66:
                raise IndexerError(_unexpected(bn, t))
            count, head, _ = get_head(acct, zero)
            word = int(d[ENTRY_HEX], 16)
            seq, kind, program, reason, timestamp, amount = decode(word)
            if seq != count + 1:
                raise IndexIntegrityError(acct, seq, f"the index holds {count} entries")
            if word >> ENTRY_BITS:
                raise IndexIntegrityError(acct, seq, "its entry word sets bits above 208")
            # bytes24(keccak256(head ‖ account ‖ entry ‖ ref)): the log's topic and data verbatim
            head = keccak(head + fromhex(acct[2:] + d[2:])).digest()[:HEAD_BYTES]
            head_hex = "0x" + head.hex()
            heads[acct] = (seq, head, head_hex)
            key = (acct, program)
            value = get_balance(key, 0) + (amount if kind in credit else -amount)
            if value < 0:
                raise IndexIntegrityError(
                    acct, seq, f"it debits more than the indexed balance of program {program}"
                )
            balances[key] = value
            add_changed(key)
            append(
                (
                    acct,
                    seq,
                    kind,
                    program,
                    amount,
                    reason,
                    "0x" + d[REF_HEX],
                    timestamp,
                    head_hex,
                    bn,
                    block_hash,
                    lg["transactionHash"],
                    int(lg["logIndex"], 16),
                )
            )
        # in (account, program) order, as sorted(changed), but two stable sorts of one field
        # each compare ints and strings, not tuples (a third of the time)
        keys = sorted(changed, key=_program)
        keys.sort(key=_account)
        writer.upsert_balances([(a, p, balances[k]) for k in keys for a, p in [k]])
        writer.upsert_heads([(a, c, x) for a in accounts for c, _, x in [heads[a]]])
        return rows

    # --- reorgs (bridge.index_reorg) -------------------------------------------------------------
    def _rollback(self, cur: Cursor) -> None:
        """Walk back to the newest kept block still on the chain and delete what is above it."""
        metrics.INDEXER_REORGS.inc()
        self._rolled_back = True
        ancestor, kept = common_ancestor(self.session_factory, self.reader, cur)
        if ancestor is None:
            self.log.warning(
                "reorg deeper than the kept blocks: re-indexing from the deployment block",
                cursor=cur.number,
                kept=kept,
            )
        keep_to = ancestor.number if ancestor is not None else self.deployment_block - 1
        removed, touched = roll_back(self.session_factory, self.name, cur, ancestor, keep_to)
        self.last_block = keep_to
        self._span = min(self.chunk, 64)
        self.log.warning(
            "reorg: rolled back",
            from_block=cur.number,
            to_block=keep_to,
            entries_removed=removed,
            accounts=touched,
        )
