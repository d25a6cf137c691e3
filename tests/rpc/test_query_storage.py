"""`state_queryStorage` on a live dev node: Substrate's change sets of some keys over a range of blocks (every
key in the first block, then only the keys a block changed), an unsafe method with a bounded answer."""

from __future__ import annotations

import os
import time

import pytest

from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.rpc import state
from chain.api.rpc.state import MAX_QUERY_READS
from chain.primitives.crypto import dev_keypair
from runtime.pallets.system import Account
from tests.rpc.conftest import http_rpc, result, signed_transfer, wait_for_block_after

pytestmark = pytest.mark.integration

EVE = dev_keypair("Eve")
UNIT = 10**12


def hex_key(key: bytes) -> str:
    return "0x" + key.hex()


def fund_fresh_account(node) -> tuple[str, int]:
    """Send UNIT to an account nobody else touches; returns its storage key and the number of the block it
    was funded in."""
    key = hex_key(Account.key(os.urandom(32)))
    result(
        node,
        "author_submitExtrinsic",
        ["0x" + signed_transfer(node, EVE, bytes.fromhex(key[-64:]), UNIT).hex()],
    )
    deadline = time.monotonic() + 30
    while result(node, "state_getStorage", [key]) is None:
        assert time.monotonic() < deadline, "the transfer was not included within 30 s"
        time.sleep(0.1)
    head = int(result(node, "chain_getHeader")["number"], 16)
    return key, head


def test_query_storage_lists_every_key_first_then_only_changes(dev_node):
    key, funded_by = fund_fresh_account(dev_node)
    never_set = "0x" + "ab" * 32
    start = result(dev_node, "chain_getBlockHash", [max(0, funded_by - 4)])  # well inside the kept states
    head = result(dev_node, "chain_getBlockHash", [funded_by])
    sets = result(dev_node, "state_queryStorage", [[key, never_set], start, head])
    assert sets[0] == {"block": start, "changes": [[key, None], [never_set, None]]}
    (funding,) = sets[1:]  # the one block that changed either key: the one that funded the account
    assert funding["changes"] == [[key, result(dev_node, "state_getStorage", [key, funding["block"]])]]
    number = int(result(dev_node, "chain_getHeader", [funding["block"]])["number"], 16)
    assert (
        result(dev_node, "state_getStorage", [key, result(dev_node, "chain_getBlockHash", [number - 1])])
        is None
    )
    to_head = result(
        dev_node, "state_queryStorage", [[key], funding["block"]]
    )  # the head when `to` is omitted
    assert to_head == [funding]


@pytest.mark.slow  # waits for the dev chain to be long enough to ask more reads than allowed
def test_invalid_query_storage_ranges_are_client_errors(dev_node):
    genesis, one = (result(dev_node, "chain_getBlockHash", [n]) for n in (0, 1))
    reversed_range = http_rpc(dev_node, "state_queryStorage", [["0x00"], one, genesis])
    assert (
        reversed_range["error"]["code"] == 4003
        and "Invalid block range" in reversed_range["error"]["message"]
    )
    keys = [f"0x{i:04x}" for i in range(1024)]
    blocks = MAX_QUERY_READS // len(keys) + 1
    head = wait_for_block_after(dev_node, blocks, timeout=120)
    start = result(dev_node, "chain_getBlockHash", [head - blocks + 1])
    too_many = http_rpc(
        dev_node, "state_queryStorage", [keys, start, result(dev_node, "chain_getBlockHash", [head])]
    )
    assert (
        too_many["error"]["code"] == 4003
        and f"more than {MAX_QUERY_READS} reads" in too_many["error"]["message"]
    )
    assert http_rpc(dev_node, "state_queryStorage", [["0x00"]])["error"]["code"] == -32602
    assert http_rpc(dev_node, "state_queryStorage", [["0x00"], "0x1234"])["error"]["code"] == -32602


def test_query_storage_is_an_unsafe_method_listed_where_served(dev_node):
    assert (
        "state_queryStorage" in result(dev_node, "rpc_methods")["methods"]
    )  # the dev node allows unsafe ones
    server = JsonRpcServer("127.0.0.1", 0, allow_unsafe=False, cors=None)
    state.register(server, node=None)
    assert server.methods["state_queryStorage"].unsafe and not server.methods["state_queryStorageAt"].unsafe
