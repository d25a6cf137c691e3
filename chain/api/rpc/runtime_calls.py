"""`state_call`: the runtime APIs clients call by name with SCALE arguments, answered in SCALE.

These are the APIs `runtime.version.VERSION.apis` advertises, which is how @polkadot/api and
py-substrate-interface know to fetch metadata with `Metadata_metadata_at_version`, nonces with
`AccountNonceApi_account_nonce` and fee estimates with `TransactionPaymentApi_query_info`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chain.api.rpc.params import STATE_CLIENT_ERROR, ClientError, hex_bytes
from chain.primitives.codec import DecodeError, Reader, encode_bytes, encode_compact, u32, u128
from runtime import apis
from runtime import validity as v
from runtime.pallets.transaction_payment import WEIGHT_FEE_UNIT, TransactionPaymentConfig

MAX_CALL_DATA = 4 * 1024 * 1024


def call_data(value: Any) -> bytes:
    """A runtime call's SCALE arguments as hex; empty arguments may be "0x" or "" (polkadot-api sends "" for
    calls without input, such as `Metadata_metadata_versions`)."""
    return b"" if value == "" else hex_bytes(value, "call data", max_len=MAX_CALL_DATA)


class CallFailed(ClientError):
    """A runtime API call that does not exist or whose arguments do not decode (Substrate: Execution failed)."""

    def __init__(self, reason: str):
        super().__init__(STATE_CLIENT_ERROR, f"Execution failed: {reason}")


def _finish(r: Reader, method: str) -> None:
    if r.remaining:
        raise CallFailed(f"{method}: {r.remaining} bytes left over after decoding the arguments")


def _extrinsic_and_length(data: bytes, method: str) -> tuple[bytes, int]:
    """The `(uxt: Block::Extrinsic, len: u32)` arguments of the TransactionPaymentApi calls."""
    r = Reader(data)
    start = r.pos
    length = r.compact_len(1)
    r.read(length)
    extrinsic = r.data[start : r.pos]
    declared = r.u32()
    _finish(r, method)
    return bytes(extrinsic), declared


def core_version(node, state, data: bytes) -> bytes:
    return node.runtime.version.encode()


def metadata_metadata(node, state, data: bytes) -> bytes:
    return encode_bytes(apis.metadata(node.runtime))


def metadata_versions(node, state, data: bytes) -> bytes:
    versions = apis.metadata_versions()
    return encode_compact(len(versions)) + b"".join(u32(x) for x in versions)


def metadata_at_version(node, state, data: bytes) -> bytes:
    r = Reader(data)
    version = r.u32()
    _finish(r, "Metadata_metadata_at_version")
    blob = apis.metadata_at_version(node.runtime, version)
    return b"\x00" if blob is None else b"\x01" + encode_bytes(blob)


def account_nonce(node, state, data: bytes) -> bytes:
    r = Reader(data)
    account = r.read(32)
    _finish(r, "AccountNonceApi_account_nonce")
    return u32(apis.account_nonce(node.runtime, state, account))


def query_info(node, state, data: bytes) -> bytes:
    extrinsic, length = _extrinsic_and_length(data, "TransactionPaymentApi_query_info")
    return apis.query_info_encoded(node.runtime, state, extrinsic, length)


def fee_details(node, state, extrinsic: bytes, length: int) -> dict | None:
    """The fee split as `FeeDetails.inclusion_fee` (None for calls that pay nothing), tip excluded."""
    q = apis.query_info(node.runtime, state, extrinsic, length)
    if q["partialFee"] == 0:
        return None
    cfg = node.runtime.configs[TransactionPaymentConfig]
    return {
        "baseFee": cfg.base_fee,
        "lenFee": cfg.length_fee * length,
        "adjustedWeightFee": cfg.weight_fee * q["weight"]["ref_time"] // WEIGHT_FEE_UNIT,
    }


def query_fee_details(node, state, data: bytes) -> bytes:
    extrinsic, length = _extrinsic_and_length(data, "TransactionPaymentApi_query_fee_details")
    inclusion = fee_details(node, state, extrinsic, length)
    if inclusion is None:
        return b"\x00"
    return (
        b"\x01"
        + u128(inclusion["baseFee"])
        + u128(inclusion["lenFee"])
        + u128(inclusion["adjustedWeightFee"])
    )


def validate_transaction(node, state, data: bytes) -> bytes:
    """`(source, uxt, block_hash) -> Result<ValidTransaction, TransactionValidityError>`."""
    r = Reader(data)
    source = v.TransactionSource(r.u8())
    start = r.pos
    r.read(r.compact_len(1))
    extrinsic = bytes(r.data[start : r.pos])
    block_hash = r.read(32)
    _finish(r, "TaggedTransactionQueue_validate_transaction")
    try:
        return (
            b"\x00" + apis.validate_transaction(node.runtime, state, source, extrinsic, block_hash).encode()
        )
    except v.TransactionValidityError as e:
        return b"\x01" + e.encode()


RUNTIME_CALLS: dict[str, Callable[..., bytes]] = {
    "Core_version": core_version,
    "Metadata_metadata": metadata_metadata,
    "Metadata_metadata_versions": metadata_versions,
    "Metadata_metadata_at_version": metadata_at_version,
    "AccountNonceApi_account_nonce": account_nonce,
    "TransactionPaymentApi_query_info": query_info,
    "TransactionPaymentApi_query_fee_details": query_fee_details,
    "TaggedTransactionQueue_validate_transaction": validate_transaction,
}


def state_call(node, method: str, data: bytes, state) -> bytes:
    function = RUNTIME_CALLS.get(method)
    if function is None:
        raise CallFailed(f"Exported method {method} is not found")
    try:
        return function(node, state, data)
    except (DecodeError, ValueError, v.TransactionValidityError) as e:
        raise CallFailed(f"{method}: {type(e).__name__}: {e}") from None
