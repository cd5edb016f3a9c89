"""The log reader of the verifier: ``EntryRecorded`` logs fetched range by range ahead of the
replay, on a thread or in a child process (:func:`iter_records`).

Logs are fetched with plain ``eth_getLogs`` (:class:`bridge.raw_reader.RawLedgerReader`); the
next block range is read while the current one is checked, and the answers are packed into
records (:mod:`bridge.verify.records`) without decoding their JSON.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any

from bridge.raw_reader import RawLedgerReader
from bridge.rpc import RpcError
from bridge.verify.records import Records, pack_answer, pack_records


def produce_records(
    rpc_url: str,
    address: str,
    from_block: int,
    to_block: int,
    chunk: int,
    accounts: Sequence[str] | None,
    target_logs: int,
    out: Any,
    pack: bool = True,
    consent: bool = False,
    reader: RawLedgerReader | None = None,
) -> None:
    """Fetch ``EntryRecorded`` logs range by range and put ``(first, last, payload)`` on ``out``
    (a thread or process queue), then ``None``; an error is put as ``("error", message)``.
    ``payload`` is the packed :data:`Records` (``pack``), else the answer's JSON text (or the
    decoded logs) for the consumer to decode on its own thread.

    Ranges hold at most ``chunk`` blocks; they start at 64 and adapt so one answer holds about
    ``target_logs`` logs (a dense chain packs thousands of entries into one block).
    ``consent``: the ``DonationConsentSet`` logs too (the packed records leave them aside, as
    JSON-RPC dicts). ``reader``: read through this one (a thread's producer) instead of a new one.
    """
    try:
        with nullcontext(reader) if reader else RawLedgerReader(rpc_url, address) as rd:
            span = min(chunk, 64)
            a = from_block
            while a <= to_block:
                b = min(a + span - 1, to_block)
                got = rd.entry_logs_text(a, b, accounts, consent=consent)
                if pack:
                    packed = pack_answer(got) if isinstance(got, bytes) else pack_records(got)
                    n = packed[1] + len(packed[2])
                    out.put((a, b, packed))
                else:
                    n = got.count(b'"logIndex"') if isinstance(got, bytes) else len(got)
                    out.put((a, b, got))
                a = b + 1
                if n > target_logs:
                    span = max(1, span * target_logs // n)
                elif n < target_logs // 2:
                    span = min(chunk, span * 2)
        out.put(None)
    except Exception as exc:  # reported to the consumer, which raises it there
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def iter_records(
    rpc_url: str,
    address: str,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2_000,
    accounts: Sequence[str] | None = None,
    target_logs: int = 20_000,
    prefetch: int = 3,
    process: bool = False,
    pack: bool = False,
    consent: bool = False,
    reader: RawLedgerReader | None = None,
) -> Iterator[tuple[int, int, Records]]:
    """``(first, last, records)`` per block range, in order, fetched ahead of the consumer by
    :func:`produce_records` on a thread, or with ``process`` in a child process (it then reads
    the node's answers without competing for this process's GIL, so the node never waits).
    JSON decoding and packing happen here, unless ``pack`` moves them to the child process
    (worth it with cores to spare besides the node's and the replay's). ``consent`` and
    ``reader``: see :func:`produce_records` (a ``reader`` is used on a thread only)."""
    if from_block > to_block:
        return
    args = (rpc_url, address, from_block, to_block, chunk, accounts, target_logs)
    worker: Any
    if process:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        q: Any = ctx.Queue(maxsize=max(1, prefetch))
        worker = ctx.Process(target=produce_records, args=(*args, q, pack, consent), daemon=True)
    else:
        q = queue.Queue(maxsize=max(1, prefetch))
        worker = threading.Thread(
            target=produce_records, args=(*args, q, False, consent, reader), daemon=True
        )
    worker.start()
    try:
        while True:
            try:
                item = q.get(timeout=1.0)
            except queue.Empty:
                if not worker.is_alive():  # died without a word (e.g. a failed spawn)
                    raise RpcError("eth_getLogs", "the log reader stopped unexpectedly") from None
                continue
            if item is None:
                return
            if item[0] == "error":
                raise RpcError("eth_getLogs", item[1])
            first, last, payload = item
            if isinstance(payload, bytes):
                payload = pack_answer(payload)
            elif isinstance(payload, list):
                payload = pack_records(payload)
            yield first, last, payload
    finally:
        if process and worker.is_alive():
            worker.terminate()
        elif not process:
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    worker.join(0.05)
        worker.join(5)
