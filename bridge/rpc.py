"""Raw JSON-RPC over keep-alive HTTP: the one transport for calls that skip web3.py.

web3.py (:mod:`bridge.chain`, :class:`bridge.client.LedgerClient`) serves typed contract reads,
deployment and administration. Where speed needs plain JSON-RPC (the submitter's confirmation
loop, the indexer, reconciliation and the verifier read many blocks, receipts and logs) the calls
go through :class:`JsonRpc`: a small pool of persistent HTTP/1.1 connections
(:class:`HttpTransport`, stdlib ``http.client``: about a third of ``httpx``'s CPU per request),
batches, and one error type, :class:`RpcError` (an error answer; :class:`NodeUnreachable` when
there was no usable answer). A URL that the environment routes through a proxy, or an injected
``httpx.Client``, keeps the ``httpx`` transport.

Answers are decoded by :func:`loads`: the bulk answers (logs, receipts, blocks), whose values
are all strings, booleans and null, by ``orjson`` (40 % less CPU than ``json`` on a batch of
logs); every other answer by ``json``, which reads an integer of any size exactly (``orjson``
reads one beyond 64 bits as a float). ``orjson`` encodes the calls whose params are strings
(:func:`dumps`).
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Sequence
from typing import Any, Self

import httpx
import orjson

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


HEX_ANSWERS = frozenset(
    {
        "eth_getLogs",
        "eth_getTransactionReceipt",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
    }
)
"""Methods whose results hold no number (quantities are hex strings): their answers' only
numbers are the request ids and an error's code."""


def loads(method: str, raw: bytes) -> Any:
    """A node's answer to ``method``, decoded.

    :data:`HEX_ANSWERS` go to ``orjson``; what it refuses (NaN, an exponent beyond a double,
    a lone surrogate ...) and every other method to ``json``, so a refusal is ``json``'s own. The
    one difference left is a number beyond 64 bits where such an answer holds none: ``orjson``
    reads it as a float, and every reader of these answers expects a string there and fails on
    either (tests/unit/test_rpc_transport.py)."""
    if method in HEX_ANSWERS:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def dumps(payload: Any) -> bytes:
    """``payload`` as the JSON body ``httpx`` sent for ``json=payload`` (compact, UTF-8; the
    same errors). A single call whose params are strings (``eth_sendRawTransaction``: 100 kB of
    hex) is encoded by ``orjson``, 30 times faster, byte for byte the same."""
    if type(payload) is dict and _strings_only(payload):
        try:
            return orjson.dumps(payload)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: json says what is wrong
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _strings_only(call: dict[Any, Any]) -> bool:
    """Whether orjson encodes ``call`` exactly as json does: string keys; string values, ids of
    type ``int`` within 64 bits, and params a list of strings."""
    for key, value in call.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is str:
            continue
        if kind is int:
            if not -(2**63) <= value < 2**63:
                return False
        elif kind is list:
            for item in value:
                if type(item) is not str:
                    return False
        else:
            return False
    return True


# --- the transport ------------------------------------------------------------------------------
class TransportError(Exception):
    """No usable HTTP answer; ``cause`` is the name ``httpx`` gives the same failure
    (``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``WriteError``, ``ReadError``,
    ``RemoteProtocolError``, ``HTTPStatusError``, ``DecodingError``)."""

    def __init__(self, cause: str, detail: str) -> None:
        self.cause, self.detail = cause, detail
        super().__init__(f"{cause}: {detail}")


_STATUS_KIND = {1: "Informational response", 3: "Redirect response", 4: "Client error"}


def _peer_closed(sock: socket.socket) -> bool:
    """True if an idle keep-alive connection is readable: the node closed it (or sent bytes no
    request asked for); either way it must not carry the next request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class HttpTransport:
    """POSTs to one URL over persistent HTTP/1.1 connections (``http.client``; ``https`` with
    ``httpx``'s certificate store): a pool of idle keep-alive connections, one per concurrent
    caller (thread-safe; at most ``max_idle`` kept). ``timeout`` bounds the connect and every
    socket read and write, as ``httpx.Client(timeout=...)`` did.

    A connection attempt that fails is retried twice (after 0 and 0.5 s, as
    ``httpx.HTTPTransport(retries=2)``); a kept connection the node has dropped is replaced and
    the request sent again once (it never reached the node, or the node dropped it unanswered:
    every JSON-RPC request of the bridge may be repeated, a raw transaction included).
    """

    def __init__(self, url: str, timeout: float, *, max_idle: int = 16) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.timeout = timeout
        self.max_idle = max_idle
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "*/*",
            "User-Agent": "mileage-bridge",
        }
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._ssl = httpx.create_ssl_context() if self._https else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.sock is not None and not _peer_closed(conn.sock):
                    return conn
                conn.close()
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _give(self, conn: http.client.HTTPConnection) -> None:
        if conn.sock is not None:
            with self._lock:
                if not self._closed and len(self._idle) < self.max_idle:
                    self._idle.append(conn)
                    return
        conn.close()

    def post(self, body: bytes) -> bytes:
        """POST ``body``; the answer's body (a 2xx status). Raises :class:`TransportError`."""
        connect_failures = 0
        stale_retried = False
        while True:
            conn = self._take()
            reused = conn.sock is not None
            try:
                return self._exchange(conn, body, reused)
            except _Stale:
                conn.close()
                if stale_retried:  # a fresh connection is never stale: cannot loop, but be sure
                    raise TransportError("RemoteProtocolError", "server disconnected") from None
                stale_retried = True
            except _ConnectFailed as exc:
                conn.close()
                connect_failures += 1
                if connect_failures > 2:
                    raise exc.error from exc.__cause__
                time.sleep(0.0 if connect_failures == 1 else 0.5)
            except BaseException:
                conn.close()
                raise

    def _exchange(self, conn: http.client.HTTPConnection, body: bytes, reused: bool) -> bytes:
        if not reused:
            try:
                conn.connect()
            except TimeoutError as exc:
                raise _ConnectFailed(TransportError("ConnectTimeout", str(exc))) from exc
            except OSError as exc:
                raise _ConnectFailed(TransportError("ConnectError", str(exc))) from exc
        try:
            conn.request("POST", self._target, body, self._headers)
        except TimeoutError as exc:
            raise TransportError("WriteTimeout", str(exc)) from exc
        except OSError as exc:
            if reused:
                raise _Stale from exc
            raise TransportError("WriteError", str(exc)) from exc
        try:
            resp = conn.getresponse()
        except TimeoutError as exc:
            raise TransportError("ReadTimeout", str(exc)) from exc
        except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
            if reused:  # the node closed the kept connection as the request went out
                raise _Stale from exc
            cause = (
                "RemoteProtocolError" if isinstance(exc, http.client.HTTPException) else "ReadError"
            )
            raise TransportError(cause, str(exc) or "server disconnected") from exc
        except http.client.HTTPException as exc:
            raise TransportError("RemoteProtocolError", f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise TransportError("ReadError", str(exc)) from exc
        try:
            data = resp.read()
        except TimeoutError as exc:
            raise TransportError("ReadTimeout", str(exc)) from exc
        except http.client.HTTPException as exc:  # IncompleteRead: half a body, then EOF
            raise TransportError(
                "RemoteProtocolError", f"incomplete answer ({type(exc).__name__})"
            ) from exc
        except OSError as exc:
            raise TransportError("ReadError", str(exc)) from exc
        if resp.will_close:
            conn.close()
        self._give(conn)
        status = resp.status
        if not 200 <= status < 300:
            kind = _STATUS_KIND.get(status // 100, "Server error")
            text = f"{kind} '{status} {resp.reason}' for url '{self.url}'"
            location = resp.getheader("location")
            if 300 <= status < 400 and location is not None:
                text += f"\nRedirect location: '{location}'"
            raise TransportError(  # the words of httpx's raise_for_status
                "HTTPStatusError",
                f"{text}\nFor more information check: "
                f"https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{status}",
            )
        encoding = (resp.getheader("content-encoding") or "identity").strip().lower()
        if encoding in ("identity", ""):
            return data
        try:
            if encoding in ("gzip", "x-gzip"):
                return zlib.decompress(data, 16 + zlib.MAX_WBITS)
            if encoding == "deflate":
                try:
                    return zlib.decompress(data)
                except zlib.error:
                    return zlib.decompress(data, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise TransportError("DecodingError", str(exc)) from exc
        raise TransportError("DecodingError", f"content encoding {encoding!r} not supported")


class _Stale(Exception):
    """A kept connection the node had closed: replace it and send again."""


class _ConnectFailed(Exception):
    def __init__(self, error: TransportError) -> None:
        self.error = error


_JSON_HEADERS = {"Content-Type": "application/json"}


def _proxied(url: str) -> bool:
    """True if the environment routes ``url`` through a proxy (``httpx`` honours those)."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class JsonRpc:
    """JSON-RPC client of the node at ``url``: persistent keep-alive connections
    (:class:`HttpTransport`), thread-safe. ``batch_size`` bounds the requests per JSON-RPC batch
    (Besu's default limit is 1,024). Connection failures are retried twice (a request that never
    reached the node). ``http``: an ``httpx.Client`` to send through instead (tests, one-try
    probes); a URL the environment sends through a proxy gets one too."""

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
        self._transport: HttpTransport | None = None
        if (
            http is None
            and urllib.parse.urlsplit(url).scheme in ("http", "https")
            and not _proxied(url)
        ):
            try:
                self._transport = HttpTransport(url, timeout)
            except ValueError:
                self._transport = None  # no host: httpx says what is wrong, at the first call
        if self._transport is None and http is None:
            http = httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(retries=2))
            self._owns_http = True
        else:
            self._owns_http = False
        self._http = http
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
        if self._transport is not None:
            self._transport.close()
        if self._owns_http and self._http is not None:
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
        body = dumps(payload)
        if self._transport is not None:
            try:
                return self._transport.post(body)
            except TransportError as exc:
                raise NodeUnreachable(method, exc.cause, exc.detail, self.url) from exc
        assert self._http is not None
        try:
            resp = self._http.post(self.url, content=body, headers=_JSON_HEADERS)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise NodeUnreachable(method, type(exc).__name__, str(exc), self.url) from exc
        return resp.content

    def post(self, method: str, payload: Any) -> Any:
        """POST ``payload``; the answer decoded from JSON (:func:`loads`)."""
        try:
            return loads(method, self.post_raw(method, payload))
        except NodeUnreachable:
            raise
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
