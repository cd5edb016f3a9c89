"""Program feeds: CSV formats, row validation and streaming award computation (docs/feeds.md).

Use `iter_awards(program, path, known_members=...)`; it yields a `ComputedAward` or a
`Reject` per data row, in file order.
"""

from ledger.feeds.formats import COLUMNS, FeedOptions
from ledger.feeds.model import ComputedAward, Reject
from ledger.feeds.pipeline import EarnedBefore, KnownMembers, check_org_period, iter_awards

__all__ = [
    "COLUMNS",
    "ComputedAward",
    "EarnedBefore",
    "FeedOptions",
    "KnownMembers",
    "Reject",
    "check_org_period",
    "iter_awards",
]
