"""The API cannot be taken down: the key before the body, a body size cap, a nesting depth cap
(checked without recursion), and Python's default recursion limit (py_ecc raises it to 100,000
at import). The deep-nesting attack runs against a real uvicorn process, which must survive."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import ApiEnv, acct, make_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.anvil import free_port
from ledger.settings import Settings
from tests.keyring import ACCOUNT_KEY, REF_KEY

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[2]
ALICE = acct(0xA11CE)
#: the body seen in the wild: 100,000 nested arrays (200 kB)
DEEP = b"[" * 100_000 + b"]" * 100_000


def _post_raw(env: ApiEnv, path: str, body: Any, key: str | None, **headers: str) -> Any:
    h = {"Content-Type": "application/json", "Idempotency-Key": "raw-1", **headers}
    if key:
        h["Authorization"] = f"Bearer {key}"
    return env.http.post(path, content=body, headers=h)


def test_recursion_limit_is_python_default_after_import() -> None:
    """Importing the app (and everything that pulls py_ecc in: web3, eth_account) leaves the
    recursion limit at Python's default, for the API and for the CLI alike."""
    code = "import sys, {mod}, web3, eth_account, py_ecc; print(sys.getrecursionlimit())"
    for mod in ("api.main", "ledger.cli.main"):
        out = subprocess.run(
            [sys.executable, "-c", code.format(mod=mod)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(out.stdout.strip()) <= 10_000, (mod, out.stdout)


def test_key_is_checked_before_the_body(env: ApiEnv) -> None:
    """Without a key, nothing of the body is looked at: 401 even for a malformed body."""
    for path in ("/v1/conversions", "/v1/deductions", "/v1/awards"):
        r = _post_raw(env, path, b"{not json", None)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["code"] == "unauthorized"
        r = _post_raw(env, path, DEEP, "mlk_unknown")
        assert r.status_code == 401, (path, r.text)


def test_body_size_limit(deployed: Any, session_factory: Any, db_url: str) -> None:
    env = make_env(deployed, session_factory, db_url)
    env.app.state.ctx.settings.api_max_body_bytes = 4096
    k = env.key("admin")
    big = b'{"account": "' + b"a" * 8000 + b'"}'
    r = _post_raw(env, "/v1/conversions", big, k)
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "payload_too_large" and body["details"]["limit"] == 4096
    assert "MILEAGE_API_MAX_BODY_BYTES" in body["message"]

    # streamed without Content-Length (chunked): counted as it arrives
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    r = _post_raw(env, "/v1/deductions", chunks(), k)
    assert r.status_code == 413, r.text
    # under the limit: the request goes through to validation
    r = _post_raw(env, "/v1/conversions", b'{"account": "x"}', k)
    assert r.status_code == 422, r.text
    env.http.close()


def test_nesting_depth_limit(env: ApiEnv) -> None:
    k = env.key("admin")
    r = _post_raw(env, "/v1/conversions", DEEP, k)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "json_too_deep" and body["details"]["max_depth"] == 32
    # brackets inside strings do not count; 32 levels pass to validation
    fine = b'{"account": "' + b"[" * 500 + b'", "x": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert _post_raw(env, "/v1/conversions", fine, k).status_code == 422
    too = b'{"items": ' + b"[" * 40 + b"]" * 40 + b"}"
    assert _post_raw(env, "/v1/awards", too, k).json()["code"] == "json_too_deep"


# --- a real server ------------------------------------------------------------------------------

Server = tuple[str, ApiEnv, "subprocess.Popen[bytes]"]


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                # like a served instance after its first readiness probe: the chain client
                # (web3, and with it py_ecc) is loaded
                httpx.get(f"{base}/readyz", timeout=30.0)
                return
        except httpx.TransportError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)
    raise AssertionError("uvicorn did not come up")


@pytest.fixture
def server(env: ApiEnv, tmp_path: Path) -> Iterator[Server]:
    """The API as its own uvicorn process (``--factory api.main:app_factory``)."""
    port = free_port()
    s: Settings = env.settings
    child_env = {
        **os.environ,
        "MILEAGE_DATABASE_URL": s.effective_database_url,
        "MILEAGE_RPC_URL": s.effective_rpc_url,
        "MILEAGE_CONTRACT_ADDRESS": str(s.contract_address),
        "MILEAGE_ACCOUNT_KEY": ACCOUNT_KEY,
        "MILEAGE_REF_KEY": REF_KEY,
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.main:app_factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, proc)
        yield base, env, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_deep_nesting_without_key_leaves_server_alive(server: Server) -> None:
    base, env, proc = server
    headers = {"Content-Type": "application/json", "Idempotency-Key": "deep-1"}
    with httpx.Client(base_url=base, timeout=30.0) as http:
        r = http.post("/v1/conversions", content=DEEP, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "unauthorized"
        key = env.key("integrator")
        r = http.post(
            "/v1/conversions", content=DEEP, headers={**headers, "Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 400 and r.json()["code"] == "json_too_deep", r.text
        assert http.get("/healthz").status_code == 200
    assert proc.poll() is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)
_BODIES = st.one_of(
    st.binary(max_size=2_000),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"account": st.text(max_size=70), "amount": _JSON, "from_program": st.text(max_size=20)}
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([1, 31, 33, 1_000, 100_000, 300_000]).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([2, 40, 5_000, 60_000]).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


def test_write_endpoints_survive_raw_fuzz(server: Server) -> None:
    """Arbitrary bytes, arbitrary JSON and deep nesting at every write endpoint of a real
    server, with and without a key: never a 5xx, and the process answers afterwards."""
    base, env, proc = server
    keys = [None, env.key("integrator"), env.key("admin")]
    paths = ["/v1/conversions", "/v1/deductions", "/v1/awards"]
    with httpx.Client(base_url=base, timeout=60.0) as http:

        @given(body=_BODIES, path=st.sampled_from(paths), key=st.sampled_from(keys))
        @settings(
            max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(body: bytes, path: str, key: str | None) -> None:
            headers = {"Content-Type": "application/json", "Idempotency-Key": "fuzz"}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            r = http.post(path, content=body, headers=headers)
            assert r.status_code < 500, (path, body[:200], r.text)
            assert set(r.json()) >= {"code", "message"} or r.status_code < 300

        run()
        assert http.get("/healthz").status_code == 200
    assert proc.poll() is None
