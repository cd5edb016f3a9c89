"""Errors of the ledger package.

Every error the ledger raises derives from `LedgerError`; each subclass carries the values
behind the failure as attributes and a message that says what to do about it.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by the ledger; catch this to handle any ledger failure."""


class InvalidValue(LedgerError, ValueError):
    """A value is outside the range a rule or record accepts.

    `field` names the offending input (a feed column or dataclass field), `problem` says
    what is wrong with it.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class UnknownProgramName(InvalidValue):
    """A program name that is none of the programs (`ledger.domain.codes.Program.parse`), or a
    program that is not allowed where it was given; `allowed` names the programs that are."""

    def __init__(self, value: str, allowed: tuple[str, ...], *, exists: bool = False) -> None:
        self.value = value
        self.allowed = allowed
        what = "is not allowed here" if exists else "is not a program"
        super().__init__("program", f"{value[:40]!r} {what}; use one of {', '.join(allowed)}")


class InvalidPeriod(InvalidValue):
    """A period or window is malformed or has the wrong length for its program."""


class DecisionNotAllowed(LedgerError):
    """An ECO_ORG committee decision has no cell in the award table (PROGRAM_RULES §2.2).

    For example a rank for an organisation below the 10 % selection threshold, or a rank for
    a general building under 10 TOE. Ask the committee secretariat to correct the decision.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"decision not allowed by the §2.2 table: {problem}; correct the decision")


class InvalidAccountKey(LedgerError):
    """The account HMAC key is unusable (empty or too short); set MILEAGE_ACCOUNT_KEY."""

    def __init__(self, length: int, minimum: int) -> None:
        self.length = length
        self.minimum = minimum
        super().__init__(
            f"account key has {length} bytes, fewer than {minimum}; "
            "set MILEAGE_ACCOUNT_KEY to 32 random bytes"
        )


class KeyNotConfigured(LedgerError):
    """A secret that keys the on-chain ids is missing, public or unusable outside the embedded
    demo; `variable` names the setting. Set it as docs/keys.md says, then start again."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(
            f"{variable} {problem}; set it to a 32-byte secret (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`): see docs/keys.md"
        )


class ChainBroken(LedgerError):
    """Entries do not reproduce the on-chain head and count of an account.

    `seq` is the first sequence number where the replay went wrong (or the count if only the
    final head or count differ). Re-index the account's events from the chain and compare.
    """

    def __init__(self, account: bytes, seq: int, problem: str) -> None:
        self.account = account
        self.seq = seq
        self.problem = problem
        super().__init__(
            f"hash chain of account 0x{account.hex()} broken at seq {seq}: {problem}; "
            "re-index the account's EntryRecorded events and verify again"
        )


class FeedError(LedgerError):
    """A feed file cannot be read as a whole (missing, not UTF-8, bad header).

    Fix the file (or the --program option) and run again; no row of it was processed.
    """

    def __init__(self, file: str, line: int, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        super().__init__(f"{file}:{line}: {problem}")
