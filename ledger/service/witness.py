"""The live checkpoint lists the contract asks for, built from the indexed entries.

`expire`, `correct`, `mergeAccounts`, and a spend once something may have lapsed, take each
position's live checkpoints as calldata (`ledger.domain.checkpoints`). They are rebuilt here by
replaying the account's indexed entries (and, for merged-in mileage, its merge sources'), cut to
the count the chain holds, and checked against the chain's root before anything is sent: a
list from an index that is behind the chain is refused here with a clear error instead of
reverting on chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bridge.client import BlockId, LedgerClient, to_bytes32
from ledger.adapters.orm import Entry
from ledger.domain.checkpoints import (
    CheckpointError,
    IndexBehind,
    PositionModel,
    PositionState,
    chain_root,
    replay_positions,
)
from ledger.domain.codes import EntryKind

__all__ = ["IndexBehind", "live_list_source", "live_lists"]


def _entries(s: Session, account_id: str) -> list[Entry]:
    return list(
        s.scalars(sa.select(Entry).where(Entry.account_id == account_id).order_by(Entry.seq))
    )


def _positions(s: Session, account_id: str) -> dict[int, PositionModel]:
    """Every program's replayed position of ``account_id`` (merge sources replayed likewise)."""

    @cache
    def replay(account: str) -> Mapping[int, PositionModel]:
        rows = _entries(s, account)
        refs = {r.ref for r in rows if r.kind == EntryKind.CORRECTION}
        grant_times: dict[str, int] = {}
        if refs:
            grant_times = {
                ref.lower(): int(ts)
                for ref, ts in s.execute(
                    sa.select(Entry.ref, Entry.timestamp).where(
                        Entry.kind == int(EntryKind.GRANT), Entry.ref.in_(refs)
                    )
                )
            }
        return replay_positions(rows, grant_times=grant_times, source=replay)

    return dict(replay(account_id))


def live_lists(
    client: LedgerClient,
    sessions: sessionmaker[Session],
    account_id: str,
    programs: Iterable[int],
    block: BlockId = "latest",
    known: Mapping[int, PositionState] | None = None,
) -> dict[int, list[int]]:
    """The live list of ``account_id`` in each of ``programs`` at ``block`` (empty where the
    chain holds none), checked against the chain (``known``: positions the caller already read
    at ``block``, not read again). Raises `IndexBehind` when the index cannot give it yet."""
    account = to_bytes32(account_id)
    out: dict[int, list[int]] = {}
    positions: dict[int, PositionModel] | None = None
    for program in programs:
        state = (known or {}).get(program) or client.position_of(account, program, block)
        if state.live == 0:
            out[program] = []
            continue
        if positions is None:
            with sessions() as s:
                try:
                    positions = _positions(s, account_id.lower())
                except CheckpointError as exc:
                    raise IndexBehind(f"account {account_id}: {exc}") from exc
        try:
            live = positions.get(program, PositionModel()).live(state.live)
        except CheckpointError as exc:
            raise IndexBehind(f"account {account_id}, program {program}: {exc}") from exc
        if chain_root(account, program, live) != state.root:
            raise IndexBehind(
                f"account {account_id}, program {program}: the indexed entries do not give the "
                f"chain's {state.live} live checkpoints (the index is behind the chain); let the "
                "bridge index (`mileage bridge run`) and retry"
            )
        out[program] = live
    return out


def live_list_source(
    client: LedgerClient, sessions: sessionmaker[Session]
) -> Callable[[str, int, int], list[int]]:
    """What the bridge submitter builds a late spend's live list with
    (:data:`bridge.ops_lane.LiveListSource`): ``(account id, program, block) -> live list``,
    raising `IndexBehind` while the index cannot give it."""

    def source(account_id: str, program: int, block: int) -> list[int]:
        return live_lists(client, sessions, account_id, [program], block)[program]

    return source
