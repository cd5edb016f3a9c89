"""The award lane of the submitter: lease a batch of pending awards of one program, find the part
the contract accepts (``grantBatch`` simulated; awards a custom error names fail for good,
otherwise the batch is halved), sign it, store it, send it."""

from __future__ import annotations

from collections.abc import Sequence

from bridge import metrics
from bridge.client import encode_grant_batch_hex
from bridge.errors import ContractRevert
from bridge.lane import Lane
from bridge.outbox import ClaimedAward, LeaseLost
from bridge.steps import SYSTEMIC_ERRORS, StepReport, describe, program_code


class AwardLane(Lane):
    """Batches of awards per program (``grantBatch``)."""

    batch_size: int

    def _grant_data(self, program: str, awards: Sequence[ClaimedAward]) -> bytes:
        """``grantBatch`` calldata of claimed awards."""
        return encode_grant_batch_hex(program_code(program), awards)

    def _batch_gas(self, n: int) -> int | None:
        """Gas limit of a batch of ``n`` awards from the per-award figure (None: estimate)."""
        if self.gas_per_award is None:
            return None
        return min(self._gas_cap(), 100_000 + n * self.gas_per_award)

    def _batch_limit(self) -> int:
        """The configured batch size, shrunk so a batch fits the chain's block gas limit."""
        if self.gas_per_award is None:
            return self.batch_size
        fits = (self._gas_cap() - 100_000) // self.gas_per_award
        return max(1, min(self.batch_size, fits))

    def isolate(
        self, program: str, claimed: Sequence[ClaimedAward], rep: StepReport | None = None
    ) -> tuple[list[ClaimedAward], int, dict[int, str], str | None]:
        """Find a batch the contract accepts: returns (batch, gas estimate, failures by award
        number with decoded reasons, systemic error or None)."""
        rep = rep or StepReport()
        remaining = list(claimed)
        failures: dict[int, str] = {}
        while remaining:
            sim = self.simulate(
                self._grant_data(program, remaining), gas_hint=self._batch_gas(len(remaining))
            )
            rep.simulations += 1
            if sim.ok:
                return remaining, sim.gas, failures, None
            err = sim.revert
            if err is not None and err.error in SYSTEMIC_ERRORS:
                return [], 0, failures, describe(err)
            named = self._named(err, remaining) if err is not None else set()
            if named:
                for a in remaining:
                    if a.award_no in named:
                        failures[a.award_no] = describe(err)  # type: ignore[arg-type]
                remaining = [a for a in remaining if a.award_no not in named]
                continue
            if len(remaining) == 1:
                if err is not None:
                    failures[remaining[0].award_no] = describe(err)
                    remaining = []
                    continue
                return [], 0, failures, f"simulation failed: {sim.message}"
            # the error names no award (or is no revert, e.g. the batch needs more gas than a
            # block holds): keep the first half; the rest stays pending for the next step
            remaining = remaining[: len(remaining) // 2]
        return [], 0, failures, None

    @staticmethod
    def _named(err: ContractRevert, awards: Sequence[ClaimedAward]) -> set[int]:
        """Award numbers a custom error points at (by ``awardNo``, or by ``account``)."""
        args = err.args_
        if "awardNo" in args:
            no = int(str(args["awardNo"]))
            return {no} if any(a.award_no == no for a in awards) else set()
        for key in ("account", "from"):
            acct = args.get(key)
            if isinstance(acct, str) and acct.startswith("0x") and len(acct) == 66:
                return {a.award_no for a in awards if a.account_id == acct.lower()}
        return set()

    def _submit_awards(self, program: str, rep: StepReport) -> bool:
        if self.gas_per_award is not None:
            # the common case: no award of the batch failed before, so no simulation; claimed,
            # signed and stored in one database transaction (a batch that reverts on chain puts
            # its awards back to pending marked, and the next batch holding them is isolated)
            try:
                stored, fresh = self.outbox.claim_and_sign(
                    self.sender,
                    program,
                    self._batch_limit(),
                    lambda awards: self._sign_call(
                        self._grant_data(program, awards), self._batch_gas(len(awards)) or 0
                    ),
                )
            except LeaseLost as exc:
                self.log.info("awards moved before signing", error=str(exc))
                return False
            if stored is not None:
                rep.claimed += len(fresh)
                rep.awards_signed += len(fresh)
                metrics.BATCH_SIZE.observe(len(fresh))
                self._send(stored, rep, first=True)
                return True
            if not fresh:
                return False
        claimed = self.outbox.claim_awards(program, self._batch_limit())
        if not claimed:
            return False
        rep.claimed += len(claimed)
        batch, gas, failures, systemic = self.isolate(program, claimed, rep)
        if failures:
            rep.awards_failed += self.outbox.fail_awards(failures)
            metrics.AWARDS_PROCESSED.labels(program=program, state="failed").inc(len(failures))
            for no, reason in failures.items():
                self.log.warning("award rejected", award_no=no, reason=reason, program=program)
        in_batch = {a.award_no for a in batch}
        leftover = [
            a.award_no for a in claimed if a.award_no not in in_batch and a.award_no not in failures
        ]
        if systemic:
            self.outbox.release_awards(leftover)
            self._block_lane(program, systemic, rep)
            return False
        if leftover:
            self.outbox.release_awards(leftover)
        if not batch:
            return False
        data = self._grant_data(program, batch)
        try:
            stored = self.outbox.store_signed(
                self.sender,
                "grant",
                program,
                self._sign_call(data, gas if self.gas_per_award else self._gas_limit(gas)),
                award_nos=[a.award_no for a in batch],
            )
        except LeaseLost as exc:
            self.log.info("lease lost before signing", error=str(exc))
            return False
        rep.awards_signed += len(batch)
        metrics.BATCH_SIZE.observe(len(batch))
        self._send(stored, rep, first=True)
        return True
