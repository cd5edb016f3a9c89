"""The tests' secrets (docs/keys.md): 32+ bytes each, two different ones, never the demo keys."""

from __future__ import annotations

import pytest

from ledger.domain.keys import IdKeys

ACCOUNT_KEY = "test-account-key-0123456789abcdef-0123"
REF_KEY = "test-ref-key-0123456789abcdef-0123456789"
KEYS = IdKeys.from_secrets(ACCOUNT_KEY.encode(), REF_KEY.encode())


def set_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the tests' secrets in the environment the CLI and the API read."""
    monkeypatch.setenv("MILEAGE_ACCOUNT_KEY", ACCOUNT_KEY)
    monkeypatch.setenv("MILEAGE_REF_KEY", REF_KEY)
