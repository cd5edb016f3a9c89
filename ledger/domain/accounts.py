"""Pseudonymous on-chain account ids (docs/DESIGN.md, "Accounts").

account = HMAC-SHA256(key=MILEAGE_ACCOUNT_KEY, msg=citizen_id UTF-8). The citizen id never
leaves the database and is never logged; only the 32-byte account id goes on chain.
"""

from __future__ import annotations

import hashlib
import hmac

from ledger.domain.errors import InvalidAccountKey, InvalidValue
from ledger.domain.types import AccountId

MIN_KEY_BYTES = 16


def account_id(citizen_id: str, key: bytes) -> AccountId:
    """The 32-byte account id of `citizen_id` under the HMAC `key`."""
    if len(key) < MIN_KEY_BYTES:
        raise InvalidAccountKey(len(key), MIN_KEY_BYTES)
    if not citizen_id:
        raise InvalidValue("citizen_id", "is empty; pass the citizen's registry id")
    return AccountId(hmac.new(key, citizen_id.encode("utf-8"), hashlib.sha256).digest())
