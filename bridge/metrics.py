"""Prometheus metrics of the bridge (submitter and indexer), defined once here.

Everything is registered on the default registry, so ``prometheus_client.generate_latest()``
(the API's ``/metrics``) and :func:`serve_metrics` (``mileage bridge run --metrics-port``) expose
the same series. Queue gauges (awards by state, oldest pending age, indexer lag) are refreshed
from the database by :func:`refresh_queue_gauges`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from bridge.outbox import QueueStatus

# --- submitter --------------------------------------------------------------------------------
AWARDS_BY_STATE = Gauge(
    "mileage_awards", "Awards in the outbox by program and state", ["program", "state"]
)
OPERATIONS_BY_STATE = Gauge(
    "mileage_operations",
    "Conversions/deductions in the outbox by kind and state",
    ["kind", "state"],
)
OLDEST_PENDING_SECONDS = Gauge(
    "mileage_oldest_pending_award_seconds", "Age of the oldest pending award", ["program"]
)
AWARDS_PROCESSED = Counter(
    "mileage_bridge_awards_total",
    "Awards the submitter moved into a terminal or on-chain state",
    ["program", "state"],
)
BATCHES_SENT = Counter(
    "mileage_bridge_batches_sent_total",
    "Transactions sent (first send) by kind",
    ["kind", "program"],
)
TX_RESENT = Counter(
    "mileage_bridge_tx_resent_total", "Stored signed transactions sent again (recovery)", ["kind"]
)
TX_LATENCY = Histogram(
    "mileage_bridge_tx_latency_seconds",
    "From signing a transaction to seeing its receipt",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
BATCH_SIZE = Histogram(
    "mileage_bridge_batch_awards",
    "Awards per grantBatch transaction",
    buckets=(1, 10, 50, 100, 200, 500, 1000, 2000),
)
REVERTS = Counter(
    "mileage_bridge_reverts_total",
    "Contract rejections (simulated or mined) by decoded custom error",
    ["error"],
)
CHAIN_ERRORS = Counter(
    "mileage_bridge_chain_errors_total", "Transient node errors (retried with backoff)", ["where"]
)
STEPS = Counter("mileage_bridge_steps_total", "Submitter steps", ["outcome"])
SIGNER_NONCE = Gauge("mileage_bridge_signer_nonce", "Next nonce of a signer (database)", ["sender"])
AWARDS_CONFLICT = Counter(
    "mileage_awards_conflict_total",
    "Awards skipped by the contract whose number holds another award on chain (need an operator)",
    ["program"],
)
AWARDS_IN_CONFLICT = Gauge(
    "mileage_awards_in_conflict", "Awards in the conflict state (alert when above 0)"
)
TX_DROPPED = Counter(
    "mileage_bridge_tx_dropped_total",
    "Mined or final transactions that left the chain (reorg) and were sent again",
    ["kind"],
)
STALLED = Gauge(
    "mileage_bridge_stalled",
    "1 while a signer has transactions in flight and nothing confirmed for MILEAGE_STALL_SECONDS",
    ["sender"],
)
SECONDS_SINCE_PROGRESS = Gauge(
    "mileage_bridge_seconds_since_progress",
    "Seconds since a signer last saw a transaction confirm while it had work in flight (0: idle)",
    ["sender"],
)

# --- indexer ----------------------------------------------------------------------------------
INDEXER_LAG_BLOCKS = Gauge("mileage_indexer_lag_blocks", "Chain head minus the indexer cursor")
INDEXER_BLOCK = Gauge("mileage_indexer_block", "Last block the indexer committed")
INDEXER_ENTRIES = Counter("mileage_indexer_entries_total", "EntryRecorded events indexed")
INDEXER_REORGS = Counter("mileage_indexer_reorgs_total", "Reorgs detected (rolled back)")
INDEXER_ERRORS = Counter("mileage_indexer_errors_total", "Indexer errors (retried)", ["kind"])
INDEXER_BATCH_SECONDS = Histogram(
    "mileage_indexer_batch_seconds",
    "Time to index one block range",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)


def refresh_queue_gauges(status: QueueStatus) -> None:
    """Set the queue gauges from a :class:`bridge.outbox.QueueStatus` snapshot."""
    AWARDS_BY_STATE.clear()
    for (program, state), n in status.awards.items():
        AWARDS_BY_STATE.labels(program=program, state=state).set(n)
    OPERATIONS_BY_STATE.clear()
    for (kind, state), n in status.operations.items():
        OPERATIONS_BY_STATE.labels(kind=kind, state=state).set(n)
    OLDEST_PENDING_SECONDS.clear()
    for program, age in status.oldest_pending_seconds.items():
        OLDEST_PENDING_SECONDS.labels(program=program).set(age)
    AWARDS_IN_CONFLICT.set(status.conflicts)
    if status.indexer_lag is not None:
        INDEXER_LAG_BLOCKS.set(status.indexer_lag)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on ``addr:port`` from a background thread."""
    start_http_server(port, addr=addr)
