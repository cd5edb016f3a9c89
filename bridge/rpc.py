"""Raw JSON-RPC over keep-alive HTTP: the one transport for calls that skip web3.py.

web3.py (:mod:`bridge.chain`, :class:`bridge.client.LedgerClient`) serves typed contract reads,
deployment and administration. Where speed needs plain JSON-RPC (the submitter's confirmation
loop, the indexer, reconciliation and the verifier read many blocks, receipts and logs) the calls
go through :class:`JsonRpc`: one pooled ``httpx`` connection, batches, and one error type,
:class:`RpcError` (an error answer; :class:`NodeUnreachable` when there was no usable answer).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Self

import httpx

from bridge.errors import BridgeError, ChainUnavailable


class RpcError(BridgeError):
    """A JSON-RPC request failed: the node answered with an error object (``code``, ``message``
    and revert ``data`` when it gave them), or, as :class:`NodeUnreachable`, gave no usable answer.

    ``method`` is the RPC method. Check that the node at the URL is up and serves the block asked
    for (historical state needs an archive node).
    """

    def __init__(
        self, method: str, message: str, *, code: int | None = None, data: str | None = None
    ) -> None:
        self.method, self.message, self.code, self.data = method, message, code, data
        tail = "" if code is None else f" (code {code})"
        super().__init__(f"JSON-RPC {method} failed: {message}{tail}")


class NodeUnreachable(RpcError, ChainUnavailable):
    """No usable answer (connection refused, timeout, HTTP error status, not JSON): start the
    node, or point MILEAGE_RPC_URL at one that runs. ``cause`` names the transport error
    (``ConnectError``, ``ReadTimeout``, ``HTTPStatusError``, ``NotJson`` ...)."""

    def __init__(self, method: str, cause: str, detail: str, url: str) -> None:
        self.cause = cause
        super().__init__(method, f"{cause}: {detail} ({url})")


def error_of(method: str, err: Any) -> RpcError:
    """The :class:`RpcError` of a JSON-RPC error object (revert data where the node puts it:
    ``data`` itself, or ``data.data`` / ``data.result`` on some nodes)."""
    if not isinstance(err, dict):
        return RpcError(method, str(err))
    data = err.get("data")
    if isinstance(data, dict):
        data = data.get("data") or data.get("result")
    code = err.get("code")
    return RpcError(
        method,
        str(err.get("message", err)),
        code=int(code) if isinstance(code, int) else None,
        data=data if isinstance(data, str) else None,
    )


class JsonRpc:
    """JSON-RPC client of the node at ``url``: one keep-alive ``httpx`` connection pool,
    thread-safe. ``batch_size`` bounds the requests per JSON-RPC batch (Besu's default limit is
    1,024). Connection failures are retried twice (a request that never reached the node)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 120.0,
        batch_size: int = 500,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.batch_size = batch_size
        self._http = http or httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(retries=2))
        self._owns_http = http is None
        self._lock = threading.Lock()
        self._next_id = 0

    @classmethod
    def of_web3(cls, w3: Any, **kwargs: Any) -> Self:
        """A client of the node behind a :func:`bridge.chain.make_web3` connection (its URL and
        timeout; ``kwargs`` go to the constructor and win over them)."""
        provider = w3.provider
        url = getattr(provider, "endpoint_uri", None)
        if not url:
            raise ChainUnavailable("raw JSON-RPC needs an HTTP provider (bridge.chain.make_web3)")
        timeout = dict(provider.get_request_kwargs()).get("timeout")
        if timeout is not None:
            kwargs.setdefault("timeout", float(timeout))
        return cls(str(url), **kwargs)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ids(self, n: int) -> int:
        """The first of ``n`` fresh request ids."""
        with self._lock:
            first = self._next_id
            self._next_id += n
            return first

    def post_raw(self, method: str, payload: Any) -> bytes:
        """POST ``payload``; the answer's undecoded JSON bytes (for callers that scan them)."""
        try:
            resp = self._http.post(self.url, json=payload)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise NodeUnreachable(method, type(exc).__name__, str(exc), self.url) from exc
        return resp.content

    def post(self, method: str, payload: Any) -> Any:
        """POST ``payload``; the answer decoded from JSON."""
        try:
            resp = self._http.post(self.url, json=payload)
            resp.raise_for_status()
            return resp.json()
        except httpx.HTTPError as exc:
            raise NodeUnreachable(method, type(exc).__name__, str(exc), self.url) from exc
        except ValueError as exc:
            raise NodeUnreachable(method, "NotJson", "the answer is not JSON", self.url) from exc

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One call; its ``result``. Raises :class:`RpcError` on an error answer."""
        answer = self.post(
            method, {"jsonrpc": "2.0", "id": self.ids(1), "method": method, "params": params}
        )
        if not isinstance(answer, dict):
            raise RpcError(method, f"unexpected answer {str(answer)[:200]}")
        if "error" in answer:
            raise error_of(method, answer["error"])
        return answer.get("result")

    def batch(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        """Many calls of one method, ``batch_size`` per HTTP request; results in input order."""
        out: list[Any] = []
        for start in range(0, len(params_list), self.batch_size):
            part = params_list[start : start + self.batch_size]
            first = self.ids(len(part))
            payload = [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": p}
                for i, p in enumerate(part)
            ]
            answer = self.post(method, payload)
            if isinstance(answer, dict):  # a node that refuses batches answers with one error
                raise error_of(method, answer.get("error", answer))
            by_id = {a.get("id"): a for a in answer}
            for i in range(len(part)):
                a = by_id.get(first + i)
                if a is None:
                    raise RpcError(method, f"no answer for request {i} of a batch")
                if "error" in a:
                    raise error_of(method, a["error"])
                out.append(a["result"])
        return out
