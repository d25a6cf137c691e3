"""Errors as Substrate gives them, over real HTTP and WebSocket connections to a dev node."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

from chain.primitives.crypto import dev_keypair, sr25519_dev_keypair
from tests.rpc.conftest import http_rpc, result, signed_transfer, ws_call

pytestmark = pytest.mark.integration

ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")


def error_of(answer: dict) -> dict:
    assert "error" in answer, f"expected an error, got {answer}"
    return answer["error"]


def test_invalid_bad_signature_is_1010_with_reason(dev_node):
    raw = bytearray(signed_transfer(dev_node, ALICE, BOB.public, 10**9))
    raw[-20] ^= 0x01  # the amount, inside the signed payload
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x" + raw.hex()]))
    assert error == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Transaction has a bad signature",
    }


def test_invalid_sr25519_bad_signature_is_1010_with_reason(dev_node):
    raw = bytearray(signed_transfer(dev_node, sr25519_dev_keypair("Charlie"), BOB.public, 10**9))
    raw[40] ^= 0x01  # inside the 64-byte Sr25519 signature
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x" + raw.hex()]))
    assert error == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Transaction has a bad signature",
    }


def ecdsa_signed(raw: bytes) -> bytes:
    """`raw` with its signature rewritten as a 65-byte MultiSignature::Ecdsa (variant 2)."""
    from chain.primitives.codec import encode_compact
    from chain.primitives.extrinsic import UncheckedExtrinsic

    body = UncheckedExtrinsic.decode(raw).encode()[2:]
    ecdsa = body[:34] + b"\x02" + body[35:99] + b"\x1b" + body[99:]
    return encode_compact(len(ecdsa)) + ecdsa


def test_invalid_ecdsa_is_1011_unsupported_scheme_not_bad_signature(dev_node):
    raw = ecdsa_signed(signed_transfer(dev_node, ALICE, BOB.public, 10**9))
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x" + raw.hex()]))
    assert error["code"] == 1011 and error["message"] == "Unknown Transaction Validity"
    assert error["data"].startswith("Unsupported signature scheme") and "Ecdsa" in error["data"]
    estimate = error_of(http_rpc(dev_node, "payment_queryInfo", ["0x" + raw.hex()]))
    assert estimate["code"] == 4003 and "Ecdsa" in estimate["message"]
    verdict = result(
        dev_node,
        "state_call",
        ["TaggedTransactionQueue_validate_transaction", "0x02" + raw.hex() + "00" * 32],
    )
    assert verdict == "0x01010201"  # Err(UnknownTransaction::Custom(1))


def onchain_nonce(node, keypair) -> int:
    return int.from_bytes(
        bytes.fromhex(
            result(node, "state_call", ["AccountNonceApi_account_nonce", "0x" + keypair.public.hex()])[2:]
        ),
        "little",
    )


def test_invalid_stale_nonce_is_1010_outdated(dev_node):
    if onchain_nonce(dev_node, ALICE) == 0:
        tx = signed_transfer(dev_node, ALICE, BOB.public, 10**9)
        result(dev_node, "author_submitExtrinsic", ["0x" + tx.hex()])
        deadline = time.monotonic() + 30
        while onchain_nonce(dev_node, ALICE) == 0:
            assert time.monotonic() < deadline, "the transfer was not included"
            time.sleep(0.1)
    stale = signed_transfer(dev_node, ALICE, BOB.public, 10**9 + 7, nonce=0)
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x" + stale.hex()]))
    assert (error["code"], error["message"], error["data"]) == (
        1010,
        "Invalid Transaction",
        "Transaction is outdated",
    )


def test_payment_impossible_is_1010_with_reason(dev_node):
    pauper = dev_keypair("Ferdie//unfunded")
    tx = signed_transfer(dev_node, pauper, BOB.public, 10**9, nonce=0)
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x" + tx.hex()]))
    assert error["code"] == 1010
    assert error["data"] == "Inability to pay some fees (e.g. account balance too low)"


def test_already_imported_is_1013(dev_node):
    far_future = result(dev_node, "system_accountNextIndex", [BOB.ss58()]) + 1000
    tx = "0x" + signed_transfer(dev_node, BOB, ALICE.public, 10**9, nonce=far_future).hex()
    assert result(dev_node, "author_submitExtrinsic", [tx]).startswith("0x")
    assert tx in result(dev_node, "author_pendingExtrinsics")
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", [tx]))
    assert (error["code"], error["message"]) == (1013, "Transaction Already Imported")


def test_undecodable_extrinsic_is_1001_bad_format(dev_node):
    error = error_of(http_rpc(dev_node, "author_submitExtrinsic", ["0x0c010203"]))
    assert error["code"] == 1001
    assert error["message"].startswith("Extrinsic has invalid format")


def test_unknown_method_is_32601(dev_node):
    error = error_of(http_rpc(dev_node, "state_noSuchMethod"))
    assert error["code"] == -32601
    assert error["message"] == "Method not found"


@pytest.mark.parametrize("params", [["not hex"], [123], ["0x12", "0xzz"]])
def test_invalid_params_is_32602(dev_node, params):
    error = error_of(http_rpc(dev_node, "state_getStorage", params))
    assert error["code"] == -32602


def test_too_many_params_is_32602(dev_node):
    error = error_of(http_rpc(dev_node, "system_chain", [1, 2, 3]))
    assert error["code"] == -32602


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "system_chain"},  # no "jsonrpc": "2.0"
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": {"nested": True}, "method": "system_chain"},
        [],
    ],
)
def test_malformed_request_is_32600(dev_node, body):
    answer = requests.post(dev_node.http_url, json=body, timeout=10).json()
    assert error_of(answer)["code"] == -32600


def test_unparseable_json_is_32700(dev_node):
    answer = requests.post(
        dev_node.http_url, data=b"{not json", timeout=10, headers={"Content-Type": "application/json"}
    ).json()
    assert error_of(answer)["code"] == -32700


def test_batch_answers_each_request(dev_node):
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "system_chain"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
    ]
    answers = {a["id"]: a for a in requests.post(dev_node.http_url, json=body, timeout=10).json()}
    assert answers[1]["result"] == "Development"
    assert answers[2]["error"]["code"] == -32601


def test_oversized_http_request_is_refused(dev_node):
    from chain.api.jsonrpc_server import MAX_REQUEST_BYTES

    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "author_submitExtrinsic",
            "params": ["0x" + "00" * (MAX_REQUEST_BYTES // 2 + 1)],
        }
    )
    response = requests.post(
        dev_node.http_url, data=body, timeout=30, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_oversized_websocket_message_closes_the_connection(dev_node):
    from chain.api.jsonrpc_server import MAX_REQUEST_BYTES

    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "system_chain",
                        "params": ["x" * (MAX_REQUEST_BYTES + 1)],
                    }
                )
            )
            for _ in range(3):
                if not ws.recv():
                    raise websocket.WebSocketConnectionClosedException("closed")
    finally:
        ws.close()


def test_too_many_subscriptions_on_one_connection_are_refused(dev_node):
    from chain.api.jsonrpc_server import MAX_SUBSCRIPTIONS_PER_CONNECTION, TOO_MANY_SUBSCRIPTIONS

    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        for i in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            ws.send(json.dumps({"jsonrpc": "2.0", "id": f"s{i}", "method": "state_subscribeRuntimeVersion"}))
        answered = 0
        while answered < MAX_SUBSCRIPTIONS_PER_CONNECTION:
            message = json.loads(ws.recv())
            if "id" in message:
                assert "result" in message, message
                answered += 1
        error = ws_call(ws, "state_subscribeRuntimeVersion")["error"]
        assert error["code"] == TOO_MANY_SUBSCRIPTIONS
    finally:
        ws.close()


def test_subscription_over_http_is_refused(dev_node):
    assert error_of(http_rpc(dev_node, "chain_subscribeNewHeads"))["code"] == -32601


def test_cors_allows_local_origins_and_refuses_others(dev_node):
    body = {"jsonrpc": "2.0", "id": 1, "method": "system_chain", "params": []}
    ok = requests.post(dev_node.http_url, json=body, headers={"Origin": "http://localhost:3000"}, timeout=10)
    assert ok.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"
    refused = requests.post(
        dev_node.http_url, json=body, headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert refused.status_code == 403
