"""The lean JSON-RPC transport (``bridge.rpc.HttpTransport``) against a hostile node on a real
socket: it drops kept connections, answers 500, garbage or half a body, hangs, answers huge,
and leaves ids out of a batch. Every case is also run through the ``httpx`` transport it
replaced: the same result, or the same error (type and ``cause``)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.rpc import HttpTransport, JsonRpc, NodeUnreachable, RpcError, dumps


@dataclass
class Reply:
    """What the node does with one request: answer ``body`` with ``status`` (``chunked``
    transfer encoding, or ``raw`` bytes sent as they are), then keep the connection or ``close``
    it; ``hang``: never answer."""

    body: bytes = b""
    status: int = 200
    close: bool = False
    chunked: bool = False
    raw: bytes | None = None
    hang: bool = False
    drop: bool = False  # close without answering


def ok(req: Any) -> Any:
    if isinstance(req, list):
        return [ok(r) for r in req]
    return {"jsonrpc": "2.0", "id": req["id"], "result": req["params"]}


def echo(n: int, req: Any) -> Reply:
    return Reply(json.dumps(ok(req)).encode())


@dataclass
class Node:
    """A JSON-RPC node on 127.0.0.1 that answers the ``n``-th request (0-based, over all
    connections) with ``behave(n, request)``."""

    behave: Callable[[int, Any], Reply]
    connections: int = 0
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    _sock: socket.socket = field(default_factory=socket.socket)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: list[socket.socket] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}/rpc"

    def start(self) -> Node:
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        for c in list(self._open):
            with contextlib.suppress(OSError):
                c.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        f = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                raw = f.read(length)
                request = json.loads(raw)
                with self._lock:
                    self.bodies.append(raw)
                    n = self.requests
                    self.requests += 1
                r = self.behave(n, request)
                if r.hang:
                    self._stop.wait()
                    return
                if r.drop:
                    return
                if r.raw is not None:
                    conn.sendall(r.raw)
                elif r.chunked:
                    out = b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n" % r.status
                    step = 65_536
                    for i in range(0, len(r.body), step):
                        part = r.body[i : i + step]
                        out += b"%x\r\n%s\r\n" % (len(part), part)
                    conn.sendall(out + b"0\r\n\r\n")
                else:
                    reason = b"Internal Server Error" if r.status == 500 else b"OK"
                    conn.sendall(
                        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (r.status, reason, len(r.body), r.body)
                    )
                if r.close:
                    return
        except OSError:
            return
        finally:
            f.close()
            conn.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int, Any], Reply]], Node]]:
    nodes: list[Node] = []

    def start(behave: Callable[[int, Any], Reply]) -> Node:
        nodes.append(Node(behave).start())
        return nodes[-1]

    yield start
    for n in nodes:
        n.stop()


def both(url: str, timeout: float = 10.0) -> list[JsonRpc]:
    """The lean transport and the httpx one it replaced, on the same node."""
    lean = JsonRpc(url, timeout=timeout, batch_size=3)
    assert lean._transport is not None
    old = JsonRpc(
        url,
        batch_size=3,
        http=httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(retries=2)),
    )
    return [lean, old]


def outcome(f: Callable[[], Any]) -> Any:
    """A call's result, or its error as (type, cause, message start)."""
    try:
        return ("ok", f())
    except NodeUnreachable as exc:
        return ("unreachable", exc.cause)
    except RpcError as exc:
        return ("rpc", exc.message, exc.code)


def test_a_kept_connection_carries_every_call(serve: Any) -> None:
    node = serve(echo)
    rpc = JsonRpc(node.url)
    for i in range(20):
        assert rpc.call("eth_echo", [i]) == [i]
    assert rpc.batch("eth_echo", [[i] for i in range(1200)]) == [[i] for i in range(1200)]
    assert node.connections == 1


def test_a_node_that_closes_after_each_answer(serve: Any) -> None:
    """Closed right after answering (no ``Connection: close``): the kept connection is seen
    dead before the next request, or fails as it goes out; either way the call is answered.
    (httpx raced here: "Server disconnected without sending a response" now and then.)"""
    node = serve(lambda n, req: Reply(json.dumps(ok(req)).encode(), close=True))
    rpc = JsonRpc(node.url)
    assert [rpc.call("eth_echo", [i]) for i in range(30)] == [[i] for i in range(30)]
    assert node.requests == 30


def test_a_node_that_drops_the_next_request_unanswered(serve: Any) -> None:
    """Every second request: the node closes the kept connection instead of answering; the
    request goes again on a fresh one, once."""
    node = serve(lambda n, req: Reply(drop=True) if n % 2 == 1 else echo(n, req))
    rpc = JsonRpc(node.url)
    assert rpc._transport is not None
    assert rpc.call("eth_echo", [0]) == [0]  # request 0, answered
    assert rpc.call("eth_echo", [1]) == [1]  # request 1 dropped, request 2 answered
    assert node.requests == 3 and node.connections == 2


def test_a_fresh_connection_dropped_unanswered_is_unreachable(serve: Any) -> None:
    node = serve(lambda n, req: Reply(drop=True))
    results = [outcome(partial(rpc.call, "eth_echo", [1])) for rpc in both(node.url)]
    assert results[0] == ("unreachable", "RemoteProtocolError")
    assert results[0] == results[1]


@pytest.mark.parametrize(
    ("name", "reply", "cause"),
    [
        ("500", Reply(b'{"error":"boom"}', status=500), "HTTPStatusError"),
        ("404", Reply(b"not here", status=404), "HTTPStatusError"),
        ("garbage body", Reply(b"<html>proxy error</html>"), "NotJson"),
        ("empty body", Reply(b""), "NotJson"),
        ("garbage status", Reply(raw=b"SSH-2.0-OpenSSH\r\n\r\n", close=True), None),
        (
            "half a body",
            Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"id":0,', close=True),
            "RemoteProtocolError",
        ),
        (
            "half a chunk",
            Reply(raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{", close=True),
            "RemoteProtocolError",
        ),
    ],
)
def test_no_usable_answer_is_node_unreachable_as_before(
    serve: Any, name: str, reply: Reply, cause: str | None
) -> None:
    """The first request gets the hostile answer, the next ones a good one: the same error as
    the httpx transport gave, and the client works again afterwards."""
    node = serve(lambda n, req: reply if n % 2 == 0 else echo(n, req))
    for rpc in both(node.url):
        got = outcome(partial(rpc.call, "eth_echo", [1]))
        assert got[0] == "unreachable", (name, got)
        if cause is not None:
            assert got[1] == cause, (name, got)
        else:
            assert got[1] in ("RemoteProtocolError", "UnsupportedProtocol"), (name, got)
        assert rpc.call("eth_echo", [2]) == [2]


def test_an_http_error_reads_like_httpx(serve: Any) -> None:
    node = serve(lambda n, req: Reply(b"boom", status=500))
    lean, old = both(node.url)
    messages = []
    for rpc in (lean, old):
        with pytest.raises(NodeUnreachable) as err:
            rpc.post_raw("eth_getLogs", {"id": 1})
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "Server error '500 Internal Server Error'" in messages[0] and node.url in messages[0]


def test_a_node_that_hangs_times_out(serve: Any) -> None:
    node = serve(lambda n, req: Reply(hang=True))
    for rpc in both(node.url, timeout=0.3):
        assert outcome(partial(rpc.call, "eth_blockNumber", [])) == (
            "unreachable",
            "ReadTimeout",
        )


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        for rpc in both(url, timeout=1.0):
            got = outcome(partial(rpc.call, "eth_chainId", []))
            assert got == ("unreachable", "ConnectError")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_huge_answer_arrives_whole(serve: Any, chunked: bool) -> None:
    big = [{"data": "0x" + f"{i:064x}" * 2, "logIndex": hex(i)} for i in range(60_000)]
    node = serve(
        lambda n, req: Reply(
            json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": big}).encode(),
            chunked=chunked,
        )
    )
    for rpc in both(node.url):
        assert rpc.call("eth_getLogs", [{}]) == big
        raw = rpc.post_raw("eth_getLogs", {"jsonrpc": "2.0", "id": 7, "method": "m"})
        assert json.loads(raw)["result"] == big


def test_a_batch_answer_missing_ids_or_refused(serve: Any) -> None:
    def behave(n: int, req: Any) -> Reply:
        if isinstance(req, list) and len(req) > 1:
            return Reply(json.dumps(ok(req[:-1])).encode())  # the last id left out
        return Reply(json.dumps({"id": None, "error": {"code": -32600, "message": "no"}}).encode())

    node = serve(behave)
    for rpc in both(node.url):
        assert outcome(partial(rpc.batch, "eth_echo", [[1], [2]])) == (
            "rpc",
            "no answer for request 1 of a batch",
            None,
        )
        assert outcome(partial(rpc.batch, "eth_echo", [[1]])) == ("rpc", "no", -32600)


def test_threads_sharing_a_client_get_their_own_answers(serve: Any) -> None:
    node = serve(echo)
    rpc = JsonRpc(node.url)
    errors: list[Any] = []

    def work(t: int) -> None:
        for i in range(40):
            got = rpc.call("eth_echo", [t, i])
            if got != [t, i]:
                errors.append((t, i, got))
        if rpc.batch("eth_echo", [[t, i] for i in range(700)]) != [[t, i] for i in range(700)]:
            errors.append((t, "batch"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert node.connections <= 8
    rpc.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def echo_pair() -> Iterator[tuple[Node, dict[str, int], list[JsonRpc]]]:
    """One echoing node (its status settable) and both transports on it, for many examples."""
    status = {"code": 200}
    node = Node(
        lambda n, req: Reply(json.dumps(ok(req), ensure_ascii=False).encode(), status["code"])
    ).start()
    yield node, status, both(node.url)
    node.stop()


@settings(max_examples=80, deadline=None)
@given(params=st.lists(json_values, max_size=4), status=st.sampled_from([200, 200, 201, 500]))
def test_the_lean_transport_gives_what_httpx_gave(
    echo_pair: tuple[Node, dict[str, int], list[JsonRpc]], params: list[Any], status: int
) -> None:
    """Any params (big integers, unicode, nesting, inf) and any status: the same bytes sent,
    the same answer or the same error through either transport."""
    node, code, (lean, old) = echo_pair
    code["code"] = status
    node.bodies.clear()
    got = [outcome(partial(rpc.call, "eth_echo", params)) for rpc in (lean, old)]
    assert got[0] == got[1]
    if node.bodies:  # none when the params are not JSON (inf): both raise before sending
        ids = [json.loads(b)["id"] for b in node.bodies]
        unnumbered = [b.replace(b'"id":%d' % i, b"") for b, i in zip(node.bodies, ids, strict=True)]
        assert len(unnumbered) == 2 and unnumbered[0] == unnumbered[1]


def test_transport_refuses_what_is_not_an_http_url() -> None:
    with pytest.raises(ValueError):
        HttpTransport("ws://127.0.0.1:8545", 1.0)
    # such a URL keeps httpx (which names the problem at the first call)
    rpc = JsonRpc("ws://127.0.0.1:8545", timeout=1.0)
    assert rpc._transport is None
    assert outcome(partial(rpc.call, "eth_chainId", []))[0] == "unreachable"


def reference_body(payload: Any) -> bytes:
    """What httpx sent for ``json=payload`` (httpx/_content.py encode_json)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


call_values = (
    st.text()
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.none()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.lists(st.text(), max_size=3)
    | st.lists(st.text() | st.integers() | st.none(), max_size=3)
    | json_values
)


@settings(max_examples=400, deadline=None)
@given(
    call=st.dictionaries(st.text(max_size=8), call_values, max_size=5)
    | st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), call_values, max_size=3),
    raw=st.text(alphabet="0123456789abcdef", max_size=2_000),
)
def test_the_body_is_what_httpx_sent(call: dict[Any, Any], raw: str) -> None:
    """The orjson fast path of :func:`bridge.rpc.dumps` gives json's bytes, or json's error."""
    for payload in (
        call,
        {"jsonrpc": "2.0", "id": 3, "method": "eth_sendRawTransaction", "params": ["0x" + raw]},
    ):
        try:
            want: Any = reference_body(payload)
        except (TypeError, ValueError) as exc:
            want = type(exc)
        try:
            got: Any = dumps(payload)
        except (TypeError, ValueError) as exc:
            got = type(exc)
        assert got == want, payload


def test_the_body_of_awkward_strings_is_what_httpx_sent() -> None:
    odd = "".join(chr(i) for i in range(0x250)) + "\u2028\u2029\ufeff\U0001f600"
    for params in ([odd], ["\ud800"], ["a", "b" * 100_000]):
        call = {"jsonrpc": "2.0", "id": 2**63 - 1, "method": "m", "params": params}
        try:
            want: Any = reference_body(call)
        except ValueError as exc:
            want = type(exc)
        try:
            got: Any = dumps(call)
        except ValueError as exc:
            got = type(exc)
        assert got == want


def test_https_is_spoken_when_the_url_says_so(serve: Any) -> None:
    """An https URL on a node that speaks plain HTTP: the TLS handshake gets no answer, a
    connect timeout through either transport (and the node never sees a request)."""
    node = serve(echo)
    url = node.url.replace("http://", "https://")
    got = [outcome(partial(rpc.call, "eth_chainId", [])) for rpc in both(url, timeout=0.5)]
    assert got == [("unreachable", "ConnectTimeout")] * 2
    assert node.requests == 0


def test_a_proxied_url_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert JsonRpc("http://node.example:8545")._transport is None
    monkeypatch.setenv("NO_PROXY", "node.example")
    assert JsonRpc("http://node.example:8545")._transport is not None


def self_signed(tmp: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test node")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_https_round_trips_and_checks_the_certificate(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TLS node: a certificate nobody trusts is a connect error through either transport;
    trusted (SSL_CERT_FILE, as httpx reads it), calls and batches go over one kept connection."""
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    node = Node(echo, tls=tls).start()
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        got = [outcome(partial(rpc.call, "eth_chainId", [])) for rpc in both(node.url)]
        assert got == [("unreachable", "ConnectError")] * 2
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        for rpc in both(node.url):
            assert [rpc.call("eth_echo", [i]) for i in range(5)] == [[i] for i in range(5)]
            assert rpc.batch("eth_echo", [[i] for i in range(10)]) == [[i] for i in range(10)]
        assert node.requests == 2 * (5 + 4)
    finally:
        node.stop()
