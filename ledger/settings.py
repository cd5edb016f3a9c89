"""The one settings object: everything configurable comes from ``MILEAGE_*`` environment variables.

The embedded default needs none of them: a local anvil chain with its state file and a SQLite
database, both under ``MILEAGE_DATA_DIR`` (``.mileage/``). Anywhere else (an RPC URL or a
database URL set) the two secrets that key every on-chain id, ``MILEAGE_ACCOUNT_KEY`` and
``MILEAGE_REF_KEY``, are required: `Settings.id_keys` refuses to hand out the public demo keys
(docs/keys.md).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.domain.errors import KeyNotConfigured
from ledger.domain.keys import DEMO_ACCOUNT_KEY, DEMO_KEYS, DEMO_REF_KEY, IdKeys, check_secret

# anvil's first well-known development key (public knowledge, only for the embedded local chain).
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class Settings(BaseSettings):
    """Configuration of the ledger (see the table in README.md)."""

    model_config = SettingsConfigDict(env_prefix="MILEAGE_", extra="ignore")

    data_dir: Path = Field(default=Path(".mileage"), description="state of the embedded default")
    rpc_url: str | None = Field(
        default=None, description="JSON-RPC URL; unset: the embedded anvil chain"
    )
    anvil_port: int = Field(default=8545, description="port of the embedded anvil node")
    chain_id: int = Field(default=31337, description="chain id of the embedded anvil node")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset: SQLite in the data dir"
    )
    contract_address: str | None = Field(
        default=None, description="ledger contract; unset: the deployment recorded in the database"
    )
    keystore_dir: Path | None = Field(
        default=None, description="encrypted keystores (one per role); unset: <data_dir>/keys"
    )
    keystore_password: SecretStr | None = Field(default=None, description="keystore password")
    keystore_password_file: Path | None = Field(default=None, description="file holding it")
    private_key: SecretStr | None = Field(
        default=None, description="signing key in the environment (instead of a keystore)"
    )
    account_key: SecretStr | None = Field(
        default=None,
        description="secret (32+ bytes) keying on-chain account ids (docs/keys.md); unset: the "
        "public demo key, embedded demo only",
    )
    ref_key: SecretStr | None = Field(
        default=None,
        description="secret (32+ bytes) keying award ids, conversion ids and deduction refs "
        "(docs/keys.md); unset: the public demo key, embedded demo only",
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=2000,
        description="awards per transaction (measured best; shrunk to fit the block gas limit)",
    )
    max_inflight: int = Field(
        default=4,
        ge=1,
        le=64,
        description="transactions a signer keeps unconfirmed at once (several share a block)",
    )
    confirmations: int = Field(default=0, ge=0, description="blocks before final (0 for QBFT)")
    stall_seconds: float = Field(
        default=60.0,
        ge=0,
        description="a signer with transactions in flight and nothing confirmed for this long is "
        "reported stalled (mileage_bridge_stalled, a warning)",
    )
    gas_price: int = Field(default=0, ge=0, description="gas price in wei (0: free-gas chains)")
    oidc_jwks_url: str | None = Field(
        default=None, description="wallet sign-in: the identity provider's JWKS URL"
    )
    oidc_issuer: str | None = Field(default=None, description="wallet sign-in: token issuer (iss)")
    oidc_audience: str | None = Field(default=None, description="wallet sign-in: audience (aud)")
    oidc_citizen_claim: str = Field(default="sub", description="claim holding the citizen id")
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300, description="exp/nbf leeway")
    oidc_jwks_min_refresh_seconds: float = Field(
        default=60.0, ge=0, description="least time between two JWKS fetches (unknown kids)"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="largest request body the API reads (bytes); larger: 413",
    )
    api_max_json_depth: int = Field(
        default=32,
        ge=4,
        le=512,
        description="deepest JSON nesting the API parses; deeper: 400 json_too_deep",
    )
    log_json: bool = Field(default=False, description="JSON logs instead of console lines")

    @property
    def embedded_chain(self) -> bool:
        """True when the ledger runs its own anvil node."""
        return self.rpc_url is None

    @property
    def embedded_demo(self) -> bool:
        """True for the embedded demo: its own anvil chain and the SQLite file in the data dir
        (no MILEAGE_RPC_URL, no MILEAGE_DATABASE_URL). Only it may run on the demo keys."""
        return self.rpc_url is None and self.database_url is None

    def id_keys(self) -> IdKeys:
        """The keys of the on-chain ids. Outside the embedded demo, raises `KeyNotConfigured`
        (naming the variable) when a secret is missing, the public demo key, shorter than 32
        bytes, or the same for both purposes."""
        account = self.account_key.get_secret_value() if self.account_key else None
        ref = self.ref_key.get_secret_value() if self.ref_key else None
        if self.embedded_demo:
            if account is None and ref is None:
                return DEMO_KEYS
            return IdKeys.from_secrets(
                (account or DEMO_ACCOUNT_KEY).encode(), (ref or DEMO_REF_KEY).encode()
            )
        account_raw = check_secret("MILEAGE_ACCOUNT_KEY", account, DEMO_ACCOUNT_KEY)
        ref_raw = check_secret("MILEAGE_REF_KEY", ref, DEMO_REF_KEY)
        if account_raw == ref_raw:
            raise KeyNotConfigured(
                "MILEAGE_REF_KEY", "is the same secret as MILEAGE_ACCOUNT_KEY (use two secrets)"
            )
        return IdKeys.from_secrets(account_raw, ref_raw)

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or f"http://127.0.0.1:{self.anvil_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def effective_keystore_dir(self) -> Path:
        return self.keystore_dir or self.data_dir / "keys"

    @property
    def anvil_state_file(self) -> Path:
        return self.data_dir / "anvil-state.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
