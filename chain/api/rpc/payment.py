"""The `payment_*` namespace: fee estimates for an encoded extrinsic (deprecated in Substrate in favour of
`state_call("TransactionPaymentApi_query_info", …)`, still used by older clients)."""

from __future__ import annotations

from typing import Any

from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.rpc.params import at_block, hex_bytes, state_at
from chain.api.rpc.runtime_calls import CallFailed, fee_details
from chain.api.rpc.state import reading
from runtime import apis
from runtime import validity as v

MAX_EXTRINSIC_HEX_BYTES = 4 * 1024 * 1024


def register(server: JsonRpcServer, node) -> None:
    def extrinsic_and_state(extrinsic: Any, at: Any):
        raw = hex_bytes(extrinsic, "extrinsic", max_len=MAX_EXTRINSIC_HEX_BYTES)
        block_hash = at_block(node, at)
        return raw, block_hash

    @server.method("payment_queryInfo")
    async def payment_query_info(extrinsic: Any, at: Any = None) -> dict:
        raw, block_hash = extrinsic_and_state(extrinsic, at)
        with reading(block_hash):
            try:
                q = apis.query_info(node.runtime, state_at(node, block_hash), raw, len(raw))
            except v.TransactionValidityError as e:
                raise CallFailed(f"TransactionPaymentApi_query_info: {e}") from None
        return {"weight": q["weight"], "class": q["class"].lower(), "partialFee": str(q["partialFee"])}

    @server.method("payment_queryFeeDetails")
    async def payment_query_fee_details(extrinsic: Any, at: Any = None) -> dict:
        raw, block_hash = extrinsic_and_state(extrinsic, at)
        with reading(block_hash):
            try:
                inclusion = fee_details(node, state_at(node, block_hash), raw, len(raw))
            except v.TransactionValidityError as e:
                raise CallFailed(f"TransactionPaymentApi_query_fee_details: {e}") from None
        return {"inclusionFee": None if inclusion is None else {k: str(x) for k, x in inclusion.items()}}
