"""The one raw JSON-RPC transport (``bridge.rpc``) against a fake node (``httpx.MockTransport``):
error answers, refused batches, missing answers and no answer at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridge.errors import ChainUnavailable
from bridge.rpc import JsonRpc, NodeUnreachable, RpcError

URL = "http://node.invalid:8545"


def node(answer: Callable[[Any], Any]) -> JsonRpc:
    """A client whose node answers each request body with ``answer(body)`` (JSON)."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer(json.loads(request.content)))

    return JsonRpc(URL, http=httpx.Client(transport=httpx.MockTransport(handle)), batch_size=2)


def ok(req: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req["id"], "result": req["params"][0]}


def test_call_and_batch_return_results_in_request_order() -> None:
    def answer(body: Any) -> Any:
        return ok(body) if isinstance(body, dict) else [ok(r) for r in reversed(body)]

    rpc = node(answer)
    assert rpc.call("eth_echo", ["a"]) == "a"
    assert rpc.batch("eth_echo", [[n] for n in range(5)]) == [0, 1, 2, 3, 4]


def test_revert_data_is_found_where_nodes_put_it() -> None:
    revert = "0x08c379a0" + "00" * 4
    for data in (revert, {"data": revert}, {"result": revert}):
        rpc = node(
            lambda body, d=data: {"id": body["id"], "error": {"code": 3, "message": "x", "data": d}}
        )
        with pytest.raises(RpcError) as err:
            rpc.call("eth_call", [])
        assert (err.value.code, err.value.data, err.value.message) == (3, revert, "x")
        assert "JSON-RPC eth_call failed: x (code 3)" in str(err.value)
    rpc = node(lambda body: {"id": body["id"], "error": "plain text"})
    with pytest.raises(RpcError, match="plain text") as err:
        rpc.call("eth_call", [])
    assert err.value.data is None and err.value.code is None


def test_a_refused_batch_or_a_missing_answer_is_an_error() -> None:
    refused = node(lambda body: {"id": None, "error": {"code": -32600, "message": "no batches"}})
    with pytest.raises(RpcError, match="no batches"):
        refused.batch("eth_getBlockByNumber", [["0x1", False]])
    short = node(lambda body: [ok(body[0])])
    with pytest.raises(RpcError, match="no answer for request 1"):
        short.batch("eth_echo", [[1], [2]])
    failing = node(lambda body: [ok(body[0]), {"id": body[1]["id"], "error": {"message": "bad"}}])
    with pytest.raises(RpcError, match="bad"):
        failing.batch("eth_echo", [[1], [2]])


def test_no_answer_is_node_unreachable_and_chain_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rpc = JsonRpc(URL, http=httpx.Client(transport=httpx.MockTransport(down)))
    with pytest.raises(NodeUnreachable) as err:
        rpc.call("eth_blockNumber", [])
    assert isinstance(err.value, RpcError) and isinstance(err.value, ChainUnavailable)
    assert err.value.cause == "ConnectError" and URL in str(err.value)

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>proxy error</html>")

    rpc = JsonRpc(URL, http=httpx.Client(transport=httpx.MockTransport(garbage)))
    with pytest.raises(NodeUnreachable, match="not JSON"):
        rpc.call("eth_blockNumber", [])

    def status(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=b"bad gateway")

    rpc = JsonRpc(URL, http=httpx.Client(transport=httpx.MockTransport(status)))
    with pytest.raises(NodeUnreachable, match="HTTPStatusError"):
        rpc.post_raw("eth_getLogs", {})
