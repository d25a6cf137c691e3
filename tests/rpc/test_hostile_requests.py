"""Hostile requests to a dev node's Substrate API: each is answered with a JSON-RPC error, never HTTP 500, and
named params bind by the names Substrate documents. (The server's limits in isolation, connections included,
are in tests/faults/test_hostile_clients.py.)"""

from __future__ import annotations

import requests

from chain.api.jsonrpc_server import INVALID_PARAMS, INVALID_REQUEST, OVERSIZED_RESPONSE
from chain.primitives.hashing import twox128
from tests.rpc.conftest import result

SYSTEM_NUMBER = "0x" + (twox128(b"System") + twox128(b"Number")).hex()


def post(node, body) -> tuple[int, object]:
    response = requests.post(
        node.http_url,
        data=body if isinstance(body, bytes) else None,
        json=None if isinstance(body, bytes) else body,
        timeout=60,
    )
    return response.status_code, response.json()


def call(method: str, params, rid: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


def test_named_params_bind_by_substrate_names_in_any_order(dev_node):
    head = result(dev_node, "chain_getBlockHash", [1])
    positional = result(dev_node, "state_getStorage", [SYSTEM_NUMBER, head])
    _, named = post(dev_node, call("state_getStorage", {"at": head, "key": SYSTEM_NUMBER}))
    assert named["result"] == positional is not None
    _, block_hash = post(dev_node, call("chain_getBlockHash", {"blockNumber": 1}))
    assert block_hash["result"] == head
    _, keys = post(
        dev_node,
        call("state_getKeysPaged", {"key": SYSTEM_NUMBER[:34], "count": 5, "startKey": SYSTEM_NUMBER}),
    )
    assert SYSTEM_NUMBER not in keys["result"]


def test_invalid_named_param_substrate_does_not_have_is_32602_naming_it(dev_node):
    _, answer = post(dev_node, call("state_getStorage", {"key": SYSTEM_NUMBER, "blockHash": "0x00"}))
    assert answer["error"]["code"] == INVALID_PARAMS and "'blockHash'" in answer["error"]["message"]


def test_invalid_deep_nesting_and_huge_id_are_json_rpc_errors_not_http_500(dev_node):
    deep = (
        b'{"jsonrpc":"2.0","id":1,"method":"system_name","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )
    status, answer = post(dev_node, deep)
    assert status == 200 and answer["error"]["code"] == INVALID_REQUEST
    status, answer = post(dev_node, b'{"jsonrpc":"2.0","method":"system_name","id":' + b"1" * 5000 + b"}")
    assert status == 200 and answer["error"]["code"] == INVALID_REQUEST


def test_invalid_batch_of_256_metadata_requests_is_refused_as_too_big(dev_node):
    status, answer = post(dev_node, [call("state_getMetadata", [], rid=i) for i in range(256)])
    assert status == 200 and answer["error"]["code"] == OVERSIZED_RESPONSE
    assert result(dev_node, "system_name") == "gradchain"
