"""``mileage admin``: the contract's administration: roles, pauses, program limits, budgets and
conversion routes (admin key: the ``admin`` keystore or ``MILEAGE_PRIVATE_KEY``).

Every write is simulated first, so a rejected call prints the contract's reason (e.g. which role
the key lacks) and sends nothing; a write that would change nothing sends nothing. Once a
multisig holds the admin role, ``--calldata`` prints the transaction for it instead of sending.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ledger.cli._common import friendly_errors
from ledger.domain.codes import Program
from ledger.service.runtime import Runtime

app = typer.Typer(
    help="Administration of the ledger contract: roles, pauses, limits, budgets, routes.",
    no_args_is_help=True,
)

RoleOpt = Annotated[
    str,
    typer.Option(
        "--role",
        help="issuer-<PROGRAM> (e.g. issuer-CAR), converter, spender, expirer, "
        "corrector, registrar or pauser",
    ),
]
AddressOpt = Annotated[str, typer.Option("--address", help="the key's address (0x...)")]
ProgramOpt = Annotated[str, typer.Option("--program", help="program name (e.g. CAR) or code")]
CalldataOpt = Annotated[
    bool,
    typer.Option(
        "--calldata",
        help="send nothing: print the transaction (to, data) for the multisig holding the role",
    ),
]


@app.callback()
def _admin() -> None:
    """Administration of the ledger contract: roles, pauses, limits, budgets, routes."""


def _program(value: str, hint: str = "--program") -> Program:
    from ledger.service.admin_tx import AdminError, parse_program

    try:
        return parse_program(value)
    except AdminError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _report(outcome: object) -> None:
    from ledger.service.admin_tx import Outcome

    assert isinstance(outcome, Outcome)
    if outcome.unchanged:
        typer.echo(f"unchanged: {outcome.action} (already so; nothing sent)")
    elif outcome.calldata is not None:
        typer.echo(f"# {outcome.action}: send this from the role holder (e.g. the multisig)")
        typer.echo(f"to:    {outcome.to}")
        typer.echo("value: 0")
        typer.echo(f"data:  {outcome.calldata}")
    else:
        typer.echo(f"done: {outcome.action} (tx {outcome.tx_hash}, block {outcome.block_number})")


@app.command("grant-role")
@friendly_errors
def grant_role(role: RoleOpt, address: AddressOpt, calldata: CalldataOpt = False) -> None:
    """Grant ROLE to ADDRESS (``grantRole``; DEFAULT_ADMIN_ROLE)."""
    from ledger.service import admin_ops

    _report(admin_ops.grant_role(Runtime.open(), role, address, calldata=calldata))


@app.command("revoke-role")
@friendly_errors
def revoke_role(role: RoleOpt, address: AddressOpt, calldata: CalldataOpt = False) -> None:
    """Revoke ROLE from ADDRESS (``revokeRole``; DEFAULT_ADMIN_ROLE)."""
    from ledger.service import admin_ops

    _report(admin_ops.revoke_role(Runtime.open(), role, address, calldata=calldata))


@app.command()
@friendly_errors
def roles(
    address: Annotated[
        list[str] | None,
        typer.Option("--address", help="check these addresses (hasRole) instead of the events"),
    ] = None,
    from_block: Annotated[
        int | None,
        typer.Option(help="scan role events from this block (default: the deployment block)"),
    ] = None,
) -> None:
    """List who holds which role now: every holder seen in RoleGranted/RoleRevoked events, or
    the roles of the given addresses. Keys of this host are named in the last column."""
    from ledger.service import admin_ops

    rt = Runtime.open()
    holders = admin_ops.role_holders(rt, address or None, from_block=from_block)
    admin, pending, after = admin_ops.pending_admin(rt)
    typer.echo(f"default admin: {admin}")
    if pending is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(after))
        typer.echo(f"pending admin transfer to {pending}, acceptable from {when}")
    if not holders:
        typer.echo("no role holders found")
    for h in holders:
        keys = ",".join(h.keys)
        typer.echo(f"{h.role:<22} {h.address}{'  ' + keys if keys else ''}")


@app.command()
@friendly_errors
def pause(
    program: Annotated[
        str | None, typer.Option(help="pause only this program (default: the whole ledger)")
    ] = None,
    calldata: CalldataOpt = False,
) -> None:
    """Stop every balance change (or those of one program) (PAUSER_ROLE). Grants, conversions,
    deductions, expiry and corrections revert with LedgerPaused / ProgramPaused; the bridge
    keeps them queued and retries."""
    from ledger.service import admin_ops

    prog = _program(program) if program is not None else None
    _report(admin_ops.set_paused(Runtime.open(), prog, True, calldata=calldata))


@app.command()
@friendly_errors
def unpause(
    program: Annotated[
        str | None, typer.Option(help="unpause only this program (default: the whole ledger)")
    ] = None,
    calldata: CalldataOpt = False,
) -> None:
    """Resume balance changes of the ledger (or of one program) (PAUSER_ROLE)."""
    from ledger.service import admin_ops

    prog = _program(program) if program is not None else None
    _report(admin_ops.set_paused(Runtime.open(), prog, False, calldata=calldata))


@app.command("set-limits")
@friendly_errors
def set_limits(
    program: ProgramOpt,
    max_award: Annotated[int, typer.Option(min=0, help="largest single award")],
    annual_budget: Annotated[
        int, typer.Option(min=0, help="default issuance budget of a fiscal year")
    ],
    calldata: CalldataOpt = False,
) -> None:
    """Set a program's largest single award and default annual budget (``setProgramLimits``)."""
    from ledger.service import admin_ops

    prog = _program(program)
    _report(admin_ops.set_limits(Runtime.open(), prog, max_award, annual_budget, calldata=calldata))


@app.command("set-budget")
@friendly_errors
def set_budget(
    program: ProgramOpt,
    year: Annotated[int, typer.Option(help="fiscal year (calendar year in KST)")],
    budget: Annotated[int, typer.Option(min=0, help="issuance budget of that year")],
    calldata: CalldataOpt = False,
) -> None:
    """Set the issuance budget of one fiscal year explicitly (``setBudget``)."""
    from ledger.service import admin_ops

    prog = _program(program)
    _report(admin_ops.set_budget(Runtime.open(), prog, year, budget, calldata=calldata))


@app.command("set-route")
@friendly_errors
def set_route(
    source: Annotated[str, typer.Option("--from", help="debited program")],
    target: Annotated[str, typer.Option("--to", help="credited program")],
    numerator: Annotated[int, typer.Option(min=0, help="rate numerator (0 closes the route)")],
    denominator: Annotated[int, typer.Option(min=1, help="rate denominator")] = 1,
    calldata: CalldataOpt = False,
) -> None:
    """Open, change or close (numerator 0) the conversion route FROM -> TO: converting an amount
    credits amount * numerator / denominator, rounded down (``setRoute``)."""
    from ledger.service import admin_ops

    src, dst = _program(source, "--from"), _program(target, "--to")
    _report(
        admin_ops.set_route(Runtime.open(), src, dst, numerator, denominator, calldata=calldata)
    )


@app.command()
@friendly_errors
def programs(
    year: Annotated[
        int | None, typer.Option(help="budget of this fiscal year (default: the current one)")
    ] = None,
) -> None:
    """Print each program's configuration, totals, budget use and route into SEOUL."""
    from ledger.service import admin_ops

    paused, infos = admin_ops.programs(Runtime.open(), year)
    typer.echo(f"ledger: {'PAUSED' if paused else 'running'}")
    header = (
        f"{'program':<14}{'state':<12}{'validity d':>11}{'max award':>12}{'annual budget':>16}"
        f"{'FY':>6}{'budget':>16}{'used':>16}{'granted':>16}{'balance':>16}  to SEOUL"
    )
    typer.echo(header)
    for i in infos:
        state = "unregistered" if not i.registered else ("PAUSED" if i.paused else "active")
        if i.program is Program.SEOUL:
            route = "-"
        elif i.to_seoul[0] == 0:
            route = "closed"
        else:
            route = f"{i.to_seoul[0]}:{i.to_seoul[1]}"
        typer.echo(
            f"{i.program.name:<14}{state:<12}{i.validity // 86400:>11,}{i.max_award:>12,}"
            f"{i.annual_budget:>16,}{i.fiscal_year:>6}{i.budget:>16,}{i.used:>16,}"
            f"{i.granted:>16,}{i.balance:>16,}  {route}"
        )
