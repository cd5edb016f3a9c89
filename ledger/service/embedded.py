"""The embedded default behind ``make run``: a supervised anvil chain with a state file, SQLite,
the contract deployed once, deterministic demo data mirrored on-chain, and the API.

Everything lives under ``MILEAGE_DATA_DIR`` (``.mileage/``). Running it again resumes: the
chain is loaded from its state file, the recorded deployment is reused, and the demo import is
idempotent (award ids), so nothing is granted twice.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import func, select

from bridge.anvil import AnvilProcess
from bridge.errors import DeploymentError
from bridge.loop import BridgeLoop
from bridge.signer import available_roles, write_keystore
from ledger.adapters.orm import Award, Member
from ledger.adapters.private_files import narrow_existing, private_dir, private_file
from ledger.domain.codes import AWARDED_PROGRAMS, Program
from ledger.domain.types import YearMonth
from ledger.feeds.formats import FeedOptions
from ledger.service import bike_accruals, demo
from ledger.service.deployment import ensure_deployment
from ledger.service.feeds import import_feed
from ledger.service.members import import_members
from ledger.service.runtime import Runtime
from ledger.service.witness import live_list_source
from ledger.settings import Settings

log = structlog.get_logger("mileage.embedded")

ROLES = (
    "admin",
    "converter",
    "spender",
    "expirer",
    "registrar",
    *(f"issuer-{p.name}" for p in AWARDED_PROGRAMS),
)
DEMO_ORG_ROUND = "2024-12..2025-03"
DEMO_BIKE_THROUGH = YearMonth(2025, 12)
"""The demo's BIKE rides are of 2025 (ledger.service.demo): paid through its December."""


def ensure_local_keys(settings: Settings) -> Settings:
    """Embedded default only: create an encrypted keystore per role, with a random password kept
    in ``<data_dir>/keys/.password`` (mode 0600), unless keys or a password are configured."""
    keydir = settings.effective_keystore_dir
    if settings.private_key is not None:
        return settings
    password_file = settings.keystore_password_file or keydir / ".password"
    private_dir(keydir)
    if settings.keystore_password is None and not password_file.exists():
        private_file(password_file).write_text(secrets.token_urlsafe(24))
    elif password_file.exists():
        narrow_existing(password_file)
    settings = settings.model_copy(update={"keystore_password_file": password_file})
    password = (
        settings.keystore_password.get_secret_value()
        if settings.keystore_password
        else password_file.read_text().strip()
    )
    have = set(available_roles(settings))
    for role in ROLES:
        if role not in have:
            # Light pbkdf2 keeps start-up quick for the local demo chain (its keys guard nothing
            # of value); production keys come from `mileage keys new` (scrypt).
            write_keystore(keydir, role, password, kdf="pbkdf2", iterations=2048)
    return settings


@dataclass
class Embedded:
    """The running embedded ledger (chain, database, bridge loop)."""

    settings: Settings
    say: Callable[[str], None] = print
    anvil: AnvilProcess | None = None
    rt: Runtime | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start_chain(self) -> None:
        s = self.settings
        if s.embedded_chain:
            self.say(f"starting anvil on 127.0.0.1:{s.anvil_port} (state: {s.anvil_state_file})")
            # assigned before start(): a stop signal during the start still stops it in close()
            self.anvil = AnvilProcess(
                port=s.anvil_port,
                state_file=s.anvil_state_file,
                chain_id=s.chain_id,
                log_file=s.data_dir / "anvil.log",
            )
            self.anvil.start()
        else:
            self.say(f"using the external chain at {s.rpc_url}")

    def open(self) -> Runtime:
        self.settings.id_keys()  # outside the embedded demo: refuse before starting anything
        private_dir(self.settings.data_dir)
        self.settings = ensure_local_keys(self.settings)
        self.start_chain()
        self.rt = Runtime.open(self.settings)
        with self.rt.sessions() as s:
            had_awards = bool(s.scalar(select(func.count()).select_from(Award)))
        dep, new = ensure_deployment(self.rt)
        if new and had_awards:
            raise DeploymentError(
                "the database remembers awards but the chain has no ledger contract (was the "
                f"chain state file {self.settings.anvil_state_file} removed?); remove "
                f"{self.settings.data_dir} to start over, or point MILEAGE_RPC_URL at the chain"
            )
        self.say(
            ("deployed" if new else "reusing") + f" MileageLedger at {dep.address} "
            f"(chain {dep.chain_id}, block {dep.block_number})"
        )
        return self.rt

    def load_demo(self, citizens: int = 3000) -> None:
        """Generate and import the demo members and feeds (idempotent)."""
        assert self.rt is not None
        files = demo.generate(self.settings.data_dir / "demo", citizens=citizens)
        with self.rt.sessions() as s:
            members = s.scalar(select(func.count()).select_from(Member)) or 0
        if members == 0:
            mrep = import_members(self.rt.sessions, files.members, self.rt.keys.account)
            self.say(
                f"demo members: {mrep.members_created} memberships of "
                f"{mrep.accounts_created} accounts"
            )
        for name, path in files.feeds.items():
            program = Program[name]
            opts = FeedOptions(
                org_period=DEMO_ORG_ROUND if program is Program.ECO_ORG else None,
                award_key=self.rt.keys.award,
            )
            rep = import_feed(self.rt.sessions, program, path, options=opts)
            what = "monthly accruals" if program is Program.BIKE else "awards"
            self.say(
                f"demo feed {name:13s}: {rep.recorded:5d} {what} recorded "
                f"({rep.recorded_amount:>12,} mileage), {rep.already_recorded} already, "
                f"{rep.rejected} rejected"
            )
        # BIKE accrued (docs/rules.md §2.4): pay the demo's riding year at the configured cadence
        payout = bike_accruals.pay(
            self.rt.sessions, self.settings.bike_payout, DEMO_BIKE_THROUGH, self.rt.keys.award
        )
        self.say(
            f"demo BIKE payout ({payout.cadence.value}) through {DEMO_BIKE_THROUGH}: "
            f"{payout.awards} awards ({payout.amount:,} mileage)"
        )

    def make_bridge(self) -> BridgeLoop:
        """Every submitter (one per role key) and the indexer, in one :class:`BridgeLoop`."""
        from bridge.indexer import Indexer
        from bridge.signer import load_signer
        from bridge.submitter import Submitter

        assert self.rt is not None
        rt = self.rt
        dep = rt.deployment()
        assert dep is not None
        # One submitter per key: each issuer grants its own program, the converter converts,
        # the spender deducts (the roles follow from the keystore names).
        # The registrar sends the donation consents the members import queued.
        roles = [f"issuer-{p.name}" for p in AWARDED_PROGRAMS] + [
            "converter",
            "spender",
            "registrar",
        ]
        live = live_list_source(rt.client, rt.sessions)
        subs = [
            Submitter(
                rt.sessions,
                rt.client,
                load_signer(self.settings, role),
                self.settings,
                live_lists=live,
            )
            for role in roles
        ]
        indexer = Indexer(rt.sessions, rt.client, dep.block_number, self.settings.confirmations)
        return BridgeLoop(subs, indexer)

    def mirror(self, bridge: BridgeLoop) -> None:
        """Run the bridge until the outbox is empty and the index is at the chain head."""
        t0 = time.monotonic()
        bridge.run(self.stop_event, until_idle=True, poll=0.1)
        self.say(f"bridge: outbox mirrored and indexed in {time.monotonic() - t0:.1f}s")

    def start_bridge_loop(self, bridge: BridgeLoop, idle_sleep: float = 0.5) -> None:
        def loop() -> None:
            while not self.stop_event.is_set():
                try:
                    bridge.run(self.stop_event, poll=idle_sleep)
                except Exception:  # keep serving; the error is logged and retried
                    log.exception("bridge_step_failed")
                    self.stop_event.wait(2.0)

        self._thread = threading.Thread(target=loop, name="bridge", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the bridge loop, close the database, stop anvil (it saves the chain state).
        Safe to call again: what is already stopped is skipped."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                self.say("the bridge is still in a step after 30 s; the next start resumes it")
            self._thread = None
        if self.rt is not None:
            self.rt.close()
            self.rt = None
        anvil, self.anvil = self.anvil, None
        if anvil is not None and anvil.proc is not None:
            self.say("stopping anvil (saving chain state)")
            code = anvil.stop()
            if code == 0:
                self.say(f"chain state saved in {self.settings.anvil_state_file}")
            else:
                self.say(f"anvil exited with {code}; see {self.settings.data_dir / 'anvil.log'}")
