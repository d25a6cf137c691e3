"""The public gRPC API of a `--dev` node answers with real values after a signed transfer.

One transfer from Alice to Ferdie, then: GetExtrinsic returns its bytes where it was included, GetStorage
of Ferdie's System.Account decodes to the new balance, GetReadProof proves that value against the block's
state root, SubscribeNewHeads yields a gap-free chain of heads, and SubscribeEvents yields the transfer's
Balances.Transfer event. Reflection lists the chain, blob and market services.
"""

import json

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from chain.client import ClientError, NodeClient, transfer_call
from chain.primitives.crypto import dev_keypair
from chain.primitives.hashing import blake2_256
from chain.storage.proof import verify_proof
from proto import chain_pb2
from runtime.pallets.system import ACCOUNT_INFO, Account
from tests.integration.harness import Network, NodeProcess, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALICE, FERDIE = dev_keypair("Alice"), dev_keypair("Ferdie")
GENESIS_FREE = 10**18
AMOUNT = 7 * 10**12
STREAM_TIMEOUT = 45.0


@pytest.fixture
def dev_node(tmp_path):
    p2p, grpc_port, rpc = free_ports(3)
    node = NodeProcess("dev", tmp_path / "dev", "dev", "//Alice", p2p, grpc_port, rpc)
    net = Network.__new__(Network)
    net.nodes = [node]
    node.start()
    try:
        net.wait_height([node], 1, timeout=60)
        yield node
    finally:
        node.stop()


def block_at(block_hash: bytes) -> chain_pb2.BlockRequest:
    return chain_pb2.BlockRequest(hash=block_hash)


def test_grpc_api_reads_streams_and_proves_a_transfer(dev_node):
    with (
        NodeClient(dev_node.grpc_addr, timeout=10.0) as client,
        grpc.insecure_channel(dev_node.grpc_addr) as channel,
    ):
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
        assert {
            "gradchain.chain.v1.ChainService",
            "gradchain.blob.v1.BlobService",
            "gradchain.market.v1.MarketService",
        } <= services

        stub = client.chain
        heads = stub.SubscribeNewHeads(chain_pb2.Empty(), timeout=STREAM_TIMEOUT)
        events = stub.SubscribeEvents(chain_pb2.Empty(), timeout=STREAM_TIMEOUT)
        first_head = next(heads)  # both streams are subscribed once each has yielded a block
        next(events)

        raw = client.sign(ALICE, transfer_call(FERDIE.public, AMOUNT))
        final = client.submit_and_watch(raw, timeout=STREAM_TIMEOUT)
        assert final.status == chain_pb2.ExtrinsicStatus.FINALIZED and final.success, final
        block_hash, block_number = bytes(final.block_hash), final.block_number
        index = next(e.extrinsic_index for e in final.events if e.phase == "ApplyExtrinsic")

        extrinsic = stub.GetExtrinsic(chain_pb2.ExtrinsicRequest(block=block_at(block_hash), index=index))
        assert bytes(extrinsic.raw) == raw and bytes(extrinsic.hash) == blake2_256(raw)
        assert bytes(extrinsic.block_hash) == block_hash and extrinsic.index == index
        assert extrinsic.signed and extrinsic.signer == ALICE.ss58() and extrinsic.success
        assert (extrinsic.pallet, extrinsic.call) == ("Balances", "transfer_keep_alive")

        key = Account.key(FERDIE.public)
        header = client.header(block_hash=block_hash)
        stored = stub.GetStorage(chain_pb2.StorageRequest(key=key, at=block_at(block_hash)))
        before = stub.GetStorage(chain_pb2.StorageRequest(key=key, at=block_at(bytes(header.parent_hash))))
        assert stored.present and bytes(stored.block_hash) == block_hash
        assert ACCOUNT_INFO.decode_bytes(bytes(stored.value)).free == GENESIS_FREE + AMOUNT
        assert ACCOUNT_INFO.decode_bytes(bytes(before.value)).free == GENESIS_FREE

        proof = stub.GetReadProof(chain_pb2.ReadProofRequest(keys=[key], at=block_at(block_hash)))
        assert bytes(proof.state_root) == bytes(header.state_root)
        assert verify_proof(bytes(header.state_root), [bytes(n) for n in proof.nodes], key) == bytes(
            stored.value
        )

        chain = [first_head]
        while chain[-1].number < block_number + 1:
            chain.append(next(heads))
        for parent, child in zip(chain, chain[1:], strict=False):
            assert child.number == parent.number + 1 and bytes(child.parent_hash) == bytes(parent.hash)
            assert bytes(child.hash) == blake2_256(bytes(child.encoded))
        assert any(bytes(h.hash) == block_hash for h in chain)
        heads.cancel()

        block_events = next(e for e in events if e.block_number == block_number)
        assert bytes(block_events.block_hash) == block_hash
        transfers = [e for e in block_events.events if (e.pallet, e.name) == ("Balances", "Transfer")]
        assert len(transfers) == 1 and transfers[0].phase == "ApplyExtrinsic"
        assert transfers[0].extrinsic_index == index
        assert json.loads(transfers[0].fields_json) == [
            "0x" + ALICE.public.hex(),
            "0x" + FERDIE.public.hex(),
            AMOUNT,
        ]
        events.cancel()


def test_reads_of_pruned_state_are_not_found_naming_the_pruning(tmp_path):
    net = Network(tmp_path, chain="dev", validators=("Alice",))
    alice = net.by_name("Alice")
    alice.extra = [*alice.extra, "--pruning", "2"]
    with net:
        net.wait_height([alice], 6, timeout=90)
        with NodeClient(alice.grpc_addr) as c, pytest.raises(ClientError) as pruned:
            c.events(number=1)
        assert "NOT_FOUND" in str(pruned.value) and "pruning window 2 blocks" in str(pruned.value)
        with NodeClient(alice.grpc_addr) as c:
            assert c.events(number=c.header().number) is not None  # the head's state is still there
