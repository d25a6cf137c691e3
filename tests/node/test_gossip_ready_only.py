"""Only ready transactions are gossiped: a far-future transfer stays in the pool of the node it was sent to,
while a ready one reaches every validator. Four real validators of the `local` chain on loopback."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from chain.client import transfer_call
from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import sign_extrinsic
from proto import chain_pb2
from tests.integration.harness import Network

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def pending(node) -> set[str]:
    """The node's pooled extrinsics, hex, over its own JSON-RPC (`author_pendingExtrinsics`)."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "author_pendingExtrinsics", "params": []}
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{node.rpc}", body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return set(json.load(answer)["result"])


def next_index(node, public: bytes) -> int:
    with node.client() as c:
        return c.chain.GetAccount(
            chain_pb2.AccountRequest(address="0x" + public.hex()), timeout=10
        ).next_index


def test_a_future_transaction_stays_where_it_was_sent_and_a_ready_one_travels(tmp_path):
    with Network(tmp_path) as net:
        validators = [n for n in net.nodes if n.key]
        net.wait_height(validators, 2, timeout=120)
        alice, ferdie = dev_keypair("Alice"), dev_keypair("Ferdie")
        entry = validators[1]
        with entry.client() as c:
            info = c.info()
            nonce = next_index(entry, alice.public)

            def signed(n: int) -> bytes:
                call = transfer_call(ferdie.public, 10**10)
                return sign_extrinsic(
                    alice,
                    call,
                    nonce=n,
                    spec_version=info.spec_version,
                    tx_version=info.transaction_version,
                    genesis_hash=bytes(info.genesis_hash),
                ).encode()

            future = signed(nonce + 50)
            c.chain.SubmitExtrinsic(chain_pb2.SubmitRequest(extrinsic=future), timeout=10)
            ready = signed(nonce)
            c.chain.SubmitExtrinsic(chain_pb2.SubmitRequest(extrinsic=ready), timeout=10)
        net.wait_for(
            lambda: all(next_index(n, alice.public) > nonce for n in validators),
            60,
            "the ready transfer to be final on every validator",
        )
        time.sleep(1.0)  # gossip of the future one, were there any, would long have arrived
        assert "0x" + future.hex() in pending(entry)
        for other in validators:
            if other is not entry:
                assert "0x" + future.hex() not in pending(other), f"{other.name} received the future transfer"
