"""Parsing JSON-RPC parameters into typed values, and the error codes Substrate answers with.

Every handler parses what the client sent through these functions first, so a malformed hex string, address
or block number is a -32602 naming the parameter, and a block the node does not have, or whose state was
pruned, is Substrate's "Client error" of the namespace (3001 for chain, 4003 for state) with the reason.
"""

from __future__ import annotations

from typing import Any

from chain.api.jsonrpc_server import InvalidParams, RpcError
from chain.primitives.crypto import InvalidAddress, decode_address
from chain.storage.state import StateError

MAX_BLOCK_NUMBER = (1 << 32) - 1

# Substrate's error bases per namespace (sc_rpc_api::error::base).
AUTHOR_BAD_FORMAT = 1001
CHAIN_CLIENT_ERROR = 3001
STATE_INVALID_COUNT = 4002
STATE_CLIENT_ERROR = 4003


class ClientError(RpcError):
    """The node cannot answer about a block: unknown, or its state pruned (Substrate's `Error::Client`)."""

    def __init__(self, code: int, reason: str):
        super().__init__(code, f"Client error: {reason}")


def hex_bytes(value: Any, what: str, *, length: int | None = None, max_len: int | None = None) -> bytes:
    """A 0x-prefixed hex string as bytes."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidParams(f"{what} must be a 0x-prefixed hex string, got {_show(value)}")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidParams(f"{what} is not valid hex: {_show(value)}") from None
    if length is not None and len(raw) != length:
        raise InvalidParams(f"{what} must be {length} bytes, got {len(raw)}")
    if max_len is not None and len(raw) > max_len:
        raise InvalidParams(f"{what} is {len(raw)} bytes; at most {max_len} are accepted")
    return raw


def hex_list(value: Any, what: str, *, max_items: int, max_len: int | None = None) -> list[bytes]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what} must be a list of hex strings, got {_show(value)}")
    if len(value) > max_items:
        raise InvalidParams(f"{what} has {len(value)} entries; at most {max_items} are accepted")
    return [hex_bytes(v, f"{what}[{i}]", max_len=max_len) for i, v in enumerate(value)]


def block_number(value: Any) -> int:
    """Substrate's `NumberOrHex` block number: a JSON number or a 0x-prefixed hex string, within u32."""
    if isinstance(value, bool):
        raise InvalidParams(f"a block number must be a number or hex string, got {_show(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.startswith("0x"):
        try:
            number = int(value, 16)
        except ValueError:
            raise InvalidParams(f"block number {_show(value)} is not valid hex") from None
    else:
        raise InvalidParams(f"a block number must be a number or hex string, got {_show(value)}")
    if not 0 <= number <= MAX_BLOCK_NUMBER:
        raise InvalidParams(f"block number {number} is outside 0..{MAX_BLOCK_NUMBER} (BlockNumber is u32)")
    return number


def account_id(value: Any) -> bytes:
    """An SS58 address (any network prefix) or a 0x-hex AccountId."""
    if not isinstance(value, str):
        raise InvalidParams(f"an account must be an SS58 address or 0x-hex AccountId, got {_show(value)}")
    try:
        return decode_address(value)
    except InvalidAddress as e:
        raise InvalidParams(str(e)) from None


def at_block(node, value: Any, client_error: int = STATE_CLIENT_ERROR) -> bytes:
    """The block an `at` parameter names (None = the head), which this node must have."""
    if value is None:
        return node.chain.head_hash
    block_hash = hex_bytes(value, "block hash", length=32)
    if node.chain.header(block_hash) is None:
        raise ClientError(client_error, f"UnknownBlock: block 0x{block_hash.hex()} is not known to this node")
    return block_hash


def state_at(node, block_hash: bytes):
    """The state after `block_hash`, or a 4003 Client error if it was pruned."""
    try:
        return node.chain.state_at(block_hash)
    except StateError as e:
        raise ClientError(
            STATE_CLIENT_ERROR, f"State already discarded for 0x{block_hash.hex()}: {e}"
        ) from None


def to_hex(data: bytes | None) -> str | None:
    return None if data is None else "0x" + data.hex()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
