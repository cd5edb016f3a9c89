"""Decoding of ``eth_getLogs`` answers into fixed-width records: what the replay reads (cheap to
slice, cheap to pass between processes).

The logs are never decoded as JSON objects on the fast route: one regular expression scan per
field pulls the hex out of the node's answer text into binary records (:func:`pack_answer`).
The log carries no head: the hash-chain preimage ``abi.encodePacked(bytes24 head, account,
entry, ref)`` (120 bytes) is ``prev_head ‖ topics[1] ‖ data``, so a record's first 96 bytes are
the preimage after the previous head (:func:`preimage_tail`; ``tests/integration/
test_verify.py`` proves it equal to ``ledger.domain.hashchain.encode_entry``).
"""

from __future__ import annotations

import itertools
import json
import re
from binascii import unhexlify
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

from bridge.raw_reader import CONSENT_TOPIC, DATA_HEX_LEN, ENTRY_TOPIC
from bridge.rpc import RpcError

#: One record per log, 108 bytes: account(32) entry word(32) ref(32) block number(8) log
#: index(4), big-endian. The first 96 bytes are the hash-chain preimage after the previous head;
#: the last 12 (the chain position) compare as bytes in chain order.
REC = 108
R_ENTRY = 32
R_REF = 64
R_POS = 96  # also the end of the preimage tail (account, entry, ref)

Records = tuple[bytes, int, list[Mapping[str, Any]]]
"""(records, how many, the logs that are not well-formed EntryRecorded logs: the
``DonationConsentSet`` logs when the filter asked for them, else anything the trail reports)"""


def pack_records(logs: Iterable[Mapping[str, Any]]) -> Records:
    """Fixed-width :data:`REC` records of the well-formed ``EntryRecorded`` logs, in order."""
    parts: list[str] = []
    kept: list[Mapping[str, Any]] = []
    odd: list[Mapping[str, Any]] = []
    topic = ENTRY_TOPIC
    data_len = DATA_HEX_LEN
    for log in logs:
        t = log["topics"]
        d = log["data"]
        if len(t) != 2 or t[0] != topic or len(d) != data_len or len(t[1]) != 66:
            odd.append(log)
            continue
        parts.append(
            f"{t[1][2:]}{d[2:]}{int(log['blockNumber'], 16):016x}{int(log['logIndex'], 16):08x}"
        )
        kept.append(log)
    try:
        return unhexlify("".join(parts)), len(parts), odd
    except ValueError:  # some log's words are not hex: find which
        good: list[bytes] = []
        for part, log in zip(parts, kept, strict=True):
            try:
                good.append(unhexlify(part))
            except ValueError:
                odd.append(log)
        return b"".join(good), len(good), odd


def decode_logs_text(text: str | bytes) -> list[dict[str, Any]]:
    """The logs of an ``eth_getLogs`` answer given as JSON text."""
    answer = json.loads(text)
    if "error" in answer:
        raise RpcError("eth_getLogs", str(answer["error"]))
    logs: list[dict[str, Any]] = answer["result"]
    return logs


# One pattern per field of the answer's logs, each matched all over the text in one C scan; the
# nth match of each is the nth log's (JSON-RPC logs are flat objects with one of each key).
_RE_ACCOUNT = re.compile(
    rb'"topics"\s*:\s*\[\s*"' + ENTRY_TOPIC.encode() + rb'"\s*,\s*"0x([0-9a-f]{64})"\s*\]'
)
_RE_DATA = re.compile(rb'"data"\s*:\s*"0x([0-9a-f]{128})"')
# DonationConsentSet logs (one data word) among them: see _split_consent
_ENTRY = ENTRY_TOPIC.encode()
_CONSENT = CONSENT_TOPIC.encode()
_RE_TOPIC0 = re.compile(rb'"topics"\s*:\s*\[\s*"(0x[0-9a-f]{64})"')
_RE_CONSENT = re.compile(rb'"topics"\s*:\s*\[\s*"' + _CONSENT + rb'"\s*,\s*"0x([0-9a-f]{64})"\s*\]')
_RE_WORD = re.compile(rb'"data"\s*:\s*"0x([0-9a-f]{64})"')
_RE_BLOCK = re.compile(rb'"blockNumber"\s*:\s*"0x([0-9a-f]{1,16})"')
_RE_INDEX = re.compile(rb'"logIndex"\s*:\s*"0x([0-9a-f]{1,8})"')


def pack_answer(text: bytes) -> Records:
    """:func:`pack_records` of an ``eth_getLogs`` answer given as JSON bytes, the same records
    without decoding the JSON when every log is a well-formed ``EntryRecorded`` or
    ``DonationConsentSet`` log.

    The fast route finds each field of every log with one regular-expression scan and joins them
    into records without a Python loop. It is taken only if each field matched once per log
    (a match can only start at a key: the values are hex strings, booleans and the ``topics``
    array); ``DonationConsentSet`` logs (:func:`_split_consent`) come out as the logs
    :func:`pack_records` would leave aside. Anything else (no logs, an error, other or malformed
    logs, escapes, upper-case hex) goes the reference route, ``json.loads`` and
    :func:`pack_records`, which also reports the logs that are not well-formed ``EntryRecorded``
    logs.
    """
    n = text.count(b'"topics"')
    if n and b"\\" not in text:
        accounts = _RE_ACCOUNT.findall(text)
        if len(accounts) == n:
            datas = _RE_DATA.findall(text)
            blocks = _RE_BLOCK.findall(text)
            indexes = _RE_INDEX.findall(text)
            if len(datas) == len(blocks) == len(indexes) == n:
                return _join(accounts, datas, blocks, indexes), n, []
        elif _CONSENT in text:
            mixed = _split_consent(text, n, accounts)
            if mixed is not None:
                return mixed
    return pack_records(decode_logs_text(text))


def _join(
    accounts: list[bytes], datas: list[bytes], blocks: list[bytes], idx: list[bytes]
) -> bytes:
    """The records of ``EntryRecorded`` fields matched in an answer (hex, one per log)."""
    n = len(accounts)
    zero = b"0"
    parts = zip(
        accounts,
        datas,
        map(bytes.rjust, blocks, repeat(16, n), repeat(zero, n)),
        map(bytes.rjust, idx, repeat(8, n), repeat(zero, n)),
        strict=True,
    )
    return unhexlify(b"".join(itertools.chain.from_iterable(parts)))


def _split_consent(text: bytes, n: int, accounts: list[bytes]) -> Records | None:
    """The fast route of an answer that also holds ``DonationConsentSet`` logs (the verifier
    asks for both events in one filter): the records of the ``EntryRecorded`` logs, and the
    consent logs as JSON-RPC dicts in place of the logs left aside; None if any field does not
    match once per log (the reference route decides then)."""
    topic0 = _RE_TOPIC0.findall(text)
    consents = _RE_CONSENT.findall(text)
    k = len(consents)
    if (
        len(topic0) != n
        or len(accounts) + k != n
        or topic0.count(_ENTRY) != len(accounts)
        or topic0.count(_CONSENT) != k
    ):
        return None
    datas = _RE_DATA.findall(text)
    words = _RE_WORD.findall(text)
    blocks = _RE_BLOCK.findall(text)
    indexes = _RE_INDEX.findall(text)
    if len(datas) != n - k or len(words) != k or not len(blocks) == len(indexes) == n:
        return None
    at: list[int] = []
    i = -1
    for _ in range(k):
        i = topic0.index(_CONSENT, i + 1)
        at.append(i)
    entry_blocks: list[bytes] = []
    entry_indexes: list[bytes] = []
    for lo, hi in zip([-1, *at], [*at, n], strict=True):
        entry_blocks += blocks[lo + 1 : hi]
        entry_indexes += indexes[lo + 1 : hi]
    odd: list[Mapping[str, Any]] = [
        {
            "topics": [CONSENT_TOPIC, "0x" + account.decode()],
            "data": "0x" + word.decode(),
            "blockNumber": "0x" + blocks[j].decode(),
            "logIndex": "0x" + indexes[j].decode(),
        }
        for j, account, word in zip(at, consents, words, strict=True)
    ]
    return _join(accounts, datas, entry_blocks, entry_indexes), n - k, odd


def preimage_tail(log: Mapping[str, Any]) -> bytes:
    """``abi.encodePacked(account, entry, ref)`` of a raw log (``topics[1]`` and ``data``): the
    hash-chain preimage without the previous head (see the module docstring)."""
    return bytes.fromhex(log["topics"][1][2:] + log["data"][2:])
