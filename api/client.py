"""Python client of the mileage ledger API, with local verification of proofs and bundles.

    client = MileageClient("http://127.0.0.1:8000", api_key)
    balances = client.balances(account)
    proof = client.proof(account)
    state = verify_proof(proof, account, trusted_block_hash=my_node_hash)

Errors come back as :class:`ErrorAnswer` carrying the status and the API's ``{code, message,
details}`` body. ``verify_proof`` and ``verify_bundle`` need no server: they check the block
header hash, the Merkle-Patricia proofs and (bundles) the hash chain of the entries.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bridge.proofs import ProofError, ProvenState, verify_account_proof, verify_bundle

__all__ = [
    "ErrorAnswer",
    "MileageClient",
    "ProofError",
    "ProvenState",
    "verify_balances",
    "verify_bundle",
    "verify_proof",
    "verify_trail",
]


class ErrorAnswer(Exception):
    """The API answered with a non-2xx status: ``status`` and the error body's ``code``,
    ``message``, ``details`` (the server side raises :class:`api.errors.ApiError`)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code", "error"))
        self.message = str(body.get("message", ""))
        self.details: dict[str, Any] = body.get("details") or {}
        super().__init__(f"{status} {self.code}: {self.message}")


class MileageClient:
    """One method per endpoint; answers are the JSON bodies (dicts)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._http = http or httpx.Client(timeout=timeout)
        self._own = http is None

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> MileageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        h = dict(headers or {})
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        r = self._http.request(method, self.base_url + path, params=clean, json=json, headers=h)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"code": "error", "message": r.text}
            raise ErrorAnswer(r.status_code, body if isinstance(body, dict) else {"message": body})
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.text

    # --- wallet ------------------------------------------------------------------------------
    def balances(self, account: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/accounts/{account}/balances"))

    def history(
        self,
        account: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        program: str | None = None,
        kind: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "GET",
                f"/v1/accounts/{account}/history",
                params={
                    "limit": limit,
                    "cursor": cursor,
                    "program": program,
                    "kind": kind,
                    "since": since,
                    "until": until,
                },
            )
        )

    def all_history(self, account: str, **filters: Any) -> list[dict[str, Any]]:
        """Every entry (following the cursors), newest first."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.history(account, cursor=cursor, **filters)
            out += page["entries"]
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    def expiring(self, account: str, days: int = 60) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/accounts/{account}/expiring", params={"days": days}))

    def proof(self, account: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/accounts/{account}/proof"))

    # --- integrators ---------------------------------------------------------------------------
    def convert(
        self,
        account: str,
        from_program: str,
        amount: int,
        *,
        idempotency_key: str,
        to_program: str = "SEOUL",
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "POST",
                "/v1/conversions",
                headers={"Idempotency-Key": idempotency_key},
                json={
                    "account": account,
                    "from_program": from_program,
                    "to_program": to_program,
                    "amount": amount,
                },
            )
        )

    def deduct(
        self,
        account: str,
        program: str,
        amount: int,
        reason: str,
        reference: str,
        *,
        idempotency_key: str,
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "POST",
                "/v1/deductions",
                headers={"Idempotency-Key": idempotency_key},
                json={
                    "account": account,
                    "program": program,
                    "amount": amount,
                    "reason": reason,
                    "reference": reference,
                },
            )
        )

    def conversion(self, op_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/conversions/{op_id}"))

    def deduction(self, op_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/deductions/{op_id}"))

    def refund(
        self,
        deduction_id: str,
        amount: int,
        reference: str | None = None,
        *,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Refund all or part of deduction ``deduction_id`` (a cancelled purchase)."""
        body: dict[str, Any] = {"amount": amount}
        if reference is not None:
            body["reference"] = reference
        return dict(
            self._request(
                "POST",
                f"/v1/deductions/{deduction_id}/refunds",
                headers={"Idempotency-Key": idempotency_key},
                json=body,
            )
        )

    def refund_status(self, deduction_id: str, refund_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/deductions/{deduction_id}/refunds/{refund_id}"))

    def wait_final(
        self, op: dict[str, Any], timeout: float = 60.0, poll: float = 0.2
    ) -> dict[str, Any]:
        """Follow an operation until final or failed."""
        if op["kind"] == "refund":

            def get(op_id: str) -> dict[str, Any]:
                return self.refund_status(op["deduction"], op_id)

        else:
            get = self.conversion if op["kind"] == "conversion" else self.deduction
        deadline = time.monotonic() + timeout
        while True:
            cur = get(op["id"])
            if cur["status"] in ("final", "failed"):
                return cur
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation {op['id']} still {cur['status']} after {timeout}s")
            time.sleep(poll)

    # --- operators -------------------------------------------------------------------------------
    def submit_awards(
        self,
        program: str,
        items: list[dict[str, Any]],
        *,
        source: str = "api",
        period: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._request(
                "POST",
                "/v1/awards",
                params={"period": period},
                json={"program": program, "source": source, "items": items},
            )
        )

    # --- auditors --------------------------------------------------------------------------------
    def trail(self, account: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/audit/accounts/{account}/trail"))

    def programs(self, fiscal_year: int | None = None) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/audit/programs", params={"fiscal_year": fiscal_year}))

    def bundle(self, account: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/audit/accounts/{account}/bundle"))

    # --- health ----------------------------------------------------------------------------------
    def healthz(self) -> dict[str, Any]:
        return dict(self._request("GET", "/healthz"))

    def readyz(self) -> dict[str, Any]:
        return dict(self._request("GET", "/readyz"))


def verify_proof(
    proof: dict[str, Any], account: str, *, trusted_block_hash: str | None = None
) -> ProvenState:
    """Verify a ``/proof`` answer locally; returns the proven count, head and balances.

    Pass ``trusted_block_hash`` (from a node you trust) for the answer to mean anything: without
    it the check only shows the answer is self-consistent."""
    wire = {
        "address": proof["address"],
        "block_number": proof["anchor"]["block_number"],
        "block_hash": proof["anchor"]["block_hash"],
        "header": proof["header"],
        "account_proof": proof["account_proof"],
        "storage_hash": proof["storage_hash"],
        "storage_proofs": proof["storage_proofs"],
    }
    state = verify_account_proof(
        wire, account, proof["anchor"]["contract"], trusted_block_hash=trusted_block_hash
    )
    if state.count != proof["count"] or state.head != proof["head"].lower():
        raise ProofError("the answer's count/head differ from what the proofs prove")
    if state.balances != proof["balances"]:
        raise ProofError("the answer's balances differ from what the proofs prove")
    return state


def verify_balances(balances: dict[str, Any], proven: ProvenState) -> None:
    """Check a ``/balances`` answer against proven state (same anchor block)."""
    if balances["anchor"]["block_hash"].lower() != proven.block_hash:
        raise ProofError("balances and proof are anchored at different blocks")
    for item in balances["balances"]:
        if proven.balances.get(item["program"], 0) != item["balance"]:
            raise ProofError(
                f"{item['program']}: served {item['balance']} but proven "
                f"{proven.balances.get(item['program'], 0)}"
            )


def verify_trail(trail: dict[str, Any], proven: ProvenState) -> None:
    """Recompute a ``/trail`` answer's hash chain locally and check it ends in the proven head
    and count (use a proof or bundle at the same block)."""
    from ledger.domain.codes import EntryKind, Program, Reason
    from ledger.domain.hashchain import Entry, verify_chain

    account = bytes.fromhex(trail["account"][2:])
    entries = [
        Entry(
            account=account,
            seq=e["seq"],
            kind=int(EntryKind[e["kind"]]),
            program=int(Program[e["program"]]),
            amount=e["amount"],
            reason=int(Reason[e["reason"]]),
            ref=bytes.fromhex(e["ref"][2:]),
            timestamp=e["timestamp"],
        )
        for e in trail["entries"]
    ]
    try:
        verify_chain(entries, bytes.fromhex(proven.head[2:]), proven.count)
    except Exception as exc:
        raise ProofError(f"trail does not match the proven state: {exc}") from exc
