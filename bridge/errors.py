"""Errors of the chain side (compile, deploy, submit, index). One root: :class:`BridgeError`."""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error raised by the bridge package."""


class CompileError(BridgeError):
    """The Solidity sources did not compile; the message carries the compiler's output."""


class ChainUnavailable(BridgeError):
    """The JSON-RPC node did not answer; check MILEAGE_RPC_URL and that the node is running."""


class DeploymentError(BridgeError):
    """No usable deployment: deploy with `mileage deploy`, or check MILEAGE_CONTRACT_ADDRESS."""


class SigningKeyError(BridgeError):
    """A signing key could not be loaded: check the keystore path and its password variable."""


class ContractRevert(BridgeError):
    """The contract rejected a call: ``error`` is the custom error's name, ``args_`` its values."""

    def __init__(self, error: str, args: dict[str, object], message: str | None = None) -> None:
        self.error = error
        self.args_ = args
        super().__init__(message or f"contract reverted with {error}({args})")


class VerificationError(BridgeError):
    """The verifier could not run (bad arguments or an unusable node); nothing was checked."""
