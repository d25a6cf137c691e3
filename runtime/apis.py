"""Runtime APIs the node's JSON-RPC and gRPC layers call, each over a read-only view of some block's state.

`state` is anything with `get(key)` and `iter_prefix(prefix)` (a `StateDB`, `StateDB.at(root)`, an
`Overlay`); nothing here writes to it.
"""

from __future__ import annotations

from chain.storage.overlay import Overlay
from runtime.executive import Executive, Runtime, decode_extrinsic, require_supported_scheme
from runtime.frame.pallet import externalities
from runtime.metadata import SUPPORTED_VERSIONS, metadata_bytes
from runtime.pallets import transaction_payment
from runtime.pallets.system import Account
from runtime.validity import TransactionSource, ValidTransaction


class UnsupportedMetadataVersion(ValueError):
    """`metadata_at_version` was asked for a version this runtime does not produce."""


def account_nonce(runtime: Runtime, state, account: bytes) -> int:  # noqa: ANN001
    """AccountNonceApi_account_nonce: the nonce the account's next transaction must carry."""
    with externalities(Overlay(state), runtime.env()):
        return Account.get(account).nonce


def metadata(runtime: Runtime) -> bytes:
    return metadata_bytes(runtime.configs)


def metadata_versions() -> list[int]:
    return list(SUPPORTED_VERSIONS)


def metadata_at_version(runtime: Runtime, version: int) -> bytes | None:
    """`Metadata_metadata_at_version`: the blob for a supported version (14 or 15), else None (as Substrate's
    Option)."""
    return metadata_bytes(runtime.configs, version) if version in SUPPORTED_VERSIONS else None


def query_info(runtime: Runtime, state, extrinsic: bytes, length: int) -> dict:  # noqa: ANN001
    """TransactionPaymentApi_query_info: weight, class and the fee without tip (`partialFee`).

    The signature is not checked (wallets estimate with a dummy one), but its scheme is: an Ecdsa-signed
    extrinsic gets the same UnsupportedSignatureScheme the pool would answer, not an estimate for a
    transaction that can never be included."""
    xt, call = decode_extrinsic(extrinsic)
    require_supported_scheme(xt)
    info = call.info()
    with externalities(Overlay(state), runtime.env()):
        fee = transaction_payment.compute_fee(length, info, 0) if xt.is_signed else 0
    return {
        "weight": {"ref_time": info.weight.ref_time, "proof_size": info.weight.proof_size},
        "class": info.dispatch_class.name.capitalize(),
        "partialFee": fee,
    }


def query_info_encoded(runtime: Runtime, state, extrinsic: bytes, length: int) -> bytes:  # noqa: ANN001
    """The SCALE `RuntimeDispatchInfo` for `state_call("TransactionPaymentApi_query_info", …)`."""
    q = query_info(runtime, state, extrinsic, length)
    return transaction_payment.RUNTIME_DISPATCH_INFO.encode(
        {
            "weight": transaction_payment.WEIGHT.cls(q["weight"]["ref_time"], q["weight"]["proof_size"]),
            "class": q["class"],
            "partial_fee": q["partialFee"],
        }
    )


def validate_transaction(
    runtime: Runtime,
    state,
    source: TransactionSource,
    extrinsic: bytes,  # noqa: ANN001
    block_hash: bytes,
) -> ValidTransaction:
    """TaggedTransactionQueue_validate_transaction on the state of block `block_hash`."""
    return Executive(runtime, Overlay(state)).validate_transaction(source, extrinsic, block_hash)
