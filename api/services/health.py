"""Readiness: the database answers, the chain answers, and the indexer is not far behind."""

from __future__ import annotations

import sqlalchemy as sa

from api.context import AppContext
from api.schemas import HealthOut


def readiness(ctx: AppContext) -> HealthOut:
    checks: dict[str, object] = {}
    ok = True
    cursor_block: int | None = None
    try:
        with ctx.sessions() as s:
            s.execute(sa.text("SELECT 1"))
            try:
                cursor_block = ctx.current_anchor(s).block_number
            except Exception as exc:
                checks["indexer"] = f"no cursor: {exc}"
                ok = False
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = False
    try:
        head = ctx.chain_head(max_age=0.5)
        checks["chain"] = "ok"
        checks["chain_head"] = head
        if cursor_block is not None:
            lag = max(0, head - cursor_block)
            checks["indexer_block"] = cursor_block
            checks["indexer_lag"] = lag
            checks["max_lag"] = ctx.max_lag_blocks
            if lag > ctx.max_lag_blocks:
                ok = False
                checks["indexer"] = f"lagging {lag} blocks (bound {ctx.max_lag_blocks})"
            else:
                checks.setdefault("indexer", "ok")
    except Exception as exc:
        checks["chain"] = f"unreachable: {type(exc).__name__}"
        ok = False
    return HealthOut(status="ok" if ok else "unavailable", checks=checks)
