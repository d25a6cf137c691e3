"""The chain, state, system and author namespaces answer in Substrate's shapes, checked over raw JSON-RPC."""

from __future__ import annotations

import json

import pytest
import websocket

from chain.primitives.crypto import dev_keypair
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Header
from chain.storage.proof import verify_proof
from runtime.pallets.system import ACCOUNT_INFO, Account
from runtime.version import VERSION
from tests.rpc.conftest import (
    http_rpc,
    result,
    signed_transfer,
    wait_for_block_after,
    ws_call,
    ws_notifications,
)

pytestmark = pytest.mark.integration

ALICE, BOB, CHARLIE = dev_keypair("Alice"), dev_keypair("Bob"), dev_keypair("Charlie")


def header_from_json(h: dict) -> Header:
    from chain.primitives.codec import Reader
    from chain.primitives.types import DigestItem

    digest = tuple(DigestItem.decode_from(Reader(bytes.fromhex(log[2:]))) for log in h["digest"]["logs"])
    return Header(
        bytes.fromhex(h["parentHash"][2:]),
        int(h["number"], 16),
        bytes.fromhex(h["stateRoot"][2:]),
        bytes.fromhex(h["extrinsicsRoot"][2:]),
        digest,
    )


def test_system_namespace(dev_node):
    assert result(dev_node, "system_chain") == "Development"
    assert result(dev_node, "system_chainType") == "Development"
    assert result(dev_node, "system_name") == "gradchain"
    assert isinstance(result(dev_node, "system_version"), str)
    assert result(dev_node, "system_properties")["ss58Format"] == 42
    assert result(dev_node, "system_health") == {"peers": 0, "isSyncing": False, "shouldHavePeers": False}
    assert result(dev_node, "system_peers") == []  # unsafe, allowed: the dev node listens on loopback
    assert result(dev_node, "system_nodeRoles") == ["Authority"]  # the dev node validates
    peer_id = result(dev_node, "system_localPeerId")
    assert peer_id.startswith("12D3KooW") and len(peer_id) == 52  # libp2p's form of an Ed25519 PeerId
    (listen,) = result(dev_node, "system_localListenAddresses")
    assert listen.startswith("/ip4/127.0.0.1/tcp/")
    sync = result(dev_node, "system_syncState")
    assert sync["startingBlock"] <= sync["currentBlock"] <= sync["highestBlock"]


def test_state_get_keys_lists_a_prefix_and_refuses_an_unbounded_answer(dev_node):
    system_account = "0x26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
    keys = result(dev_node, "state_getKeys", [system_account])
    paged = result(dev_node, "state_getKeysPaged", [system_account, 1000])
    assert keys == paged and len(keys) >= 2 and all(k.startswith(system_account) for k in keys)
    assert result(dev_node, "state_getKeys", {"key": system_account}) == keys  # named params bind by name
    assert result(dev_node, "state_getKeys", ["0x00ff"]) == []


def test_rpc_methods_lists_every_method_and_alias(dev_node):
    methods = set(result(dev_node, "rpc_methods")["methods"])
    for name in (
        "chain_getHead",
        "chain_getFinalisedHead",
        "chain_subscribeFinalisedHeads",
        "state_getStorageAt",
        "chain_getRuntimeVersion",
        "chain_unsubscribeNewHeads",
        "author_unwatchExtrinsic",
        "state_unsubscribeStorage",
        "system_peers",
        "payment_queryInfo",
        "rpc_methods",
    ):
        assert name in methods
    for name in methods:
        if "subscribe" not in name.lower() and name != "author_unwatchExtrinsic":
            assert http_rpc(dev_node, name, [])  # answered (possibly with a params error), never a crash
            assert http_rpc(dev_node, name, []).get("error", {}).get("code") != -32601, name


def test_block_hash_forms_and_header_hash(dev_node):
    wait_for_block_after(dev_node, 1)
    genesis = result(dev_node, "chain_getBlockHash", [0])
    assert result(dev_node, "chain_getBlockHash", ["0x0"]) == genesis
    one = result(dev_node, "chain_getBlockHash", [1])
    assert result(dev_node, "chain_getBlockHash", [[0, "0x1"]]) == [genesis, one]
    assert result(dev_node, "chain_getBlockHash", [4_000_000_000]) is None
    assert http_rpc(dev_node, "chain_getBlockHash", [-1])["error"]["code"] == -32602
    head = result(dev_node, "chain_getHead")
    header = result(dev_node, "chain_getHeader", [head])
    assert "0x" + blake2_256(header_from_json(header).encode()).hex() == head
    assert result(dev_node, "chain_getHeader", [one])["parentHash"] == genesis
    assert result(dev_node, "chain_getFinalizedHead") == result(dev_node, "chain_getFinalisedHead")
    assert result(dev_node, "chain_getHeader", ["0x" + "ab" * 32]) is None


def test_get_block_carries_extrinsics_and_commit_certificate(dev_node):
    wait_for_block_after(dev_node, 1)
    one = result(dev_node, "chain_getBlockHash", [1])
    signed = result(dev_node, "chain_getBlock", [one])
    assert set(signed) == {"block", "justifications"}
    assert signed["block"]["header"] == result(dev_node, "chain_getHeader", [one])
    assert all(x.startswith("0x") for x in signed["block"]["extrinsics"])
    [(engine, certificate)] = signed["justifications"]
    assert bytes(engine) == b"GCBF"
    assert certificate.startswith("0x") and len(certificate) > 2
    genesis = result(dev_node, "chain_getBlock", [result(dev_node, "chain_getBlockHash", [0])])
    assert genesis["justifications"] is None


def test_storage_reads_match_the_account(dev_node):
    key = "0x" + Account.key(ALICE.public).hex()
    value = result(dev_node, "state_getStorage", [key])
    assert ACCOUNT_INFO.decode_bytes(bytes.fromhex(value[2:])).free > 0
    head = result(dev_node, "chain_getHead")
    [changes] = result(dev_node, "state_queryStorageAt", [[key], head])
    assert changes["block"] == head
    assert changes["changes"] == [[key, result(dev_node, "state_getStorageAt", [key, head])]]
    assert (
        result(dev_node, "state_getStorageHash", [key, head])
        == "0x" + blake2_256(bytes.fromhex(changes["changes"][0][1][2:])).hex()
    )
    assert result(dev_node, "state_getStorage", ["0x" + "00" * 40]) is None
    error = http_rpc(dev_node, "state_getStorage", [key, "0x" + "cd" * 32])["error"]
    assert error["code"] == 4003


def test_keys_paged_walks_a_prefix_in_order(dev_node):
    prefix = "0x" + Account.prefix.hex()
    everything = result(dev_node, "state_getKeysPaged", [prefix, 1000])
    assert len(everything) >= 2 and everything == sorted(everything)
    first = result(dev_node, "state_getKeysPaged", [prefix, 1])
    second = result(dev_node, "state_getKeysPaged", [prefix, 1, first[0]])
    assert first + second == everything[:2]
    assert http_rpc(dev_node, "state_getKeysPaged", [prefix, 1001])["error"]["code"] == 4002


def test_read_proof_proves_the_value_under_the_state_root(dev_node):
    key = Account.key(ALICE.public)
    head = result(dev_node, "chain_getHead")
    proof = result(dev_node, "state_getReadProof", [["0x" + key.hex()], head])
    assert proof["at"] == head
    root = bytes.fromhex(result(dev_node, "chain_getHeader", [head])["stateRoot"][2:])
    value = verify_proof(root, [bytes.fromhex(n[2:]) for n in proof["proof"]], key)
    assert "0x" + value.hex() == result(dev_node, "state_getStorage", ["0x" + key.hex(), head])


def test_runtime_version_lists_the_runtime_apis(dev_node):
    version = result(dev_node, "state_getRuntimeVersion")
    assert version == result(dev_node, "chain_getRuntimeVersion") == VERSION.to_json()
    from runtime.version import api_id

    apis = {a: v for a, v in version["apis"]}
    assert apis["0x" + api_id("Metadata").hex()] >= 2  # so @polkadot/api fetches metadata with state_call
    assert "0x" + api_id("AccountNonceApi").hex() in apis
    assert "0x" + api_id("TransactionPaymentApi").hex() in apis
    assert result(dev_node, "state_call", ["Core_version", "0x"]) == "0x" + VERSION.encode().hex()


def test_state_call_metadata_apis(dev_node):
    metadata = result(dev_node, "state_getMetadata")
    assert bytes.fromhex(metadata[2:])[:5] == b"meta\x0e"
    assert result(dev_node, "state_call", ["Metadata_metadata_versions", "0x"]) == "0x080e0000000f000000"
    at_14 = bytes.fromhex(result(dev_node, "state_call", ["Metadata_metadata_at_version", "0x0e000000"])[2:])
    assert at_14[0] == 1 and at_14.endswith(bytes.fromhex(metadata[2:]))
    at_15 = bytes.fromhex(result(dev_node, "state_call", ["Metadata_metadata_at_version", "0x0f000000"])[2:])
    assert at_15[0] == 1 and b"meta\x0f" in at_15[:10]
    assert result(dev_node, "state_call", ["Metadata_metadata_at_version", "0x10000000"]) == "0x00"
    error = http_rpc(dev_node, "state_call", ["Nope_nothing", "0x"])["error"]
    assert error["code"] == 4003 and "Nope_nothing" in error["message"]


def test_fee_estimates_agree(dev_node):
    tx = signed_transfer(dev_node, ALICE, BOB.public, 10**9, nonce=10_000)
    info = result(dev_node, "payment_queryInfo", ["0x" + tx.hex()])
    assert info["class"] == "normal" and int(info["partialFee"]) > 0
    encoded = result(
        dev_node,
        "state_call",
        ["TransactionPaymentApi_query_info", "0x" + tx.hex() + len(tx).to_bytes(4, "little").hex()],
    )
    assert int.from_bytes(bytes.fromhex(encoded[2:])[-16:], "little") == int(info["partialFee"])
    details = result(dev_node, "payment_queryFeeDetails", ["0x" + tx.hex()])["inclusionFee"]
    assert sum(int(v) for v in details.values()) == int(info["partialFee"])


def test_next_index_counts_ready_transactions_in_the_pool(dev_node):
    nonce = result(dev_node, "system_accountNextIndex", [CHARLIE.ss58()])
    assert result(dev_node, "system_accountNextIndex", ["0x" + CHARLIE.public.hex()]) == nonce
    assert http_rpc(dev_node, "system_accountNextIndex", ["not-an-address"])["error"]["code"] == -32602


def test_new_heads_subscription_pushes_the_head_at_once_then_each_block(dev_node):
    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        for method, unsubscribe in (
            ("chain_subscribeNewHeads", "chain_unsubscribeNewHeads"),
            ("chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads"),
            ("chain_subscribeAllHeads", "chain_unsubscribeAllHeads"),
        ):
            sub = ws_call(ws, method)["result"]
            first, second = ws_notifications(ws, sub, 2)
            assert int(second["number"], 16) == int(first["number"], 16) + 1
            assert ws_call(ws, unsubscribe, [sub])["result"] is True
            assert ws_call(ws, unsubscribe, [sub])["result"] is False
    finally:
        ws.close()


def test_notification_method_names_are_substrates(dev_node):
    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        names = {}
        for method, expected in (
            ("chain_subscribeNewHeads", "chain_newHead"),
            ("chain_subscribeFinalisedHeads", "chain_finalizedHead"),
            ("chain_subscribeAllHeads", "chain_allHead"),
            ("state_subscribeRuntimeVersion", "state_runtimeVersion"),
        ):
            names[ws_call(ws, method)["result"]] = expected
        seen = {}
        while len(seen) < len(names):
            message = json.loads(ws.recv())
            sub = message["params"]["subscription"]
            seen.setdefault(sub, message["method"])
        assert seen == names
    finally:
        ws.close()


def test_storage_subscription_and_watched_transfer_in_order(dev_node):
    """The sender's new account state arrives before the `finalized` status of the transfer that changed it,
    so a wallet that re-reads its nonce on finality sees the new one."""
    key = "0x" + Account.key(BOB.public).hex()
    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        storage_sub = ws_call(ws, "state_subscribeStorage", [[key]])["result"]
        [initial] = ws_notifications(ws, storage_sub, 1)
        assert initial["changes"] == [[key, result(dev_node, "state_getStorage", [key])]]
        tx = signed_transfer(dev_node, BOB, CHARLIE.public, 10**12)
        watch = ws_call(ws, "author_submitAndWatchExtrinsic", ["0x" + tx.hex()])["result"]
        order = []
        ws.pending_notifications = getattr(ws, "pending_notifications", [])
        while not order or order[-1] != ("watch", "finalized"):
            message = ws.pending_notifications.pop(0) if ws.pending_notifications else json.loads(ws.recv())
            params = message["params"]
            status = params["result"]
            if params["subscription"] == watch:
                order.append(("watch", status if isinstance(status, str) else next(iter(status))))
            elif params["subscription"] == storage_sub:
                order.append(("storage", status["block"]))
        assert order[0] == ("watch", "ready")
        assert [o for o in order if o[0] == "watch"] == [
            ("watch", "ready"),
            ("watch", "inBlock"),
            ("watch", "finalized"),
        ]
        assert order.index(("watch", "finalized")) > max(i for i, o in enumerate(order) if o[0] == "storage")
        assert ws_call(ws, "author_unwatchExtrinsic", [watch])["result"] is False  # ended by the server
        assert ws_call(ws, "state_unsubscribeStorage", [storage_sub])["result"] is True
        assert ws_call(ws, "state_subscribeStorage", [[]])["error"]["code"] == -32602
    finally:
        ws.close()


def test_submit_and_watch_of_an_invalid_transaction_is_an_error(dev_node):
    raw = bytearray(signed_transfer(dev_node, ALICE, BOB.public, 10**9))
    raw[-20] ^= 0x01
    ws = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        error = ws_call(ws, "author_submitAndWatchExtrinsic", ["0x" + raw.hex()])["error"]
        assert (error["code"], error["data"]) == (1010, "Transaction has a bad signature")
    finally:
        ws.close()
