"""The bulk answers (logs, receipts, blocks) are decoded by ``orjson``, the rest by ``json``
(bridge.rpc.loads): the same values, the same refusals, and exact integers wherever an answer
may carry one."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.indexer import log_blocks, log_row
from bridge.rpc import HEX_ANSWERS, loads

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_JSON = st.recursive(
    st.none() | st.booleans() | _INT64 | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@given(_JSON, st.booleans())
def test_a_bulk_answer_reads_as_json_reads_it(doc: Any, ascii_only: bool) -> None:
    raw = json.dumps(doc, ensure_ascii=ascii_only).encode()
    for method in HEX_ANSWERS:
        assert loads(method, raw) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [b'{"id":1,"result":NaN}', b'{"id":1,"result":Infinity}', b"[1e400]", b'["\\ud800"]'],
)
def test_what_orjson_refuses_reads_as_json_reads_it(raw: bytes) -> None:
    expected = json.loads(raw)
    got = loads("eth_getLogs", raw)
    assert repr(got) == repr(expected)  # NaN != NaN: compare the texts
    if isinstance(expected, dict):
        assert math.isnan(got["result"]) or math.isinf(got["result"])


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b'{"id":1,}', b"[1,2"])
def test_a_broken_answer_is_refused_as_json_refuses_it(raw: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(raw)
    with pytest.raises(ValueError):
        loads("eth_getTransactionReceipt", raw)


def test_other_answers_keep_integers_of_any_size() -> None:
    big = 2**200 + 1
    raw = json.dumps({"jsonrpc": "2.0", "id": big, "result": big}).encode()
    assert loads("eth_call", raw) == {"jsonrpc": "2.0", "id": big, "result": big}


def _log(**over: Any) -> dict[str, Any]:
    log: dict[str, Any] = {
        "address": "0x" + "11" * 20,
        "topics": ["0x" + "22" * 32, "0x" + "33" * 32],
        "data": "0x" + "00" * 64,
        "blockNumber": "0x1a",
        "transactionHash": "0x" + "44" * 32,
        "transactionIndex": "0x0",
        "blockHash": "0x" + "55" * 32,
        "logIndex": "0x3",
        "removed": False,
    }
    log.update(over)
    return log


@pytest.mark.parametrize("field", ["blockNumber", "logIndex"])
def test_a_huge_number_where_a_log_holds_a_quantity_fails_with_either_decoder(field: str) -> None:
    """The one reading that differs (``orjson``: a float beyond 64 bits) is refused by the
    indexer's reading of a log as ``json``'s exact integer is: a quantity is a hex string."""
    raw = json.dumps({"jsonrpc": "2.0", "id": 1, "result": [_log(**{field: 10**30})]}).encode()
    for decoded in (json.loads(raw), loads("eth_getLogs", raw)):
        logs = decoded["result"]
        with pytest.raises(TypeError):
            log_row(logs[0], "0x" + "00" * 24) if field == "logIndex" else log_blocks(logs)
