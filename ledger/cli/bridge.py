"""``mileage bridge``: run the submitter (database outbox → chain) and inspect its queue."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

import typer

from bridge import metrics
from bridge.award_audit import count_unmatched_in_index
from bridge.errors import BridgeError, ChainUnavailable, SigningKeyError
from bridge.logs import configure_logging, get_logger
from bridge.loop import BridgeLoop, install_stop_signals
from bridge.outbox import queue_status
from bridge.signer import Signer, available_roles, issuer_role, load_signer
from bridge.submitter import Submitter
from ledger.cli._common import friendly_errors
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.service.runtime import Runtime
from ledger.service.witness import live_list_source

app = typer.Typer(
    help="The bridge: submit awards and operations to the chain.", no_args_is_help=True
)
log = get_logger(__name__, component="bridge-cli")


def _signers(
    rt: Runtime, programs: list[str], ops: bool
) -> list[tuple[Signer, list[str], list[str]]]:
    """(signer, award programs, operation kinds) per distinct key."""
    settings = rt.settings
    by_address: dict[str, tuple[Signer, list[str], list[str]]] = {}
    have = set(available_roles(settings))
    dev = settings.private_key is not None

    def add(role: str, program: str | None, op: str | None) -> None:
        signer = load_signer(settings, role)
        entry = by_address.setdefault(signer.address, (signer, [], []))
        if program:
            entry[1].append(program)
        if op:
            entry[2].append(op)

    for program in programs:
        role = issuer_role(program)
        if not dev and role not in have:
            raise SigningKeyError(
                f"no key for {role}: create it with `mileage keys new --role {role}` (and "
                "grant its address the issuer role), or set MILEAGE_PRIVATE_KEY for development"
            )
        add(role, program, None)
    if ops:
        for role, kind in (
            ("converter", "conversion"),
            ("spender", "deduction"),
            ("spender", "refund"),
            ("registrar", "consent"),
        ):
            if dev or role in have:
                add(role, None, kind)
    return list(by_address.values())


@app.command()
@friendly_errors
def run(
    program: Annotated[
        list[str] | None,
        typer.Option(
            "--program",
            "-p",
            help="program to submit awards for (repeatable); "
            "default: every program with an issuer key",
        ),
    ] = None,
    ops: Annotated[
        bool | None,
        typer.Option(
            "--ops/--no-ops",
            help="also submit conversions, deductions, refunds and consent changes (default: yes "
            "without --program)",
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="submit what is queued, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between idle polls")] = 0.5,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus /metrics on this port")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="awards per transaction (default MILEAGE_BATCH_SIZE)")
    ] = None,
    worker_id: Annotated[str | None, typer.Option(help="lease owner name (default: key)")] = None,
    index: Annotated[
        bool,
        typer.Option(
            "--index/--no-index",
            help="also index the chain's entries into the database (a standby when another "
            "process indexes: the cursor row is locked)",
        ),
    ] = True,
) -> None:
    """Submit awards (grantBatch) and operations (convert/deduct) from the database outbox, and
    index the chain's entries (late spends and the expiry run build their live checkpoint lists
    from the index).

    Runs until SIGTERM/SIGINT (the current step is finished, exit code 0). Each process needs its
    own keys: two processes signing with the same key would fight over nonces."""
    configure_logging()
    rt = Runtime.open()
    settings = rt.settings
    have = set(available_roles(settings))
    if program:
        programs = [Program.parse(p).name for p in program]
    elif settings.private_key is not None:
        programs = [p.name for p in AWARDED_PROGRAMS]
    else:
        programs = [p.name for p in AWARDED_PROGRAMS if issuer_role(p.name) in have]
    with_ops = ops if ops is not None else not program
    groups = _signers(rt, programs, with_ops)
    if not groups:
        raise SigningKeyError(
            f"no signing keys in {settings.effective_keystore_dir}: create them with "
            "`mileage keys new --role ROLE` or set MILEAGE_PRIVATE_KEY"
        )
    live = live_list_source(rt.client, rt.sessions)
    subs = [
        Submitter(
            rt.sessions,
            rt.client,
            signer,
            settings,
            programs=progs,
            operations=kinds,
            batch_size=batch_size,
            worker_id=(f"{worker_id}:{signer.address[:10]}" if worker_id else None),
            live_lists=live,
        )
        for signer, progs, kinds in groups
    ]
    for sub in subs:
        log.info("submitter ready", sender=sub.sender, lanes=sub.lanes)
    indexer = None
    if index:
        from bridge.indexer import Indexer

        dep = rt.deployment()
        start = dep.block_number if dep is not None else 0
        indexer = Indexer(rt.sessions, rt.client, start, settings.confirmations)
    if metrics_port:
        metrics.serve_metrics(metrics_port)
    stop = threading.Event()
    install_stop_signals(stop)
    last_gauges = 0.0

    def gauges() -> None:
        nonlocal last_gauges
        if metrics_port and time.monotonic() - last_gauges > 5:
            last_gauges = time.monotonic()
            _refresh_gauges(rt)

    BridgeLoop(subs, indexer, on_round=gauges).run(stop, until_idle=once, poll=interval)
    log.info("bridge stopped")
    rt.close()


def _refresh_gauges(rt: Runtime) -> None:
    try:
        head = int(rt.w3.eth.block_number)
    except Exception:  # node down: the gauges still show the queue
        head = None
    metrics.refresh_queue_gauges(queue_status(rt.sessions, head))


@app.command()
@friendly_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Queue by state per program, oldest pending award, unresolved transactions, indexer lag.

    Exits 1 when any award is in conflict (the contract skipped it because its number holds
    another award on chain: it was not granted and the bridge will not retry it). An operator
    resolves each one: see docs/bridge-operations.md. Exit 0 otherwise."""
    rt = Runtime.open()
    head: int | None
    try:
        head = int(rt.w3.eth.block_number)
    except (ChainUnavailable, BridgeError, OSError):
        head = None
    except Exception:  # requests' connection errors and the like: the node is down
        head = None
    st = queue_status(rt.sessions, head)
    with rt.sessions() as s:
        # awards claiming a number without their GRANT entry (skipped on chain): never "all well"
        unmatched = count_unmatched_in_index(s, st.index_cursor)
    rt.close()
    without_grant = sum(unmatched.values())
    if as_json:
        out = {
            "awards": [
                {"program": p, "state": s, "count": n} for (p, s), n in sorted(st.awards.items())
            ],
            "operations": [
                {"kind": k, "state": s, "count": n} for (k, s), n in sorted(st.operations.items())
            ],
            "oldest_pending_seconds": st.oldest_pending_seconds,
            "unresolved_txs": st.unresolved_txs,
            "conflicts": st.conflicts,
            "chain_head": st.chain_head,
            "index_cursor": st.index_cursor,
            "indexer_lag": st.indexer_lag,
            "awards_without_grant": dict(sorted(unmatched.items())),
        }
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        _exit_on_conflicts(st.conflicts)
        return
    states = ("pending", "signed", "sent", "mined", "final", "failed", "conflict")
    typer.echo(f"{'program':14s}" + "".join(f"{s:>9s}" for s in states) + "  oldest pending")
    for prog in sorted({p for p, _ in st.awards}):
        age = st.oldest_pending_seconds.get(prog)
        typer.echo(
            f"{prog:14s}"
            + "".join(f"{st.awards.get((prog, s), 0):9d}" for s in states)
            + (f"  {_age(age)}" if age is not None else "  -")
        )
    for kind in sorted({k for k, _ in st.operations}):
        typer.echo(f"{kind:14s}" + "".join(f"{st.operations.get((kind, s), 0):9d}" for s in states))
    if not st.awards and not st.operations:
        typer.echo("(outbox empty)")
    typer.echo(f"unresolved transactions: {st.unresolved_txs}")
    if without_grant:
        per = ", ".join(f"{p} {n}" for p, n in sorted(unmatched.items()))
        typer.echo(
            f"WARNING: {without_grant} mined/final/conflict award(s) without a matching GRANT "
            f"entry on chain ({per}): `mileage reconcile` names them"
        )
    else:
        typer.echo("mined/final/conflict awards without a matching GRANT entry: 0")
    if head is None:
        typer.echo("chain head: unreachable (indexer lag unknown)")
    else:
        cursor = "never indexed" if st.index_cursor is None else str(st.index_cursor)
        typer.echo(f"chain head: {head}, index cursor: {cursor}, indexer lag: {st.indexer_lag}")
    _exit_on_conflicts(st.conflicts)


def _exit_on_conflicts(n: int) -> None:
    """Exit 1 when awards are in conflict, with a line on stderr saying what to do."""
    if not n:
        return
    typer.echo(
        f"{n} award{'s' if n != 1 else ''} in conflict: not granted, not retried; resolve each "
        "as docs/bridge-operations.md says",
        err=True,
    )
    raise typer.Exit(1)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
