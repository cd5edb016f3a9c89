"""What the submitter's pieces share: a step's report, a simulation's outcome, and
the decoding of program and reason codes (:mod:`bridge.submitter`, :mod:`bridge.confirm`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.errors import ContractRevert
from ledger.domain.codes import Program, Reason

#: Custom errors that say nothing about individual rows: the lane waits (backoff) and retries.
SYSTEMIC_ERRORS = frozenset(
    {
        "LedgerPaused",
        "ProgramPaused",
        "UnknownProgram",
        "AccessControlUnauthorizedAccount",
    }
)
#: Custom errors of an operation that say its live checkpoint list was missing or stale: not the
#: operation's fault; it stays pending and is retried once the index has caught up.
RETRY_LATER_ERRORS = frozenset({"LiveCheckpointsRequired", "LiveCheckpointsMismatch"})


def describe(err: ContractRevert) -> str:
    """``AwardTooLarge(program=3, awardNo=7, maxAward=70000, amount=90000)``."""
    return f"{err.error}({', '.join(f'{k}={v}' for k, v in err.args_.items())})"


def program_code(value: str | int) -> int:
    """Program code from a name (``CAR``) or a number."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    return int(Program.parse(str(value)))


def reason_code(value: str | int | None) -> int:
    if value is None:
        raise ValueError("a deduction needs a reason")
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    return int(Reason[str(value).upper()])


@dataclass(frozen=True)
class Simulation:
    """Outcome of ``eth_estimateGas`` for a call."""

    gas: int = 0
    revert: ContractRevert | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.gas > 0


@dataclass
class StepReport:
    """What one step (or a run, summed) did."""

    claimed: int = 0
    txs_sent: int = 0
    txs_resent: int = 0
    txs_mined: int = 0
    txs_final: int = 0
    txs_reverted: int = 0
    txs_replaced: int = 0
    awards_signed: int = 0
    awards_mined: int = 0
    awards_skipped: int = 0
    awards_conflict: int = 0
    awards_failed: int = 0
    ops_signed: int = 0
    ops_mined: int = 0
    ops_failed: int = 0
    simulations: int = 0
    txs_dropped: int = 0
    inflight: int = 0
    #: seconds without progress while transactions are in flight, past MILEAGE_STALL_SECONDS
    stalled: float | None = None
    blocked: dict[str, str] = field(default_factory=dict)
    #: operations left pending until the index catches up (op id → why)
    deferred: dict[str, str] = field(default_factory=dict)
    chain_error: str | None = None

    @property
    def progressed(self) -> bool:
        """Something changed state in this step."""
        return self.confirmed or any((self.txs_sent, self.txs_resent, self.txs_dropped))

    @property
    def confirmed(self) -> bool:
        """The chain settled something in this step (a send alone is no progress: it may sit
        behind a nonce gap forever)."""
        return any(
            (
                self.txs_mined,
                self.txs_final,
                self.txs_reverted,
                self.txs_replaced,
                self.awards_failed,
                self.ops_failed,
            )
        )

    def add(self, other: StepReport) -> None:
        for name in (
            "claimed",
            "txs_sent",
            "txs_resent",
            "txs_mined",
            "txs_final",
            "txs_reverted",
            "txs_replaced",
            "awards_signed",
            "awards_mined",
            "awards_skipped",
            "awards_conflict",
            "awards_failed",
            "ops_signed",
            "ops_mined",
            "ops_failed",
            "simulations",
            "txs_dropped",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.blocked.update(other.blocked)
        self.deferred.update(other.deferred)
        self.inflight = other.inflight
        self.chain_error = other.chain_error
        self.stalled = other.stalled
